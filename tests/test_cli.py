"""The command line: one-line errors for bad input, and a person can play an env from the terminal."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DREAMGYM = Path(sys.executable).with_name("dreamgym")  # the real console script of this venv


def cli(*args, stdin: str = "", cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([str(DREAMGYM), *args], input=stdin, capture_output=True, text=True, cwd=cwd, timeout=300)


def assert_one_error_line(r: subprocess.CompletedProcess, message: str) -> None:
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert r.stderr.strip().startswith(message), r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr, r.stderr


@pytest.mark.parametrize("args, message", [
    (["play", "nope"], "error: unknown env 'nope'; available: babyai, scienceworld, textcraft, textworld"),
    (["tasks", "textcraft", "--split", "dev"], "error: unknown split 'dev'; choose one of: train, val, test"),
    (["collect", "textcraft", "--episodes", "abc"], "error: Invalid value for '--episodes'"),
    (["collect", "textcraft", "--episodes", "0"], "error: Invalid value for '--episodes'"),
    (["config", "--preset", "huge"], "error: unknown preset 'huge'"),
    (["config", "-S", "seed_data.noise_eps=7"], "error: invalid config at 'seed_data.noise_eps'"),
    (["bogus"], "error: No such command 'bogus'"),
    (["eval", "--env", "babyai", "--model", "no/such/dir", "-n", "2"], "error: model kind 'hf': no model at no/such/dir"),
    (["eval", "--env", "nope", "--model", "x"], "error: unknown env 'nope'"),
    (["eval", "--env", "babyai", "--model", "x", "--split", "dev"], "error: unknown split 'dev'"),
    (["config", "-S", "envs.babyai.max_steps=abc"],
     "error: invalid config at 'envs.babyai.max_steps': Input should be a valid integer, unable to parse string as an integer (got 'abc')"),
    (["play", "babyai", "-S", "envs.babyai.max_steps=abc"], "error: invalid config at 'envs.babyai.max_steps'"),
    (["config", "-S", "envs.babyai.val_size=-5"],
     "error: invalid config at 'envs.babyai.val_size': Input should be greater than or equal to 0 (got -5)"),
    (["config", "-S", "envs.babyai.max_stepz=3"], "error: invalid config at 'envs.babyai.max_stepz': unknown key 'max_stepz'"),
    (["config", "-S", "quality.max_reward=.inf"], "error: invalid config at 'quality.max_reward': must be a finite number > 0"),
    (["play", "babyai", "--task-index", "99999", "-S", "envs.babyai.val_size=1000"],
     "error: --task-index 99999 is out of range: the val split of 'babyai' has 1000 tasks (indices 0..999)"),
    (["play", "babyai", "--task-index", "7", "-S", "envs.babyai.val_size=3"],
     "error: --task-index 7 is out of range: the val split of 'babyai' has 3 tasks (indices 0..2)"),
    (["tasks", "babyai", "--start", "5000", "-S", "envs.babyai.val_size=0"],
     "error: --start 5000 is out of range: the val split of 'babyai' has 0 tasks"),
    (["seed", "--import-dir", "no/such/dir"], "error: --import-dir no/such/dir does not exist"),
    (["seed", "--import-dir", "params.yaml"], "error: --import-dir params.yaml is not a directory"),
    (["config", "--params", "/bin/ls"], "error: /bin/ls: not a YAML text file"),
    (["config", "--params", "no/such.yaml"], "error: config file 'no/such.yaml' not found"),
    (["play", "babyai", "--params", "no/such.yaml"], "error: config file 'no/such.yaml' not found"),
    (["tasks", "babyai", "--params", "/bin/ls"], "error: /bin/ls: not a YAML text file"),
    (["ui", "--params", "/bin/ls"], "error: /bin/ls: not a YAML text file"),
    (["baselines", "nope"], "error: unknown env 'nope'"),
    (["baselines", "babyai", "--split", "dev"], "error: unknown split 'dev'"),
])
def test_bad_input_is_one_line(args, message):
    assert_one_error_line(cli(*args), message)


def test_random_bytes_as_params_is_one_line(tmp_path):
    import random

    junk = tmp_path / "junk.bin"
    junk.write_bytes(random.Random(1).randbytes(4096))
    assert_one_error_line(cli("config", "--params", str(junk)), f"error: {junk}: not a YAML text file")


def test_seed_failures_exit_non_zero(tmp_path):
    """`dreamgym seed` passes the flow's failure on as its exit code (`make run` must stop before `dvc repro`)."""
    r = cli("seed", "-S", "envs.babyai.max_steps=abc")
    assert r.returncode != 0, r.stderr
    assert "error: invalid config at 'envs.babyai.max_steps'" in r.stderr and "Traceback" not in r.stderr
    # an import dir without trajectories: the gate fails, data/ is left as it was
    project = tmp_path / "project"
    (project / "data").mkdir(parents=True)
    (project / "data" / "kept.txt").write_text("already stored")
    (project / "params.yaml").write_text((ROOT / "params.yaml").read_text())
    (tmp_path / "empty").mkdir()
    r = cli("seed", "--preset", "tiny", "-S", "tracking.enabled=false", "--import-dir", str(tmp_path / "empty"),
            cwd=project)
    assert r.returncode != 0, r.stdout + r.stderr
    assert any(line.startswith("error: ") for line in r.stderr.splitlines()) and "Traceback" not in r.stderr, r.stderr
    assert [p.name for p in (project / "data").iterdir()] == ["kept.txt"]


