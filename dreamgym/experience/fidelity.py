"""How faithfully the experience model imitates the real env, measured against real held-out transitions.

The paper judged synthetic experience with GPT-4o; we have the real envs, so we measure exactly, on the examples
of held-out tasks (experience.eval_split: "test" for the reported figures, "val" for tuning):

* one-step fidelity (transition_fidelity over a prediction_table): parse rate; reward, done and validity
  accuracy; exact next-state match overall, per action type (the action's first word) and on the transitions the
  context determines (EnvSpec.determined; `n_determined_<class>` says which: invalid / success / other); token-F1
  of the next state; precision and recall of success (a real reward of 1), done and the invalid class. Every rate
  comes with its count (`<key>_n`) and its Wilson 95% interval (`<key>_lo`, `<key>_hi`);
* on the transitions the context does not determine, where exact match asks the impossible: the teacher-forced
  mean per-token log-likelihood of the real next state (next_state_logp), and the consistency rate, the share of
  predictions that contradict nothing the context shows (EnvSpec.consistent; NaN for an env without a rule),
  beside the same rule applied to the real next states (`consistency_real`: below 1 the rule is too strict);
* open-loop rollouts: the model replays a real episode's action sequence from its real first state, feeding on
  its own predictions; the step at which its state first differs from the real one (the divergence step).

    table = prediction_table(xm.predict_prompts(ex.prompt.tolist()), ex, abstract=xm.abstract, contexts=ctx,
                             consistent=spec.env.consistent, next_logp=next_state_logp(model, tok, prompts, targets))
    report = transition_fidelity(table)
    report["exact_next_determined"], report["success_precision_n"], figure(report, "consistency")

Simplifications: an unparsed output is wrong everywhere (inconsistent too, where the rule can judge the context);
the action type is the first word ("go to" and "go through" are both "go"). Pure helpers (token_f1, rate_stats,
group_counts, next_span, span_mask) take plain values; the shapes are in their docstrings.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from dreamgym.errors import DreamGymError
from dreamgym.experience.format import NEXT_CLOSE, NEXT_OPEN
from dreamgym.stats import wilson_interval


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


def rate_stats(hits: Sequence[bool] | np.ndarray, among: Sequence[bool] | np.ndarray | None = None
               ) -> tuple[float, int, float, float]:
    """(rate, n, low, high): the share of `hits` among the entries where `among` is set (both (N,) booleans; None:
    all), their count and the Wilson 95% interval; the rate is NaN and the interval (0, 1) when n is 0.
    Precision is rate_stats(pred & true, pred), recall rate_stats(pred & true, true)."""
    h = np.asarray(hits, dtype=bool)
    a = np.ones_like(h) if among is None else np.asarray(among, dtype=bool)
    if h.shape != a.shape:
        raise DreamGymError(f"rate_stats: shapes differ, {h.shape} vs {a.shape}")
    k, n = int((h & a).sum()), int(a.sum())
    lo, hi = wilson_interval(k, n)
    return (k / n if n else math.nan), n, lo, hi


def group_counts(hits: Sequence[bool] | np.ndarray, groups: Sequence[str]) -> dict[str, tuple[int, int]]:
    """Per group: (hits, entries) for (N,) booleans `hits` labelled by (N,) `groups`, groups sorted."""
    h = np.asarray(hits, dtype=bool)
    if len(h) != len(groups):
        raise DreamGymError(f"group_counts: {len(h)} hits for {len(groups)} group labels")
    if not len(h):
        return {}
    keys, inv = np.unique(np.asarray(groups, dtype=str), return_inverse=True)
    k = np.bincount(inv, weights=h.astype(float), minlength=len(keys))
    n = np.bincount(inv, minlength=len(keys))
    return {str(g): (int(a), int(b)) for g, a, b in zip(keys, k, n, strict=True)}


def action_type(action: str) -> str:
    """An action's type for the per-type breakdown: its first word, lower case, in metric-name characters."""
    words = str(action).split()
    if not words:
        return "none"
    return re.sub(r"[^a-z0-9_-]+", "_", words[0].lower()).strip("_") or "other"


def _put(out: dict[str, float], key: str, stats: tuple[float, int, float, float]) -> None:
    rate, n, lo, hi = stats
    out.update({key: rate, f"{key}_n": float(n), f"{key}_lo": lo, f"{key}_hi": hi})


