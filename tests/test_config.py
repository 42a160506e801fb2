"""The one config: params.yaml + preset + overrides, validated with actionable messages."""

from pathlib import Path

import pytest
import yaml

from dreamgym.config import DreamGymConfig, load_config, parse_override, preset_names, resolve_config
from dreamgym.errors import ConfigError, UnknownNameError

ROOT = Path(__file__).resolve().parents[1]


def test_params_yaml_loads_and_covers_every_section():
    cfg = load_config(ROOT / "params.yaml")
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    assert set(raw) == set(DreamGymConfig.model_fields)  # params.yaml mirrors the config, section by section
    assert cfg.seed_data.envs == ["babyai", "textcraft", "textworld", "scienceworld"]


@pytest.mark.parametrize("preset", preset_names())
def test_presets_resolve(preset):
    load_config(ROOT / "params.yaml", preset=preset)


def test_overrides_are_yaml_typed():
    assert parse_override("seed_data.episodes.babyai=7") == {"seed_data": {"episodes": {"babyai": 7}}}
    cfg = load_config(ROOT / "params.yaml", overrides=["seed_data.noise_eps=0.5", "envs.babyai.max_steps=9"])
    assert cfg.seed_data.noise_eps == 0.5 and cfg.env_kwargs("babyai")["max_steps"] == 9


@pytest.mark.parametrize("raw, match", [
    ({"seed_data": {"noise_eps": 2}}, "seed_data.noise_eps"),
    ({"seed_data": {"policy_mix": {"expert": 0.9}}}, "sum to 1"),
    ({"seed_data": {"envs": ["babyai"], "episodes": {}}}, "no count for env"),
    ({"envs": {"babyai": {"max_stepz": 3}}}, r"envs.babyai has unknown key\(s\) \['max_stepz'\]"),
    ({"envs": {"nope": {}}}, "unknown env 'nope'"),
    ({"bogus": 1}, "bogus"),
])
def test_bad_values_fail_fast_naming_the_key(raw, match):
    base = {"seed_data": {"envs": ["textcraft"], "episodes": {"textcraft": 1}}}
    from dreamgym.config import deep_merge
    with pytest.raises(ConfigError, match=match):
        resolve_config(deep_merge(base, raw))


def test_unknown_preset_and_bad_override():
    with pytest.raises(UnknownNameError, match="unknown preset 'huge'"):
        load_config(ROOT / "params.yaml", preset="huge")
    with pytest.raises(ConfigError, match="key.path=value"):
        parse_override("no-equals-sign")
    with pytest.raises(ConfigError, match="not found"):
        load_config(ROOT / "nope.yaml")
