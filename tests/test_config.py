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


def test_an_empty_mapping_override_empties_it_so_the_policy_can_switch_env():
    with pytest.raises(ConfigError, match=r"unknown key 'levels'.*empty it with -S policy.env_kwargs=\{\}"):
        load_config(ROOT / "params.yaml", overrides=["policy.env=textcraft"])
    cfg = load_config(ROOT / "params.yaml", overrides=["policy.env=textcraft", "policy.env_kwargs={}"])
    assert cfg.policy.env_kwargs == {} and cfg.policy_env_kwargs() == cfg.env_kwargs("textcraft")
    cfg = load_config(ROOT / "params.yaml", overrides=["policy.env_kwargs.levels=[GoToLocal]"])  # others merge
    assert cfg.policy.env_kwargs == {"levels": ["GoToLocal"], "action_set": "primitive"}


@pytest.mark.parametrize("raw, match", [
    ({"seed_data": {"noise_eps": 2}}, "seed_data.noise_eps"),
    ({"seed_data": {"policy_mix": {"expert": 0.9}}}, "sum to 1"),
    ({"seed_data": {"envs": ["babyai"], "episodes": {}}}, "no count for env"),
    ({"envs": {"babyai": {"max_stepz": 3}}}, r"'envs.babyai.max_stepz': unknown key 'max_stepz'; envs.babyai accepts: max_steps, levels"),
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


# ---- typed env kwargs, value checks, one-line messages ------------------------------------------------------
@pytest.mark.parametrize("override, match", [
    ("envs.babyai.max_steps=abc", r"^invalid config at 'envs.babyai.max_steps': Input should be a valid integer.*\(got 'abc'\)$"),
    ("envs.babyai.val_size=-5", r"^invalid config at 'envs.babyai.val_size': Input should be greater than or equal to 0 \(got -5\)$"),
    ("envs.babyai.max_stepz=3", r"unknown key 'max_stepz'; envs.babyai accepts: max_steps, levels, .*action_set"),
    ("envs.babyai.action_set=wings", r"'envs.babyai.action_set': Input should be 'macro' or 'primitive' \(got 'wings'\)"),
    ("envs.babyai.levels=[]", r"'envs.babyai.levels': List should have at least 1 item"),
    ("envs.babyai.val_seed_offset=5", r"'envs.babyai': the seed ranges of splits 'train' \(0..9999\) and 'val' \(from 5\) overlap"),
    ("envs.textcraft.seeds_per_goal=0", r"'envs.textcraft.seeds_per_goal': Input should be greater than or equal to 1"),
    ("envs.textcraft.show_inventory=maybe", r"'envs.textcraft.show_inventory': Input should be a valid boolean"),
    ("envs.textworld.go=5", r"'envs.textworld.go': Input should be 1, 6, 9 or 12 \(got 5\)"),
    ("envs.textworld.take=3", r"'envs.textworld': take=3 must be in 0..recipe \(1\)"),
    ("envs.textworld.train_size=-1", r"'envs.textworld.train_size': Input should be greater than or equal to 0"),
    ("envs.scienceworld.jvm_heap=lots", r"'envs.scienceworld.jvm_heap': String should match pattern .*\(got 'lots'\)"),
    ("envs.scienceworld.task_names=[boil,fly]", r"'envs.scienceworld.task_names': unknown ScienceWorld task name\(s\) \['fly'\]"),
    ("envs.nope.x=1", r"'envs.nope': unknown env 'nope'; available: babyai, scienceworld, textcraft, textworld"),
    ("envs.babyai=3", r"'envs.babyai': Input should be a valid dictionary"),
    ("policy.env_kwargs.max_steps=abc", r"'policy.env_kwargs.max_steps': Input should be a valid integer.*\(got 'abc'\)"),
    ("policy.env_kwargs.max_stepz=3", r"'policy.env_kwargs.max_stepz': unknown key 'max_stepz'; policy.env_kwargs accepts: max_steps"),
    ("policy.env_kwargs.val_seed_offset=5", r"'policy.env_kwargs': the seed ranges of splits 'train'"),
    ("quality.max_reward=.inf", r"'quality.max_reward': must be a finite number > 0, i.e. in \(0, inf\).*\(got inf\)"),
    ("quality.max_reward=.nan", r"'quality.max_reward': must be a finite number > 0"),
    ("quality.max_reward=0", r"'quality.max_reward': must be a finite number > 0.*\(got 0\)"),
    ("quality.max_reward=-1", r"'quality.max_reward': must be a finite number > 0"),
    ("quality.min_success_rate.babyai=1.5", r"'quality.min_success_rate': success rates must lie in \[0, 1\]"),
    ("bogus=1", r"'bogus': unknown key 'bogus'; the config accepts: project, paths, tracking, envs"),
])
def test_bad_overrides_are_one_line_naming_key_value_and_expectation(override, match):
    with pytest.raises(ConfigError, match=match) as ei:
        load_config(ROOT / "params.yaml", overrides=[override])
    assert "\n" not in str(ei.value)


def test_env_models_mirror_the_constructors():
    """Each typed envs.<name> model has exactly its env's constructor kwargs, with the same defaults (the
    config holds the defaults; this keeps the env classes from drifting away from them)."""
    import inspect

    from dreamgym.config import ENV_CONFIGS
    from dreamgym.envs import env_names
    from dreamgym.envs.registry import get_env_class

    # every built-in env has a typed model (other tests may register plug-in envs, which have none)
    assert set(ENV_CONFIGS) == {"babyai", "textcraft", "textworld", "scienceworld"} <= set(env_names())
    for name, model in ENV_CONFIGS.items():
        params = {k: p for k, p in inspect.signature(get_env_class(name).__init__).parameters.items() if k != "self"}
        assert set(params) == set(model.model_fields), name
        defaults = model().model_dump()
        for k, p in params.items():
            want = list(p.default) if isinstance(p.default, tuple) else p.default
            assert defaults[k] == want, f"{name}.{k}: config default {defaults[k]!r} != constructor default {want!r}"
        for k, f in model.model_fields.items():
            assert f.description, f"{name}.{k} has no one-line doc"


def test_textworld_bounds_match_the_generator():
    from dreamgym.config import TextWorldEnvConfig
    from dreamgym.envs.textworld.env import MAX_SPLIT_SIZE
    from dreamgym.envs.textworld.games import GO_CHOICES, MAX_RECIPE

    fields = TextWorldEnvConfig.model_fields
    assert fields["go"].annotation.__args__ == GO_CHOICES
    assert {m.le for m in fields["recipe"].metadata if hasattr(m, "le")} == {MAX_RECIPE}
    assert {m.le for m in fields["train_size"].metadata if hasattr(m, "le")} == {MAX_SPLIT_SIZE}


def test_env_kwargs_are_constructor_kwargs_for_every_env():
    from dreamgym.envs import make_env

    cfg = load_config(ROOT / "params.yaml", overrides=["envs.textcraft.max_steps=7"])
    for name in cfg.seed_data.envs:
        kwargs = cfg.env_kwargs(name)
        assert kwargs == cfg.env_kwargs(name) and kwargs is not cfg.env_kwargs(name)  # a fresh copy each time
        env = make_env(name, **kwargs)  # builds (the JVM / games start only on first use)
        env.close()
    assert cfg.env_kwargs("textcraft")["max_steps"] == 7
    assert cfg.env_kwargs("babyai")["action_set"] == "primitive"  # params.yaml's, over the config's default
    assert "train_size" in cfg.env_kwargs("babyai") and cfg.env_kwargs("babyai")["test_size"] == 1000
    overlay = yaml.safe_load((ROOT / "params.yaml").read_text())["policy"]["env_kwargs"]
    assert cfg.policy_env_kwargs() == {**cfg.env_kwargs(cfg.policy.env), **overlay}


def test_policy_overlay_is_coerced_by_the_env_model():
    cfg = load_config(ROOT / "params.yaml", overrides=["policy.env_kwargs.max_steps='12'",
                                                      "policy.env_kwargs.levels=GoToObj"])
    assert cfg.policy.env_kwargs["max_steps"] == 12 and cfg.policy.env_kwargs["levels"] == ["GoToObj"]
    assert cfg.policy_env_kwargs()["max_steps"] == 12


def test_a_plugin_env_section_is_checked_against_its_constructor():
    from envutil import register_blank_env

    register_blank_env("cfgtest-plugin", max_steps=5, size=3)
    base = {"seed_data": {"envs": ["textcraft"], "episodes": {"textcraft": 1}}}
    cfg = resolve_config({**base, "envs": {"cfgtest-plugin": {"size": 4}}})
    assert cfg.env_kwargs("cfgtest-plugin") == {"size": 4}
    with pytest.raises(ConfigError, match=r"'envs.cfgtest-plugin.sise': unknown key\(s\) \['sise'\]; cfgtest-plugin accepts: max_steps, size"):
        resolve_config({**base, "envs": {"cfgtest-plugin": {"sise": 4}}})
    with pytest.raises(ConfigError, match=r"'envs.cfgtest-plugin': must be a mapping"):
        resolve_config({**base, "envs": {"cfgtest-plugin": 4}})


@pytest.mark.parametrize("content", [
    Path("/bin/ls").read_bytes()[:4096],
    bytes(__import__("random").Random(0).randbytes(2048)),
    b"\x00\x01\x02 not yaml",
    b"a: [1,\n  b: {\n",
    b"- just\n- a list\n",
])
def test_unreadable_params_files_are_one_line_config_errors(tmp_path, content):
    path = tmp_path / "params.yaml"
    path.write_bytes(content)
    with pytest.raises(ConfigError) as ei:
        load_config(path)
    assert str(ei.value).startswith(f"{path}: ") and "\n" not in str(ei.value)


def test_env_naming_defaults_live_in_the_composed_config_only():
    import subprocess

    import yaml

    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    del raw["policy"]["env"], raw["policy"]["env_kwargs"], raw["experience"]["envs"]
    cfg = resolve_config(raw)
    assert cfg.experience.envs == ["babyai", "textcraft"] and cfg.policy.env == "babyai"
    assert cfg.policy.env_kwargs == {"levels": ["PickupLoc"], "action_set": "primitive"}
    raw["policy"]["env"] = "textcraft"  # the default kwargs go with the default env only
    assert resolve_config(raw).policy.env_kwargs == {}
    names = subprocess.run(["git", "grep", "-nE", "babyai|textcraft|textworld|scienceworld", "dreamgym/experience",
                            "dreamgym/policy", "dreamgym/models", "dreamgym/buffer"], cwd=ROOT, capture_output=True,
                           text=True)
    assert names.stdout == "", f"env names outside dreamgym/envs/ and dreamgym/config.py:\n{names.stdout}"