def figure(metrics: dict[str, float], key: str) -> str:
    """A rate with its interval and count, as reports print it: "0.912 [0.880, 0.937] n=400" ("n/a" if absent)."""
    v = metrics.get(key)
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return f"n/a (n={int(metrics.get(f'{key}_n') or 0)})"
    if f"{key}_lo" not in metrics:
        return f"{v:.3f}"
    return f"{v:.3f} [{metrics[f'{key}_lo']:.3f}, {metrics[f'{key}_hi']:.3f}] n={int(metrics[f'{key}_n'])}"


# ---- teacher-forced likelihood of the real next state ----------------------------------------------------------
def next_span(target: str) -> tuple[int, int]:
    """The character span [start, end) of the next state in a target text: between `<next>` and `</next>`, wherever
    the target order puts that field (no other field may hold a tag). DreamGymError when there is none."""
    a = target.find(NEXT_OPEN)
    b = target.find(NEXT_CLOSE, a + len(NEXT_OPEN)) if a >= 0 else -1
    if b < 0:
        raise DreamGymError(f"next_span: no {NEXT_OPEN}…{NEXT_CLOSE} field in the target {target[:80]!r}")
    return a + len(NEXT_OPEN), b


def span_mask(offsets: Sequence[tuple[int, int]], start: int, end: int) -> list[bool]:
    """Which tokens, given as (T,) character offsets (start, end) into their text, overlap the span [start, end)."""
    return [s < end and e > start for s, e in offsets]


def _span_rows(tokenizer, prompts: Sequence[str], targets: Sequence[str], max_tokens: int | None,
               where: str) -> list[tuple[list[int], list[int]]]:
    """(context ids, next-state span ids) per (prompt, target): the prompt's ids then the target's up to its next
    state (next_span), and the span's; a row keeps its last `max_tokens` tokens (None: all)."""
    if len(prompts) != len(targets):
        raise DreamGymError(f"{where}: {len(prompts)} prompts for {len(targets)} targets")
    if not getattr(tokenizer, "is_fast", False):
        raise DreamGymError(f"{where}: the tokenizer gives no offsets (a 'fast' tokenizer is needed)")
    rows: list[tuple[list[int], list[int]]] = []
    for prompt, target in zip(prompts, targets, strict=True):
        enc = tokenizer(target, add_special_tokens=False, return_offsets_mapping=True)
        mask = span_mask(enc["offset_mapping"], *next_span(target))
        if not any(mask):
            raise DreamGymError(f"{where}: the next state of {target[:80]!r} has no token")
        first, last = mask.index(True), len(mask) - mask[::-1].index(True)
        context = list(tokenizer(prompt, add_special_tokens=False)["input_ids"]) + list(enc["input_ids"][:first])
        span = list(enc["input_ids"][first:last])
        if max_tokens is not None:
            span = span[: max(1, max_tokens - 1)]
            context = context[-max(1, max_tokens - len(span)):]
        rows.append((context, span))
    return rows


def symbol_hits(model, tokenizer, prompts: Sequence[str], targets: Sequence[str], is_symbol: Callable[[str], bool],
                *, batch_size: int = 16, max_tokens: int | None = None) -> np.ndarray:
    """Teacher-forced greedy hits on the symbol tokens of the real targets' next states: (S,) booleans, one per
    symbol token (in row order), True where the argmax prediction is the real token; rate_stats() of it is the
    accuracy with its interval.

    A symbol is a token whose text `is_symbol` (e.g. augment.renamed_by: a name the env's symmetry renames, such as
    BabyAI's colours). Under that symmetry the context is the only source of a symbol's value, so this is how well
    the model copies from the context (chance: one over the symbol class, 1/6 for BabyAI's colours). Rows as
    next_state_logp builds them.
    """
    import torch

    from dreamgym.models.scoring import pack_rows, token_hits

    rows = _span_rows(tokenizer, prompts, targets, max_tokens, "symbol_hits")
    vocab: dict[int, bool] = {}

    def symbol(t: int) -> bool:
        if t not in vocab:
            vocab[t] = bool(is_symbol(tokenizer.decode([t]).strip()))
        return vocab[t]

    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    hits: list[bool] = []
    with torch.no_grad():
        for i in range(0, len(rows), batch_size):
            chunk = rows[i:i + batch_size]
            h = token_hits(model, pack_rows(chunk, pad))
            hits += [bool(h[b, len(context) + j]) for b, (context, span) in enumerate(chunk)
                     for j, t in enumerate(span) if symbol(t)]
    return np.asarray(hits, dtype=bool)


