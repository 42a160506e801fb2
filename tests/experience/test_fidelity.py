"""Fidelity metrics: pure functions on constructed predictions (vectorised vs loop where it applies), the next-state
likelihood on a tiny real model, the consistency columns on real babyai rows, and the held-out split of
train_experience_model's evaluation."""

from __future__ import annotations

import dataclasses
import math
import random

import numpy as np
import pandas as pd
import pytest

from dreamgym.config import ExperienceConfig
from dreamgym.envs import get_spec
from dreamgym.errors import DreamGymError
from dreamgym.experience.augment import renamed_by
from dreamgym.experience.examples import build_examples
from dreamgym.experience.fidelity import (
    action_type,
    figure,
    group_counts,
    next_span,
    next_state_logp,
    prediction_table,
    rate_stats,
    span_mask,
    symbol_hits,
    token_f1,
    transition_fidelity,
)
from dreamgym.experience.format import ORDERS, SPECIAL_TOKENS, Prediction, format_target
from dreamgym.experience.prompt import PromptSpec
from dreamgym.experience.synthetic import Outcome
from dreamgym.experience.train import train_experience_model
from dreamgym.stats import wilson_interval


def test_token_f1_cases():
    assert token_f1("a b c", "a b c") == 1.0
    assert token_f1("", "") == 1.0
    assert token_f1("a", "") == 0.0
    assert token_f1("a b", "b c") == pytest.approx(0.5)
    assert token_f1("a a b", "a b b") == pytest.approx(2 / 3)


def test_rate_stats_matches_a_loop():
    rng = np.random.default_rng(0)
    for _ in range(20):
        hits, among = rng.random(50) < 0.3, rng.random(50) < 0.6
        k = sum(1 for h, a in zip(hits, among, strict=True) if h and a)
        n = sum(among)
        rate, count, lo, hi = rate_stats(hits, among)
        assert count == n and rate == pytest.approx(k / n) and (lo, hi) == wilson_interval(k, n)
        assert lo <= rate <= hi
    rate, n, lo, hi = rate_stats([True, False], [False, False])
    assert math.isnan(rate) and n == 0 and (lo, hi) == (0.0, 1.0)
    assert rate_stats([True, False, True])[:2] == (pytest.approx(2 / 3), 3)
    with pytest.raises(DreamGymError, match="shapes differ"):
        rate_stats([True], [True, False])


def test_group_counts_matches_a_loop():
    rng = random.Random(0)
    groups = [rng.choice(["turn", "move", "pick", "go"]) for _ in range(200)]
    hits = [rng.random() < 0.5 for _ in groups]
    loop: dict[str, list[int]] = {}
    for g, h in zip(groups, hits, strict=True):
        loop.setdefault(g, [0, 0])
        loop[g][0] += h
        loop[g][1] += 1
    assert group_counts(hits, groups) == {g: tuple(v) for g, v in sorted(loop.items())}
    assert group_counts([], []) == {}
    with pytest.raises(DreamGymError, match="3 hits for 2"):
        group_counts([True] * 3, ["a", "b"])


def test_action_type_is_the_first_word():
    assert action_type("Pick up red ball 1") == "pick"
    assert action_type("go to blue key 1") == action_type("go through red door 1") == "go"
    assert action_type("craft 1 chest using 8 planks") == "craft"
    assert action_type("") == "none" and action_type("'?'") == "other"


def _row(real_next, pred_next, parsed=True, real_reward=0.0, pred_reward=0.0, real_done=False, pred_done=False,
         real_valid=True, pred_valid=True, determined=True, action="turn left", consistent=None, real_consistent=None,
         next_logp=math.nan):
    return {"real_next_state": real_next, "pred_next_state": pred_next if parsed else None, "parsed": parsed,
            "real_reward": real_reward, "pred_reward": pred_reward if parsed else None, "real_done": real_done,
            "pred_done": pred_done if parsed else None, "real_valid": real_valid,
            "pred_valid": pred_valid if parsed else None, "determined": determined, "action_type": action_type(action),
            "consistent": consistent, "real_consistent": real_consistent, "next_logp": next_logp}


