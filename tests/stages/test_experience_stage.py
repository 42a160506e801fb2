"""The experience stage's pure parts: the ablation a config runs, the step limit of an env's seed data, the gate."""

from __future__ import annotations

from pathlib import Path

import pytest
from envutil import register_blank_env

from dreamgym.config import load_config
from dreamgym.errors import GateError
from dreamgym.stages import experience as stage
from dreamgym.tracking import Tracker


def _cfg(overrides):
    return load_config(Path(__file__).resolve().parents[2] / "params.yaml", None, overrides)


def test_ablation_names_the_switched_off_parts():
    cfg = _cfg(["experience.history_window=2", "experience.k=2", "experience.augment_copies=1"])
    assert stage.ablation(cfg.experience) == "full"
    cfg = _cfg(["experience.with_reasoning=false", "experience.k=0"])
    assert stage.ablation(cfg.experience).split(",")[:2] == ["no-reasoning", "no-history"]
    assert stage.ablation(_cfg(["experience.shared=true", "experience.k=2", "experience.history_window=2"]).experience) \
        == "shared"


def test_env_max_steps_from_config_then_the_env():
    cfg = _cfg(["envs.babyai.max_steps=17"])
    assert stage.env_max_steps(cfg, "babyai") == 17

    Toy = register_blank_env("stage_toy", max_steps=7)  # a plug-in env with no config section: its own default
    assert Toy.name == "stage_toy"
    assert stage.env_max_steps(_cfg([]), "stage_toy") == 7


def test_enforce_gate_fails_only_when_enforced():
    cfg = _cfg(["experience.gate.enforce=false"])
    stage.enforce_gate(cfg, {"a": {"gate": False}}, Tracker(), "m.json")  # logged, not raised
    cfg = _cfg(["experience.gate.enforce=true"])
    stage.enforce_gate(cfg, {"a": {"gate": True}}, Tracker(), "m.json")
    with pytest.raises(GateError, match=r"gate failed for \['b'\].*m.json"):
        stage.enforce_gate(cfg, {"a": {"gate": True}, "b": {"gate": False}}, Tracker(), "m.json")
    assert stage.summary(cfg, {"a": {"gate": True, "registered_version": "3"}, "b": {"gate": False}}) == \
        "a gate passed (registered v3), b gate failed"
