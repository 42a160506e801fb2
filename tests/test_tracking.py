"""The MLflow tracker against a real sqlite store: namespaced metrics, tables, and a model logged, registered,
tagged and loaded back."""

import mlflow
import pandas as pd
import pytest
import torch

from dreamgym.models import load_model
from dreamgym.tracking import MlflowTracker, Tracker


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
    tracker = MlflowTracker(f"sqlite:///{tmp_path / 'mlflow.db'}", "t", str(tmp_path / "art"))
    with tracker.run("r"):
        tracker.log_metrics({"exp/val_loss": 1.5}, step=3)
        tracker.log_table(pd.DataFrame({"real": ["a"], "pred": ["b"]}), "predictions/x.json")
        version = tracker.log_model(model, tok, "model", "dreamgym-experience-test", tags={"gate": "passed"})
    assert version == "1"
    client = mlflow.MlflowClient()
    assert client.get_model_version("dreamgym-experience-test", "1").tags == {"gate": "passed"}
    loaded = mlflow.transformers.load_model("models:/dreamgym-experience-test/1", return_type="components")
    ids = torch.tensor([tok("go to the red ball")["input_ids"]])
    with torch.no_grad():
        assert torch.allclose(loaded["model"](ids).logits, model(ids).logits, atol=1e-5)