def test_transition_fidelity_on_a_constructed_table():
    table = pd.DataFrame([
        _row("s1", "s1", next_logp=-0.5),                                      # exact, determined
        _row("s2", "s2 x", determined=False, action="move forward", consistent=True, real_consistent=True,
             next_logp=-2.0),                                                  # near miss, consistent
        _row("goal", "goal", real_reward=1, pred_reward=1, real_done=True, pred_done=True, action="pick up x"),
        _row("goal", "goal", real_reward=1, pred_reward=0, real_done=True, pred_done=False, determined=False,
             action="pick up y", consistent=False, real_consistent=True, next_logp=-4.0),   # success missed
        _row("s5", "s5", real_valid=False, pred_valid=False),                  # invalid caught
        _row("s6", None, parsed=False, real_valid=False, determined=False, action="fly", consistent=False,
             real_consistent=True),                                            # unparsed: wrong everywhere
        _row("s7", "s8", determined=False, action="go to z"),                  # the rule cannot judge it
    ])
    m = transition_fidelity(table)
    assert m["n"] == 7 and m["n_determined"] == 3
    assert (m["n_determined_invalid"], m["n_determined_success"], m["n_determined_other"]) == (1, 1, 1)
    assert m["parse_rate"] == pytest.approx(6 / 7) and m["parse_rate_n"] == 7
    assert (m["parse_rate_lo"], m["parse_rate_hi"]) == wilson_interval(6, 7)
    assert m["exact_next"] == pytest.approx(4 / 7)
    assert m["exact_next_determined"] == 1.0 and m["exact_next_determined_n"] == 3
    assert m["exact_next_undetermined"] == pytest.approx(1 / 4) and m["exact_next_undetermined_n"] == 4
    assert (m["exact_next/pick"], m["exact_next/pick_n"]) == (1.0, 2) and m["exact_next/move"] == 0.0
    assert m["exact_next/turn_n"] == 2 and m["exact_next/turn"] == 1.0
    assert (m["success_precision"], m["success_recall"]) == (1.0, 0.5)
    assert (m["success_precision_n"], m["success_recall_n"], m["n_success"], m["n_success_pred"]) == (1, 2, 2, 1)
    assert (m["done_precision"], m["done_recall"]) == (1.0, 0.5)
    assert (m["invalid_precision"], m["invalid_recall"]) == (1.0, 0.5) and m["n_invalid"] == 2
    assert m["reward_acc"] == pytest.approx(5 / 7)  # the missed success and the unparsed row are wrong
    assert m["done_acc"] == pytest.approx(5 / 7) and m["valid_acc"] == pytest.approx(6 / 7)
    # consistency: the undetermined predictions the rule judges (the unparsed one is inconsistent)
    assert m["consistency"] == pytest.approx(1 / 3) and m["consistency_n"] == 3
    assert m["consistency_real"] == 1.0 and m["consistency_real_n"] == 3
    assert m["next_logp"] == pytest.approx(-6.5 / 3) and m["next_logp_n"] == 3
    assert m["next_logp_undetermined"] == pytest.approx(-3.0) and m["next_logp_undetermined_n"] == 2
    assert figure(m, "exact_next_determined") == "1.000 [0.438, 1.000] n=3"
    no_rule = transition_fidelity(table.drop(columns=["consistent", "real_consistent", "next_logp"]))
    assert math.isnan(no_rule["consistency"]) and no_rule["consistency_n"] == 0 and math.isnan(no_rule["next_logp"])
    assert figure(no_rule, "consistency") == "n/a (n=0)"
    with pytest.raises(DreamGymError, match="no transitions"):
        transition_fidelity(table.head(0))


# ---- the next state's teacher-forced likelihood ---------------------------------------------------------------
@pytest.mark.parametrize("order", list(ORDERS))
def test_next_span_finds_the_next_state_in_either_order(order):
    target = format_target("turn; see the key", True, "red ball 1: 2 ahead; carrying nothing", 1.0, True, order=order)
    a, b = next_span(target)
    assert target[a:b] == "red ball 1: 2 ahead; carrying nothing"
    assert span_mask([(0, 3), (3, 5), (5, 9)], 4, 6) == [False, True, True]
    with pytest.raises(DreamGymError, match="no <next>"):
        next_span("<valid>1</valid>")


@pytest.fixture(scope="module")
def tiny():
    from dreamgym.models import build_tiny_model, train_tokenizer

    corpus = ["red ball 1: 2 ahead; carrying nothing", "turn left", "move forward", "blue key 1: 1 ahead 2 left",
              "Valid: turn left. Objects shift position."] * 5
    tok = train_tokenizer(corpus, vocab_size=400, special_tokens=SPECIAL_TOKENS)
    return build_tiny_model(tok, hidden_size=32, num_layers=2, num_heads=2, max_position_embeddings=256, seed=0), tok