def test_every_command_has_help():
    for cmd in ["config", "envs", "tasks", "collect", "seed", "play", "ui"]:
        r = cli(cmd, "--help")
        assert r.returncode == 0 and "Usage:" in r.stdout, cmd


def test_play_textcraft_with_the_expert_until_success():
    r = cli("play", "textcraft", "--split", "val", stdin="inventory\nfly away\n" + "/expert\n" * 40 + "/quit\n")
    assert r.returncode == 0, r.stderr
    assert "Your goal: craft" in r.stdout and "SUCCESS" in r.stdout
    assert "[invalid action]" in r.stdout  # "fly away" is reported as invalid, not an exception


def test_play_babyai_lists_actions_and_takes_numbers():
    r = cli("play", "babyai", "--task-index", "0", stdin="0\n/expert\n/quit\n")
    assert r.returncode == 0, r.stderr
    assert "Available actions: [0]" in r.stdout and "-- reward" in r.stdout


def test_collect_writes_parquet(tmp_path):
    r = cli("collect", "textcraft", "--episodes", "5", "--out", str(tmp_path), "--preset", "tiny")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "textcraft" / "steps.parquet").is_file() and (tmp_path / "textcraft" / "tasks.parquet").is_file()


# ---- a broken saved policy given to `dreamgym eval` ------------------------------------------------------------
@pytest.fixture(scope="module")
def saved_policy(tmp_path_factory) -> Path:
    """A tiny policy saved as save_policy writes it (config.json with the agent settings, model.safetensors)."""
    from dreamgym.config import PolicyConfig
    from dreamgym.models import load_model
    from dreamgym.policy.agent import Agent, AgentSettings
    from dreamgym.policy.checkpoint import save_policy

    tmp = tmp_path_factory.mktemp("policy")
    texts = ["Your goal: go to the red ball", "Available actions: turn left, turn right, move forward"] * 20
    model, tok = load_model("tiny", None, tmp / "cache", tokenizer_texts=texts,
                            tiny_kwargs={"hidden_size": 32, "num_layers": 1, "num_heads": 2,
                                         "max_position_embeddings": 256, "seed": 0},
                            tokenizer_kwargs={"vocab_size": 320})
    return save_policy(Agent(model, tok, AgentSettings.from_config(PolicyConfig())), tmp / "good")