def next_state_logp(model, tokenizer, prompts: Sequence[str], targets: Sequence[str], *, batch_size: int = 16,
                    max_tokens: int | None = None) -> np.ndarray:
    """Teacher-forced mean per-token log-likelihood of each real target's next state: the mean over the next-state
    span's tokens (next_span; the tags excluded) of log P(token | prompt, the target before it); (N,) floats.

    Prompt and target are tokenised apart (prompt ids, then the target's: how generation continues a prompt); the
    target's tokens need offsets (a fast tokenizer). A row keeps its last `max_tokens` tokens (None: all). Batches
    of `batch_size` rows through models.scoring.shared_prefix_scores (the prompt and the target before the span
    as the prefix, the span as the one candidate, mean=True), so only the span's logits are materialised.
    """
    import torch

    from dreamgym.models.scoring import shared_prefix_scores

    rows = _span_rows(tokenizer, prompts, targets, max_tokens, "next_state_logp")
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    out = np.full(len(rows), np.nan)
    with torch.no_grad():
        for i in range(0, len(rows), batch_size):
            chunk = rows[i:i + batch_size]
            mean, _ = shared_prefix_scores(model, [c for c, _ in chunk], [[s] for _, s in chunk], pad, mean=True)
            out[i:i + len(chunk)] = mean.float().cpu().numpy()
    return out


# ---- the table of predictions and its metrics --------------------------------------------------------------------
#: consistent(context, state, action, predicted_next_state, predicted_valid) -> bool | None (EnvSpec.consistent)
Consistency = Callable[[Sequence[str], str, str, str, bool], "bool | None"]


def prediction_table(outcomes: Sequence[Any], real: pd.DataFrame, abstract=None, *,
                     contexts: Sequence[Sequence[str]] | None = None, consistent: Consistency | None = None,
                     next_logp: Sequence[float] | None = None) -> pd.DataFrame:
    """One row per held-out transition: the real outcome beside the predicted one (None fields when the output did
    not parse), the raw output, whether the context determines the transition, the action type and, where given,
    the consistency of the prediction and of the real next state (`consistent` applied with `contexts`, each
    example's task block and history states; None where it cannot judge; an unparsed output is inconsistent
    wherever the rule judges the real one) and the next state's teacher-forced log-likelihood (`next_logp`)."""
    n = len(real)
    if len(outcomes) != n:
        raise DreamGymError(f"{len(outcomes)} predictions for {n} real transitions")
    for name, given in (("contexts", contexts), ("next_logp", next_logp)):
        if given is not None and len(given) != n:
            raise DreamGymError(f"prediction_table: {len(given)} {name} for {n} real transitions")
    if consistent is not None and contexts is None:
        raise DreamGymError("prediction_table: a consistency rule needs each example's context (contexts=...)")
    rows = []
    for i, (o, (_, r)) in enumerate(zip(outcomes, real.iterrows(), strict=True)):
        pr = o.prediction
        nxt = None if pr is None else (abstract(pr.next_state) if abstract else pr.next_state)
        state, action = str(r.get("state", "")), str(r.get("action", ""))
        real_ok = pred_ok = None
        if consistent is not None:
            real_ok = consistent(contexts[i], state, action, str(r["next_state"]), bool(r["valid"]))
            if pr is not None:
                pred_ok = consistent(contexts[i], state, action, nxt, bool(pr.valid))
            elif real_ok is not None:
                pred_ok = False
        rows.append({
            "episode_id": r.get("episode_id", ""), "t": int(r.get("t", 0)), "state": state, "action": action,
            "action_type": action_type(action), "determined": bool(r.get("determined", False)),
            "real_valid": bool(r["valid"]), "real_next_state": str(r["next_state"]), "real_reward": float(r["reward"]),
            "real_done": bool(r["done"]), "parsed": pr is not None,
            "pred_valid": None if pr is None else bool(pr.valid), "pred_next_state": nxt,
            "pred_reward": None if pr is None else float(pr.reward), "pred_done": None if pr is None else bool(pr.done),
            "pred_reasoning": None if pr is None else pr.reasoning, "output": o.texts[-1] if o.texts else "",
            "consistent": pred_ok, "real_consistent": real_ok,
            "next_logp": math.nan if next_logp is None else float(next_logp[i]),
        })
    return pd.DataFrame(rows)


