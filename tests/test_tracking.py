"""The MLflow tracker against a real sqlite store: namespaced metrics, tables, and a model logged, registered,
tagged and loaded back (load_model_components; load_policy reads a URI through it); runs left RUNNING by a
SIGKILLed process are ended KILLED when their stage next starts."""

import os
import signal
import socket
import subprocess
import sys

import mlflow
import pandas as pd
import pytest
import torch

from dreamgym.errors import DreamGymError
from dreamgym.models import load_model
from dreamgym.tracking import (
    HOST_TAG,
    PID_TAG,
    START_TAG,
    MlflowTracker,
    Tracker,
    is_model_uri,
    load_model_components,
    process_alive,
    process_tags,
)


def test_noop_tracker_checks_names_and_returns_nothing():
    t = Tracker()
    with t.run("x"):
        t.log_metrics({"exp/loss": 1.0})
        assert t.log_model(None, None, "model", "name") is None
    with pytest.raises(ValueError):
        t.log_metrics({"loss": 1.0})


def test_model_logged_registered_and_reloaded(tmp_path):
    model, tok = load_model("tiny", None, tmp_path / "cache", tokenizer_texts=["go to the red ball <think>"] * 40,
                            tiny_kwargs={"hidden_size": 32, "num_layers": 1, "num_heads": 2},
                            tokenizer_kwargs={"vocab_size": 300})
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    tracker = MlflowTracker(uri, "t", str(tmp_path / "art"))
    with tracker.run("r"):
        tracker.log_metrics({"exp/val_loss": 1.5}, step=3)
        tracker.log_table(pd.DataFrame({"real": ["a"], "pred": ["b"]}), "predictions/x.json")
        version = tracker.log_model(model, tok, "model", "dreamgym-experience-test", tags={"gate": "passed"})
    assert version == "1"
    client = mlflow.MlflowClient()
    assert client.get_model_version("dreamgym-experience-test", "1").tags == {"gate": "passed"}
    loaded, loaded_tok = load_model_components("models:/dreamgym-experience-test/1", uri)
    ids = torch.tensor([tok("go to the red ball")["input_ids"]])
    with torch.no_grad():
        assert torch.allclose(loaded(ids).logits, model(ids).logits, atol=1e-5)
    assert loaded_tok.get_vocab() == tok.get_vocab()
    with pytest.raises(DreamGymError, match=r"^cannot load the model 'models:/nope/1' from MLflow \(sqlite:.*\): "
                                            r"[^\n]+$"):
        load_model_components("models:/nope/1", uri)
    from dreamgym.policy.checkpoint import load_policy

    with pytest.raises(DreamGymError, match="a causal LM without policy settings"):  # read, prepared, then checked
        load_policy("models:/dreamgym-experience-test/1", tracking_uri=uri)
    assert is_model_uri("runs:/abc/model") and is_model_uri("s3://b/m") and not is_model_uri(str(tmp_path))


# a process that opens a run of stage argv[3] (and a nested run), says so, and waits to be killed
_HOLDER = """
import sys, time
from dreamgym.tracking import MlflowTracker
t = MlflowTracker(sys.argv[1], "t", sys.argv[2])
with t.run("holder", tags={"stage": sys.argv[3]}):
    parent = t.run_id
    with t.run("child", nested=True):
        print(parent, t.run_id, flush=True)
        time.sleep(600)
"""


def _hold_run(tmp_path, stage: str) -> tuple[subprocess.Popen, str, str]:
    p = subprocess.Popen([sys.executable, "-c", _HOLDER, f"sqlite:///{tmp_path / 'mlflow.db'}", str(tmp_path / "art"),
                          stage], stdout=subprocess.PIPE, text=True)
    return p, *p.stdout.readline().split()


def test_stale_runs_of_a_dead_process_end_killed_live_ones_stay(tmp_path):
    MlflowTracker(f"sqlite:///{tmp_path / 'mlflow.db'}", "t", str(tmp_path / "art"))  # create the store once
    dead, live, other = (_hold_run(tmp_path, s) for s in ("seed", "seed", "seed_buffer"))
    try:
        for p, *_ in (dead, other):
            p.send_signal(signal.SIGKILL)
            p.wait()
        client = mlflow.MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
        assert client.get_run(dead[1]).info.status == "RUNNING"
        tracker = MlflowTracker(f"sqlite:///{tmp_path / 'mlflow.db'}", "t", str(tmp_path / "art"))
        with tracker.run("seed", tags={"stage": "seed"}):
            mine = tracker.run_id
        status = lambda run_id: client.get_run(run_id).info.status  # noqa: E731
        assert status(dead[1]) == status(dead[2]) == "KILLED"  # the dead parent and its nested run
        assert client.get_run(dead[1]).info.end_time is not None
        assert status(live[1]) == status(live[2]) == "RUNNING"  # its process still runs
        assert status(other[1]) == "RUNNING"  # another stage's: ended when that stage next starts
        assert status(mine) == "FINISHED"
        tags = client.get_run(mine).data.tags
        assert tags[PID_TAG] == str(os.getpid()) and tags[HOST_TAG] == socket.gethostname() and tags[START_TAG]
        assert tracker.end_stale_runs("seed_buffer") == sorted(other[1:])
    finally:
        live[0].kill()
        live[0].wait()


def test_process_alive_guards_against_pid_reuse_and_unknowns():
    me = process_tags()
    assert process_alive(me)
    assert not process_alive({**me, START_TAG: f"{float(me[START_TAG]) - 100:.2f}"})  # same pid, another process
    assert process_alive({**me, HOST_TAG: "some-other-host"})  # cannot tell: leave it alone
    assert process_alive({})  # a run from before these tags
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    assert not process_alive(process_tags(p.pid) | {HOST_TAG: socket.gethostname()})
