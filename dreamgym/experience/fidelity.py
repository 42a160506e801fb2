"""How faithfully the experience model imitates the real env, measured against real held-out transitions.

The paper judged synthetic experience with GPT-4o; we have the real envs, so we measure exactly:

* one-step fidelity on held-out real transitions (the val examples of build_examples): parse rate; reward,
  done and validity accuracy; exact next-state match (overall, and on the transitions the context fully
  determines, see the env's EnvSpec.determined); token-F1 of the next state; success detection (a real reward
  of 1) and invalid-action detection, each as precision and recall;
* open-loop rollouts: the model replays a real episode's action sequence from its real first state, feeding on
  its own predictions; the step at which its state first differs from the real one (the divergence step).

    report = transition_fidelity(xm.predict_prompts(val.prompt.tolist()), val)
    report["exact_next_determined"], report["success_precision"]

Pure metric helpers (token_f1, precision_recall) take plain values; the shapes are in their docstrings.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from dreamgym.errors import DreamGymError


def token_f1(pred: str, real: str) -> float:
    """Bag-of-words F1 between two texts (whitespace tokens, case kept); 1.0 when both are empty."""
    p, r = pred.split(), real.split()
    if not p and not r:
        return 1.0
    common = sum((Counter(p) & Counter(r)).values())
    if common == 0:
        return 0.0
    prec, rec = common / len(p), common / len(r)
    return 2 * prec * rec / (prec + rec)


def precision_recall(pred: Sequence[bool], true: Sequence[bool]) -> tuple[float, float, int, int]:
    """Precision and recall of the positive class for two equal-length boolean sequences (n,), plus the
    counts of predicted and true positives. NaN where undefined (no predicted / no true positives)."""
    p = np.asarray(pred, dtype=bool)
    t = np.asarray(true, dtype=bool)
    if p.shape != t.shape:
        raise DreamGymError(f"precision_recall: shapes differ, {p.shape} vs {t.shape}")
    tp = int((p & t).sum())
    prec = tp / int(p.sum()) if p.any() else math.nan
    rec = tp / int(t.sum()) if t.any() else math.nan
    return prec, rec, int(p.sum()), int(t.sum())


def _mean(x: Sequence[float] | np.ndarray) -> float:
    x = np.asarray(x, dtype=float)
    return float(x.mean()) if x.size else math.nan


def prediction_table(outcomes: Sequence[Any], real: pd.DataFrame, abstract=None) -> pd.DataFrame:
    """One row per held-out transition: the real outcome beside the predicted one (None fields when the
    output did not parse), the raw output and whether the context determines the transition."""
    if len(outcomes) != len(real):
        raise DreamGymError(f"{len(outcomes)} predictions for {len(real)} real transitions")
    rows = []
    for o, (_, r) in zip(outcomes, real.iterrows(), strict=True):
        pr = o.prediction
        nxt = None if pr is None else (abstract(pr.next_state) if abstract else pr.next_state)
        rows.append({
            "episode_id": r.get("episode_id", ""), "t": int(r.get("t", 0)), "state": r.get("state", ""),
            "action": r.get("action", ""), "determined": bool(r.get("determined", False)),
            "real_valid": bool(r["valid"]), "real_next_state": str(r["next_state"]), "real_reward": float(r["reward"]),
            "real_done": bool(r["done"]), "parsed": pr is not None,
            "pred_valid": None if pr is None else bool(pr.valid), "pred_next_state": nxt,
            "pred_reward": None if pr is None else float(pr.reward), "pred_done": None if pr is None else bool(pr.done),
            "pred_reasoning": None if pr is None else pr.reasoning, "output": o.texts[-1] if o.texts else "",
        })
    return pd.DataFrame(rows)


def transition_fidelity(table: pd.DataFrame) -> dict[str, float]:
    """One-step fidelity metrics from a prediction_table(); an unparsed output counts as wrong everywhere.

    Keys: n, n_determined, parse_rate, reward_acc, done_acc, valid_acc, exact_next, exact_next_determined,
    next_f1, success_precision, success_recall, invalid_precision, invalid_recall (NaN where undefined, e.g.
    no invalid action among the real transitions).
    """
    if len(table) == 0:
        raise DreamGymError("transition_fidelity: no transitions to score")
    ok = table["parsed"].to_numpy(bool)
    pv = np.where(ok, table["pred_valid"].fillna(False).astype(bool), False)
    pr = np.where(ok, table["pred_reward"].fillna(-1.0).astype(float), -1.0)
    pd_ = np.where(ok, table["pred_done"].fillna(False).astype(bool), False)
    rv = table["real_valid"].to_numpy(bool)
    rr = table["real_reward"].to_numpy(float)
    rd = table["real_done"].to_numpy(bool)
    pn = [p if isinstance(p, str) else None for p in table["pred_next_state"]]
    rn = table["real_next_state"].astype(str).tolist()
    exact = np.array([p is not None and p == r for p, r in zip(pn, rn, strict=True)])
    f1 = np.array([token_f1(p, r) if p is not None else 0.0 for p, r in zip(pn, rn, strict=True)])
    det = table["determined"].to_numpy(bool)
    succ_p, succ_r, n_succ_pred, n_succ = precision_recall(ok & (pr >= 0.5), rr >= 0.5)
    inv_p, inv_r, n_inv_pred, n_inv = precision_recall(ok & ~pv, ~rv)
    return {
        "n": float(len(table)), "n_determined": float(det.sum()), "parse_rate": _mean(ok),
        "reward_acc": _mean(ok & (np.abs(pr - rr) < 1e-6)), "done_acc": _mean(ok & (pd_ == rd)),
        "valid_acc": _mean(ok & (pv == rv)), "exact_next": _mean(exact), "exact_next_determined": _mean(exact[det]),
        "next_f1": _mean(f1), "success_precision": succ_p, "success_recall": succ_r,
        "n_success": float(n_succ), "n_success_pred": float(n_succ_pred), "invalid_precision": inv_p,
        "invalid_recall": inv_r, "n_invalid": float(n_inv), "n_invalid_pred": float(n_inv_pred),
    }


def open_loop_divergence(model, episodes: pd.DataFrame, max_episodes: int = 50,
                         max_steps: int = 30) -> dict[str, float]:
    """Replay real episodes' action sequences open-loop through the model (batched across episodes).

    `model`: an ExperienceModel. `episodes`: examples rows (episode_id, t, split, abstract state / next_state,
    action) with the task text in `instruction`. Each episode starts from its real first state; from then
    on the model's own predicted states feed the history and the next step. Returns the mean first divergence
    step (0-based index of the first step whose predicted next state differs from the real one; the episode
    length when none does), the mean episode length, the share of episodes replayed without divergence, and
    the number of episodes.
    """
    from dreamgym.experience.synthetic import Query

    need = {"episode_id", "t", "state", "action", "next_state", "instruction", "split"}
    if need - set(episodes.columns):
        raise DreamGymError(f"open_loop_divergence: episodes lack column(s) {sorted(need - set(episodes.columns))}")
    eps = []
    for ep_id, ep in episodes.sort_values(["episode_id", "t"]).groupby("episode_id", sort=True):
        if int(ep["t"].iloc[0]) != 0:
            continue
        ep = ep.head(max_steps)
        task_id = str(ep["task_id"].iloc[0]) if "task_id" in ep.columns else None
        eps.append({"id": ep_id, "task": task_id, "instr": str(ep["instruction"].iloc[0]), "split": str(ep["split"].iloc[0]),
                    "actions": ep["action"].astype(str).tolist(), "real": ep["next_state"].astype(str).tolist(),
                    "state": str(ep["state"].iloc[0]), "hist": [], "diverged": None})
        if len(eps) >= max_episodes:
            break
    if not eps:
        raise DreamGymError("open_loop_divergence: no episode starting at t=0")
    for t in range(max(len(e["actions"]) for e in eps)):
        live = [e for e in eps if e["diverged"] is None and t < len(e["actions"])]
        if not live:
            break
        outs = model.predict([Query(e["instr"], list(e["hist"]), e["state"], e["actions"][t], e["id"], e["split"],
                                    e["task"]) for e in live])
        for e, o in zip(live, outs, strict=True):
            nxt = model.abstract(o.prediction.next_state) if o.prediction is not None else None
            if nxt != e["real"][t]:
                e["diverged"] = t
            e["hist"].append((e["state"], e["actions"][t]))
            e["state"] = nxt or e["state"]
    first = [e["diverged"] if e["diverged"] is not None else len(e["actions"]) for e in eps]
    lengths = [len(e["actions"]) for e in eps]
    return {"open_loop_first_divergence": _mean(first), "open_loop_mean_length": _mean(lengths),
            "open_loop_full_match": _mean([e["diverged"] is None for e in eps]), "open_loop_episodes": float(len(eps))}