def _flags(table: pd.DataFrame, column: str) -> tuple[np.ndarray, np.ndarray]:
    """(value, judged) of an optional True/False/None column: (N,) booleans, judged False where None or absent."""
    if column not in table.columns:
        return np.zeros(len(table), bool), np.zeros(len(table), bool)
    v = table[column]
    judged = v.notna().to_numpy(bool)
    return np.array([bool(x) if j else False for x, j in zip(v, judged, strict=True)]), judged


def transition_fidelity(table: pd.DataFrame) -> dict[str, float]:
    """One-step fidelity metrics from a prediction_table(); an unparsed output counts as wrong everywhere.

    Rates, each with `<key>_n` (its count), `<key>_lo` and `<key>_hi` (Wilson 95% interval); NaN where nothing
    counts: parse_rate, reward_acc, done_acc, valid_acc; exact_next (all), exact_next_determined,
    exact_next_undetermined, `exact_next/<action type>`; success_, done_ and invalid_precision / _recall (the
    positive class: a real reward >= 0.5, done, an invalid action); consistency (predictions on undetermined
    transitions that the env's rule judges, judged consistent) and consistency_real (the rule on the real next
    states of those transitions). Counts: n, n_determined and n_determined_invalid / _success / _other (valid
    without success), n_success / n_done / n_invalid (real) and n_success_pred / n_done_pred / n_invalid_pred.
    Means, each with `<key>_n`: next_f1 (token-F1 of the next state), next_logp and next_logp_undetermined (the
    teacher-forced mean per-token log-likelihood of the real next state, where the table has it).
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
    rs = rr >= 0.5
    pn = [p if isinstance(p, str) else None for p in table["pred_next_state"]]
    rn = table["real_next_state"].astype(str).tolist()
    exact = np.array([p is not None and p == r for p, r in zip(pn, rn, strict=True)])
    f1 = np.array([token_f1(p, r) if p is not None else 0.0 for p, r in zip(pn, rn, strict=True)])
    det = table["determined"].to_numpy(bool)
    out: dict[str, float] = {"n": float(len(table)), "n_determined": float(det.sum()),
                             "n_determined_invalid": float((det & ~rv).sum()),
                             "n_determined_success": float((det & rs).sum()),
                             "n_determined_other": float((det & rv & ~rs).sum())}
    _put(out, "parse_rate", rate_stats(ok))
    _put(out, "reward_acc", rate_stats(ok & (np.abs(pr - rr) < 1e-6)))
    _put(out, "done_acc", rate_stats(ok & (pd_ == rd)))
    _put(out, "valid_acc", rate_stats(ok & (pv == rv)))
    _put(out, "exact_next", rate_stats(exact))
    _put(out, "exact_next_determined", rate_stats(exact, det))
    _put(out, "exact_next_undetermined", rate_stats(exact, ~det))
    for name, pred, true in (("success", ok & (pr >= 0.5), rs), ("done", ok & pd_, rd), ("invalid", ok & ~pv, ~rv)):
        _put(out, f"{name}_precision", rate_stats(pred & true, pred))
        _put(out, f"{name}_recall", rate_stats(pred & true, true))
        out[f"n_{name}"], out[f"n_{name}_pred"] = float(true.sum()), float(pred.sum())
    types = (table["action_type"].astype(str).tolist() if "action_type" in table.columns
             else [action_type(a) for a in table.get("action", [""] * len(table))])
    for t, (k, n) in group_counts(exact, types).items():
        _put(out, f"exact_next/{t}", (k / n, n, *wilson_interval(k, n)))
    cons, judged = _flags(table, "consistent")
    real_cons, real_judged = _flags(table, "real_consistent")
    _put(out, "consistency", rate_stats(cons, ~det & judged))
    _put(out, "consistency_real", rate_stats(real_cons, ~det & real_judged))
    out["next_f1"], out["next_f1_n"] = float(f1.mean()), float(len(f1))
    lp = table["next_logp"].to_numpy(float) if "next_logp" in table.columns else np.full(len(table), np.nan)
    for key, where in (("next_logp", np.isfinite(lp)), ("next_logp_undetermined", np.isfinite(lp) & ~det)):
        out[key] = float(lp[where].mean()) if where.any() else math.nan
        out[f"{key}_n"] = float(where.sum())
    return out


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


def _mean(x: Sequence[float] | np.ndarray) -> float:
    x = np.asarray(x, dtype=float)
    return float(x.mean()) if x.size else math.nan