def _broken(saved: Path, tmp_path: Path, how: str) -> Path:
    import json
    import random
    import shutil

    from safetensors.torch import load_file, save_file

    d = tmp_path / how
    shutil.copytree(saved, d)
    weights = d / "model.safetensors"
    data = weights.read_bytes()
    if how == "empty":
        weights.write_bytes(b"")
    elif how == "truncated":
        weights.write_bytes(data[: len(data) // 2])
    elif how == "corrupt":
        weights.write_bytes(random.Random(0).randbytes(len(data)))
    elif how == "shape_mismatch":  # the config of a wider model next to these weights
        cfg = json.loads((d / "config.json").read_text())
        cfg["hidden_size"] *= 2
        (d / "config.json").write_text(json.dumps(cfg))
    elif how == "missing_tensors":  # tensors under names the config's model does not have
        save_file({f"other.{k}": v for k, v in load_file(weights).items()}, weights, metadata={"format": "pt"})
    return d


def test_the_saved_policy_loads_and_tensors_under_other_names_are_an_error(saved_policy, tmp_path):
    from dreamgym.errors import DreamGymError
    from dreamgym.policy.checkpoint import load_policy

    assert load_policy(saved_policy).mode == "score"
    d = _broken(saved_policy, tmp_path, "missing_tensors")  # transformers would re-initialise them at random
    with pytest.raises(DreamGymError, match=r"model.safetensors lacks \d+ tensor\(s\) that .*config.json needs"):
        load_policy(d)


@pytest.mark.parametrize("how, message", [
    ("empty", "model.safetensors is empty (0 bytes)"),
    ("truncated", "model.safetensors is truncated or corrupt"),
    ("corrupt", "model.safetensors is truncated or corrupt"),
    ("shape_mismatch", "model.safetensors does not fit"),
])
def test_eval_of_a_broken_checkpoint_is_one_line_naming_the_file(saved_policy, tmp_path, how, message):
    d = _broken(saved_policy, tmp_path, how)
    r = cli("eval", "--env", "babyai", "--model", str(d), "-n", "1")
    assert_one_error_line(r, f"error: model kind 'hf': {d / 'model.safetensors'}")
    assert message in r.stderr, r.stderr


# ---- dvc.yaml stages run from any shell ------------------------------------------------------------------------
def test_every_dvc_stage_runs_through_the_project_python():
    import yaml

    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    for name, stage in stages.items():
        assert stage["cmd"].startswith("sh flows/py.sh -m flows."), (name, stage["cmd"])


def test_py_sh_finds_the_project_python_without_an_activated_venv(tmp_path):
    import os
    import shutil

    bare = {"PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", "/tmp")}  # no VIRTUAL_ENV, no venv on PATH
    found = dict(bare) if (ROOT / ".venv" / "bin" / "python").exists() else {**bare, "VIRTUAL_ENV": sys.prefix}
    code = "import dreamgym, prefect, sys; print(sys.executable)"
    r = subprocess.run(["sh", "flows/py.sh", "-c", code], cwd=ROOT, env=found, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert Path(r.stdout.strip()).parent == Path(sys.executable).parent  # this checkout's .venv
    # a checkout without a .venv, and no project Python anywhere it looks: one error line, exit 2, nothing run
    (tmp_path / "flows").mkdir()
    shutil.copy(ROOT / "flows" / "py.sh", tmp_path / "flows" / "py.sh")
    r = subprocess.run(["sh", "flows/py.sh", "-c", "print('ran')"], cwd=tmp_path, env=bare, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 2 and "ran" not in r.stdout
    assert r.stderr.startswith("error: flows/py.sh: no Python with the dreamgym project installed")
    assert len(r.stderr.strip().splitlines()) == 1


def test_collect_writes_outside_the_dvc_tracked_data_by_default(tmp_path):
    project = tmp_path / "project"
    (project / "data" / "textcraft").mkdir(parents=True)
    (project / "data.dvc").write_text("outs:\n- md5: 0123.dir\n  path: data\n")
    (project / "data" / "textcraft" / "steps.parquet").write_text("versioned")
    r = cli("collect", "textcraft", "--episodes", "2", "--preset", "tiny", "--params", str(ROOT / "params.yaml"),
            cwd=project)
    assert r.returncode == 0, r.stderr
    out = project / "artifacts" / "collect" / "textcraft"
    assert (out / "steps.parquet").is_file() and (out / "tasks.parquet").is_file()
    assert (project / "data" / "textcraft" / "steps.parquet").read_text() == "versioned"


def test_collect_refuses_a_dvc_tracked_folder_without_force(tmp_path):
    project = tmp_path / "project"
    (project / "data" / "textcraft").mkdir(parents=True)
    (project / "data.dvc").write_text("outs:\n- md5: 0123.dir\n  path: data\n")
    (project / "data" / "textcraft" / "steps.parquet").write_text("versioned")
    args = ("collect", "textcraft", "--episodes", "2", "--preset", "tiny", "--params", str(ROOT / "params.yaml"),
            "--out", "data")
    assert_one_error_line(cli(*args, cwd=project), "error: --out data is tracked by DVC")
    assert (project / "data" / "textcraft" / "steps.parquet").read_text() == "versioned"
    r = cli(*args, "--force", cwd=project)
    assert r.returncode == 0, r.stderr
    assert (project / "data" / "textcraft" / "steps.parquet").read_bytes().startswith(b"PAR1")


def test_baselines_reports_random_and_expert_on_the_same_tasks():
    import json

    r = cli("baselines", "babyai", "--split", "val", "-n", "4", "--horizon", "12")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["horizon"] == 12 and out["env_kwargs"]["action_set"] == "primitive"  # the policy's default benchmark
    for name in ("random", "expert"):
        assert out[name]["episodes"] == 4 and out[name]["horizon"] == 12
        assert 0 <= out[name]["ci_low"] <= out[name]["success"] <= out[name]["ci_high"] <= 1
    assert out["expert"]["success"] >= out["random"]["success"]