def _loop_logp(model, tok, prompt, target):
    """The reference: one row at a time, unpadded, straight from the model's logits."""
    import torch

    a, b = next_span(target)
    enc = tok(target, add_special_tokens=False, return_offsets_mapping=True)
    p = tok(prompt, add_special_tokens=False)["input_ids"]
    ids = p + enc["input_ids"]
    span = [len(p) + i for i, (s, e) in enumerate(enc["offset_mapping"]) if s < b and e > a]
    with torch.no_grad():
        logp = torch.log_softmax(model(input_ids=torch.tensor([ids])).logits[0].float(), -1)
    return float(np.mean([logp[i - 1, ids[i]].item() for i in span]))


@pytest.mark.parametrize("order", list(ORDERS))
def test_next_state_logp_batched_matches_a_loop(tiny, order):
    model, tok = tiny
    states = ["red ball 1: 2 ahead; carrying nothing", "blue key 1: 1 ahead 2 left; carrying nothing", "no objects"]
    prompts = [f"<task>go</task><obs>{s}</obs><act>turn left</act>" for s in ("no objects", "a" * 30, "b")]
    targets = [format_target("Valid: turn left.", True, s, 0.0, False, order=order) for s in states]
    got = next_state_logp(model, tok, prompts, targets, batch_size=2)
    want = [_loop_logp(model, tok, p, t) for p, t in zip(prompts, targets, strict=True)]
    assert got.shape == (3,) and np.allclose(got, want, atol=1e-4) and (got < 0).all()
    cut = next_state_logp(model, tok, prompts, targets, batch_size=3, max_tokens=24)
    assert np.isfinite(cut).all()
    with pytest.raises(DreamGymError, match="2 prompts for 3"):
        next_state_logp(model, tok, prompts[:2], targets)


def test_symbol_hits_match_a_loop(tiny):
    """Teacher-forced greedy hits on the colour names of each next state, batched against one row at a time."""
    import torch

    model, tok = tiny
    is_colour = renamed_by(get_spec("babyai"))
    assert is_colour("purple") and is_colour("grey") and not is_colour("ball") and not is_colour("")
    states = ["red ball 1: 2 ahead; carrying nothing", "blue key 1: 1 ahead 2 left; carrying red ball", "no objects"]
    prompts = [f"<task>go</task><obs>{s}</obs><act>turn left</act>" for s in ("no objects", "red ball 1: 1 ahead", "b")]
    targets = [format_target("Valid.", True, s, 0.0, False, order="decisions_first") for s in states]
    got = symbol_hits(model, tok, prompts, targets, is_colour, batch_size=2)
    want = []
    for p, t in zip(prompts, targets, strict=True):
        a, b = next_span(t)
        enc = tok(t, add_special_tokens=False, return_offsets_mapping=True)
        pi = tok(p, add_special_tokens=False)["input_ids"]
        ids = pi + enc["input_ids"]
        with torch.no_grad():
            best = model(input_ids=torch.tensor([ids])).logits[0].argmax(-1)
        want += [bool(best[len(pi) + i - 1] == ids[len(pi) + i]) for i, (s0, e0) in enumerate(enc["offset_mapping"])
                 if s0 < b and e0 > a and is_colour(tok.decode([enc["input_ids"][i]]).strip())]
    assert len(want) == 3 and got.tolist() == want  # red; blue, red; none in "no objects"
    assert renamed_by(get_spec("textcraft")) is None  # no augmenter: no symbols


# ---- real rows: contexts, consistency, the held-out split --------------------------------------------------------
def _spec(**kw) -> PromptSpec:
    return PromptSpec(**(dict(env=get_spec("babyai"), history_window=2, k=0, budget=3072, state_budget=600,
                              with_reasoning=True) | kw))


@pytest.mark.parametrize("window", [0, 2])
def test_the_context_column_is_what_the_context_rule_and_annotator_see(fast_rows, window):
    steps, tasks = fast_rows["babyai"]
    calls = []

    def rule(context, state, action, next_state, valid):
        calls.append(list(context))
        return False

    spec = _spec(env=dataclasses.replace(get_spec("babyai"), determined=rule), history_window=window)
    ex = build_examples(steps, tasks, spec)
    assert [list(c) for c in ex["context"]] == calls
    assert all(len(c) <= window + 1 for c in ex["context"])


