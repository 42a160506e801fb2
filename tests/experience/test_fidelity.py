"""Fidelity metrics: pure functions on constructed predictions (vectorised vs loop where it applies)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from dreamgym.errors import DreamGymError
from dreamgym.experience.fidelity import precision_recall, token_f1, transition_fidelity


def test_token_f1_cases():
    assert token_f1("a b c", "a b c") == 1.0
    assert token_f1("", "") == 1.0
    assert token_f1("a", "") == 0.0
    assert token_f1("a b", "b c") == pytest.approx(0.5)
    assert token_f1("a a b", "a b b") == pytest.approx(2 / 3)


def test_precision_recall_matches_a_loop():
    rng = np.random.default_rng(0)
    for _ in range(20):
        p, t = rng.random(50) < 0.3, rng.random(50) < 0.4
        tp = sum(1 for a, b in zip(p, t, strict=True) if a and b)
        prec, rec, n_pred, n_true = precision_recall(p, t)
        assert (n_pred, n_true) == (sum(p), sum(t))
        assert prec == pytest.approx(tp / sum(p)) and rec == pytest.approx(tp / sum(t))
    prec, rec, _, _ = precision_recall([False, False], [False, True])
    assert math.isnan(prec) and rec == 0.0
    with pytest.raises(DreamGymError, match="shapes differ"):
        precision_recall([True], [True, False])


def _row(real_next, pred_next, parsed=True, real_reward=0.0, pred_reward=0.0, real_done=False, pred_done=False,
         real_valid=True, pred_valid=True, determined=True):
    return {"real_next_state": real_next, "pred_next_state": pred_next if parsed else None, "parsed": parsed,
            "real_reward": real_reward, "pred_reward": pred_reward if parsed else None, "real_done": real_done,
            "pred_done": pred_done if parsed else None, "real_valid": real_valid,
            "pred_valid": pred_valid if parsed else None, "determined": determined}


def test_transition_fidelity_on_a_constructed_table():
    table = pd.DataFrame([
        _row("s1", "s1"),                                                      # exact, determined
        _row("s2", "s2 x", determined=False),                                  # near miss, not determined
        _row("goal", "goal", real_reward=1, pred_reward=1, real_done=True, pred_done=True),   # success caught
        _row("goal", "goal", real_reward=1, pred_reward=0, real_done=True, pred_done=False),  # success missed
        _row("s5", "s5", real_valid=False, pred_valid=False),                  # invalid caught
        _row("s6", None, parsed=False, real_valid=False),                      # unparsed: wrong everywhere
    ])
    m = transition_fidelity(table)
    assert m["n"] == 6 and m["n_determined"] == 5
    assert m["parse_rate"] == pytest.approx(5 / 6)
    assert m["exact_next"] == pytest.approx(4 / 6)
    assert m["exact_next_determined"] == pytest.approx(4 / 5)
    assert (m["success_precision"], m["success_recall"]) == (1.0, 0.5)
    assert (m["invalid_precision"], m["invalid_recall"]) == (1.0, 0.5)
    assert m["reward_acc"] == pytest.approx(4 / 6)  # the missed success and the unparsed row are wrong
    assert m["done_acc"] == pytest.approx(4 / 6)
    with pytest.raises(DreamGymError, match="no transitions"):
        transition_fidelity(table.head(0))
