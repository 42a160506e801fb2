"""The seed stage's decisions (pure logic over flags and folder state) and its one-line gate summary."""

from __future__ import annotations

import pytest

from dreamgym.errors import DreamGymError, GateError
from dreamgym.stages import seed as stage


def _data(tmp_path, envs=("babyai",)):
    d = tmp_path / "data"
    for e in envs:
        (d / e).mkdir(parents=True)
    return d


def test_plan_modes(tmp_path):
    data = _data(tmp_path)
    asked = []

    def clean():
        asked.append(1)
        return True

    assert stage.plan("abc.dir", data, clean, validate_only=True) == "validate" and not asked
    assert stage.plan("abc.dir", data, clean) == "skip" and asked
    assert stage.plan("abc.dir", data, clean, force=True) == "collect"
    assert stage.plan(None, data, clean) == "collect"  # nothing recorded yet
    assert stage.plan("abc.dir", data, lambda: False) == "collect"  # data/ differs from data.dvc
    imp = _data(tmp_path / "imp", ("textcraft",))
    assert stage.plan("abc.dir", data, clean, import_dir=str(imp)) == "import"


def test_plan_rejects_contradictions_and_dropping_envs(tmp_path):
    imp = _data(tmp_path / "imp", ("textcraft",))
    with pytest.raises(DreamGymError, match="--replace-all applies to --import-dir"):
        stage.plan(None, tmp_path / "data", lambda: True, replace_all=True)
    with pytest.raises(DreamGymError, match="data/ is missing but data.dvc records abc"):
        stage.plan("abc", tmp_path / "data", lambda: True, import_dir=str(imp))
    assert stage.plan("abc", tmp_path / "data", lambda: True, import_dir=str(imp), replace_all=True) == "import"
    with pytest.raises(DreamGymError, match="holds no env folder"):
        stage.plan(None, tmp_path / "data", lambda: True, import_dir=str(tmp_path / "imp" / "data" / "textcraft"))


def test_check_hash_warns_only_on_a_changed_collection():
    assert stage.check_hash("collect", "a", "a", "data.dvc")
    assert stage.check_hash("import", "a", "b", "data.dvc")
    assert stage.check_hash("collect", None, "b", "data.dvc")
    assert not stage.check_hash("collect", "a", "b", "data.dvc")


def test_gate_summary_is_one_line_naming_the_failed_checks():
    check = {"table": "steps", "check": "reward in [0, 1]", "ok": False, "detail": "2 rows",
             "bad_rows": [{"episode_id": "e1", "reward": 5.0}], "unexpected_count": 2}
    report = {"reports": {"babyai": {"ok": False, "subject": "env 'babyai'", "n_checks": 9,
                                     "checks": [check, {"table": "steps", "check": "x", "ok": True}]}}}
    line = stage.gate_summary(GateError("long\nreport", report), "artifacts/seed/gate_failed.txt")
    assert "\n" not in line
    assert line == ("seed gate rejected env 'babyai': 1 of 9 checks failed: [steps] reward in [0, 1]: 2 rows "
                    "(episode_id='e1', reward=5.0, ...) (full report: artifacts/seed/gate_failed.txt)")
    assert stage.gate_summary(GateError("no <env>/steps.parquet found", {})) == "no <env>/steps.parquet found"