def _outcome(valid, next_state):
    return Outcome(Prediction("", valid, next_state, 0.0, False), prompt="p", texts=["out"])


def test_prediction_table_judges_predictions_and_the_real_next_states(fast_rows):
    steps, tasks = fast_rows["babyai"]
    spec = _spec()
    ex = build_examples(steps, tasks, spec)
    ctx = [list(c) for c in ex["context"]]
    rule = spec.env.consistent
    perfect = [_outcome(bool(r.valid), r.next_state) for r in ex.itertuples()]
    table = prediction_table(perfect, ex, abstract=spec.abstract, contexts=ctx, consistent=rule)
    assert table["real_consistent"].eq(True).sum() > 0.9 * len(ex) and not table["real_consistent"].eq(False).any()
    assert table["consistent"].tolist() == table["real_consistent"].tolist()
    m = transition_fidelity(table)
    assert m["consistency"] == 1.0 and m["consistency_n"] == (~ex["determined"] & table["consistent"].notna()).sum()
    # a model that always predicts an empty room: contradicted wherever the state shows an object kept in sight
    empty = [_outcome(True, "no objects; carrying nothing") for _ in range(len(ex))]
    m = transition_fidelity(prediction_table(empty, ex, abstract=spec.abstract, contexts=ctx, consistent=rule))
    assert m["consistency"] < 0.6 and m["consistency_real"] == 1.0
    unparsed = [Outcome(None, prompt="p", texts=["garbage"]) for _ in range(len(ex))]
    t = prediction_table(unparsed, ex, contexts=ctx, consistent=rule)
    assert t["consistent"].eq(False).sum() == t["real_consistent"].notna().sum()
    with pytest.raises(DreamGymError, match="needs each example's context"):
        prediction_table(perfect, ex, consistent=rule)
    with pytest.raises(DreamGymError, match="contexts for"):
        prediction_table(perfect, ex, contexts=ctx[:3], consistent=rule)


def test_the_scored_split_must_have_examples(fast_rows, tmp_path):
    steps, tasks = fast_rows["babyai"]  # train and val episodes only
    cfg = ExperienceConfig(eval_split="test")
    with pytest.raises(DreamGymError, match=r"no test examples .*seed_data\.test_episodes\.babyai.*eval_split=val"):
        train_experience_model(steps, tasks, "babyai", cfg, cache_dir=tmp_path, scratch_dir=tmp_path)


def test_fidelity_is_measured_on_the_test_split(fast_rows, tmp_path):
    """End to end on a seconds-long model: the test episodes are scored, the val ones only give SFT its eval loss."""
    steps, tasks = fast_rows["babyai"]
    val_tasks = sorted(steps.loc[steps["split"] == "val", "task_id"].unique())
    moved = set(val_tasks[: len(val_tasks) // 2])  # half the val tasks become test tasks
    steps, tasks = steps.copy(), tasks.copy()
    steps.loc[steps["task_id"].isin(moved), "split"] = "test"
    tasks.loc[tasks["task_id"].isin(moved), "split"] = "test"
    cfg = ExperienceConfig(model={"hidden_size": 32, "num_layers": 1, "num_heads": 2, "vocab_size": 400,
                                  "max_positions": 1024},
                           sft={"max_steps": 4, "batch_size": 8, "max_length": 768, "eval_every": 0,
                                "eval_examples": 8, "logging_steps": 2},
                           max_new_tokens=24, eval_examples=12, open_loop_episodes=1, open_loop_max_steps=2)
    run = train_experience_model(steps, tasks, "babyai", cfg, cache_dir=tmp_path / "cache",
                                 scratch_dir=tmp_path / "scratch")
    n_test = int((steps["split"] == "test").sum())
    assert run.eval_split == "test" and run.n_eval == n_test and run.fidelity["n"] == min(12, n_test)
    assert set(run.table["episode_id"]) <= set(steps.loc[steps["split"] == "test", "episode_id"])
    assert np.isfinite(run.table["next_logp"]).all() and run.fidelity["next_logp"] < 0
    assert run.fidelity["next_symbol_acc_n"] > 0 and 0.0 <= run.fidelity["next_symbol_acc"] <= 1.0  # colour copying
    assert run.table["real_consistent"].notna().any() and run.open_loop["open_loop_episodes"] == 1
    metrics = run.metrics()
    assert metrics["exp/eval_examples"] == n_test and "exp/consistency_lo" in metrics
    assert all(k.startswith(("exp/", "perf/")) for k in metrics)
