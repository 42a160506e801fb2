"""Great Expectations gates on what each stage consumes and produces.

A gate validates one or more DataFrames against GX expectation suites, collects a `GateReport` (which check
failed, how many rows, which rows by their key columns) and `gate()` raises `GateError` with that report in
readable form. Checks that span rows (one terminal step per episode, a task in one split only) are run as
ordinary column expectations on small derived tables (one row per episode, one row per task), so every
check is a GX expectation and shows up in the GX result.
"""

from __future__ import annotations

import itertools
import json
import logging
from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd
import pyarrow as pa

from dreamgym.data.io import TASKS_FILE
from dreamgym.data.schema import SPLITS, STEP_COLUMNS, STEP_SCHEMA, TASK_COLUMNS, TASK_SCHEMA
from dreamgym.errors import DreamGymError, GateError

log = logging.getLogger(__name__)
MAX_BAD_ROWS = 10  # bad rows named per failed check in the report


@dataclass
class CheckResult:
    table: str
    check: str
    ok: bool
    detail: str = ""
    unexpected_count: int = 0
    bad_rows: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class GateReport:
    gate: str
    subject: str
    checks: list[CheckResult] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    @property
    def failed(self) -> list[CheckResult]:
        return [c for c in self.checks if not c.ok]

    def to_dict(self) -> dict[str, Any]:
        return {"gate": self.gate, "subject": self.subject, "ok": self.ok,
                "n_checks": len(self.checks), "n_failed": len(self.failed), "stats": self.stats,
                "checks": [asdict(c) for c in self.checks]}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, default=str)

    def to_text(self) -> str:
        head = f"gate '{self.gate}' on {self.subject}: " + (
            f"passed {len(self.checks)} checks" if self.ok else f"{len(self.failed)} of {len(self.checks)} checks failed")
        lines = [head]
        for c in self.failed:
            lines.append(f"  - [{c.table}] {c.check}: {c.detail}")
            for row in c.bad_rows[:MAX_BAD_ROWS]:
                lines.append("      " + ", ".join(f"{k}={_short(v)}" for k, v in row.items()))
            if c.unexpected_count > len(c.bad_rows[:MAX_BAD_ROWS]):
                lines.append(f"      ... {c.unexpected_count} rows in all")
        return "\n".join(lines)


def _short(v: Any, n: int = 60) -> str:
    s = repr(v.item() if hasattr(v, "item") else v)
    return s if len(s) <= n else s[: n - 3] + "..."


def gate(report: GateReport) -> GateReport:
    """Pass the report through if every check held; else raise GateError naming the failed checks and rows."""
    if not report.ok:
        raise GateError(report.to_text(), report.to_dict())
    return report


# ---------------------------------------------------------------------------------------------------------------
# GX plumbing
_CONTEXT = None
_COUNTER = itertools.count()


def _context():
    """One ephemeral GX context per process (creating one costs seconds)."""
    global _CONTEXT
    if _CONTEXT is None:
        import great_expectations as gx

        _CONTEXT = gx.get_context(mode="ephemeral")
        try:
            from great_expectations.data_context.types.base import ProgressBarsConfig

            _CONTEXT.variables.progress_bars = ProgressBarsConfig(globally=False)
        except Exception:  # progress bars are cosmetic
            pass
    return _CONTEXT


def run_suite(df: pd.DataFrame, table: str, expectations: list, key_columns: list[str]) -> list[CheckResult]:
    """Validate `df` with a GX suite of `expectations`; return one CheckResult per expectation.

    `key_columns` name the bad rows in the report (only those present in df are used)."""
    import great_expectations as gx

    ctx = _context()
    uid = f"{table}-{next(_COUNTER)}"
    asset = ctx.data_sources.add_pandas(f"ds-{uid}").add_dataframe_asset(uid)
    batch_def = asset.add_batch_definition_whole_dataframe("all")
    suite = ctx.suites.add(gx.ExpectationSuite(name=f"suite-{uid}"))
    for e in expectations:
        suite.add_expectation(e)
    vd = ctx.validation_definitions.add(gx.ValidationDefinition(name=f"vd-{uid}", data=batch_def, suite=suite))
    keys = [c for c in key_columns if c in df.columns]
    fmt = {"result_format": "COMPLETE", "unexpected_index_column_names": keys} if keys else {"result_format": "COMPLETE"}
    result = vd.run(batch_parameters={"dataframe": df.reset_index(drop=True)}, result_format=fmt)
    dtypes = {c: str(t) for c, t in df.dtypes.items()}
    return [_check_from_gx(table, r.to_json_dict(), dtypes) for r in result.results]


def _exception_message(r: dict) -> str | None:
    """The message of the exception a GX check raised, if any: GX puts it either at the top of
    `exception_info` or in one entry per failed metric (keyed by the metric's id)."""
    exc = r.get("exception_info") or {}
    for info in [exc, *(v for v in exc.values() if isinstance(v, dict))]:
        if info.get("raised_exception") or info.get("exception_message"):
            msg = str(info.get("exception_message") or "an exception").strip().splitlines()
            return msg[-1] if msg else "an exception"
    return None


def _check_from_gx(table: str, r: dict, columns: dict[str, str]) -> CheckResult:
    """One GX result as a CheckResult; `columns` maps the validated frame's columns to their dtypes."""
    cfg = r["expectation_config"]
    kind, kw = cfg["type"], {k: v for k, v in cfg["kwargs"].items() if k != "batch_id"}
    res = r.get("result") or {}
    meta = cfg.get("meta") or {}
    name = meta.get("check") or f"{kind}({', '.join(f'{k}={v}' for k, v in kw.items())})"
    col = kw.get("column")
    if r["success"]:
        return CheckResult(table, name, True)
    if col is not None and col not in columns:
        return CheckResult(table, name, False, f"column '{col}' is missing")
    exc = _exception_message(r)
    if exc is not None:
        on = f" on column '{col}' (dtype {columns[col]})" if col is not None else ""
        return CheckResult(table, name, False, f"check could not run{on}: {exc}")
    if kind == "expect_table_columns_to_match_set":
        observed = set(res.get("observed_value") or [])
        want = set(kw.get("column_set") or [])
        parts = []
        if want - observed:
            parts.append(f"missing column(s) {sorted(want - observed)}")
        if observed - want:
            parts.append(f"unexpected column(s) {sorted(observed - want)}")
        return CheckResult(table, name, False, "; ".join(parts) or "columns differ")
    n = int(res.get("unexpected_count") or 0)
    rows = res.get("unexpected_index_list") or [{col: v} for v in (res.get("partial_unexpected_list") or [])]
    rows = [{k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()} if isinstance(row, dict)
            else {"row": row} for row in rows[:MAX_BAD_ROWS]]
    if n:
        total = res.get("element_count")
        detail = f"{n} row(s) of {total} violate it" if total is not None else f"{n} row(s) violate it"
    elif res.get("observed_value") is not None:
        detail = f"observed {_short(res['observed_value'])}"
    else:  # e.g. a mean over no rows
        detail = "nothing to measure (no rows" + (f" with a value in '{col}')" if col is not None else ")")
    return CheckResult(table, name, False, detail, n, rows)


def _named(expectation, check: str):
    expectation.meta = {"check": check}
    return expectation


# ---------------------------------------------------------------------------------------------------------------
# suites
def _step_core(not_null: tuple[str, ...], max_reward: float, max_text_chars: int) -> list:
    """Expectations every Step table must meet: exact schema, no nulls in `not_null`, reward range,
    non-empty bounded states."""
    import great_expectations.expectations as E

    ex = [_named(E.ExpectTableColumnsToMatchSet(column_set=list(STEP_COLUMNS), exact_match=True),
                 "schema: exactly the Step columns")]
    ex += [_named(E.ExpectColumnValuesToNotBeNull(column=c), f"no nulls in '{c}'") for c in not_null]
    ex.append(_named(E.ExpectColumnValuesToBeBetween(column="reward", min_value=0.0, max_value=max_reward),
                     f"reward in [0, {max_reward:g}]"))
    ex += [_named(E.ExpectColumnValueLengthsToBeBetween(column=c, min_value=1, max_value=max_text_chars),
                  f"{c} non-empty and <= {max_text_chars} chars") for c in ("state", "next_state")]
    return ex


def step_expectations(max_reward: float, max_text_chars: int, envs: list[str], splits=("train", "val", "test")) -> list:
    import great_expectations.expectations as E

    ex = _step_core(("episode_id", "task_id", "env", "t", "state", "action", "next_state", "reward", "done",
                     "success", "valid_action", "source", "split", "parse_failure"), max_reward, max_text_chars)
    ex += [
        _named(E.ExpectTableRowCountToBeBetween(min_value=1), "at least one step"),
        _named(E.ExpectColumnValuesToBeInSet(column="done", value_set=[True, False]), "'done' is boolean"),
        _named(E.ExpectColumnValuesToBeInSet(column="success", value_set=[True, False]), "'success' is boolean"),
        _named(E.ExpectColumnValuesToBeInSet(column="valid_action", value_set=[True, False]),
               "valid-action flag is boolean"),
        _named(E.ExpectColumnValuesToBeInSet(column="env", value_set=list(envs)), f"env in {list(envs)}"),
        _named(E.ExpectColumnValuesToBeInSet(column="source", value_set=["real"]), "seed rows are real"),
        _named(E.ExpectColumnValuesToBeInSet(column="parse_failure", value_set=[""]),
               "seed rows have no parse failure"),
        _named(E.ExpectColumnValuesToBeInSet(column="split", value_set=list(splits)), f"split in {list(splits)}"),
        _named(E.ExpectColumnValuesToBeBetween(column="t", min_value=0), "t >= 0"),
        _named(E.ExpectColumnValueLengthsToBeBetween(column="action", min_value=0, max_value=max_text_chars),
               f"action <= {max_text_chars} chars"),
        _named(E.ExpectCompoundColumnsToBeUnique(column_list=["episode_id", "t"]), "(episode_id, t) unique"),
    ]
    return ex


def episode_table(steps: pd.DataFrame) -> pd.DataFrame:
    """One row per episode: terminal-step count, whether the terminal step is the last one, t contiguity,
    reward consistency (reward 1 exactly on successful steps)."""
    need = {"episode_id", "t", "done", "reward", "success"}
    if not need <= set(steps.columns):
        return pd.DataFrame(columns=["episode_id", "n_terminal", "terminal_is_last", "t_contiguous", "reward_matches_success", "won"])
    g = steps.sort_values(["episode_id", "t"]).groupby("episode_id", sort=True)
    done = steps["done"].fillna(False).astype(bool)
    out = pd.DataFrame({
        "n_terminal": done.groupby(steps["episode_id"]).sum().astype(int),
        "terminal_is_last": g["done"].last().fillna(False).astype(bool),
        "t_contiguous": g["t"].agg(lambda s: list(s) == list(range(len(s)))),
        "reward_matches_success": (steps["reward"].eq(1.0) == steps["success"].fillna(False).astype(bool))
        .groupby(steps["episode_id"]).all(),
        "won": steps["success"].fillna(False).astype(bool).groupby(steps["episode_id"]).any(),
    })
    if "policy_version" in steps.columns:
        out["policy"] = g["policy_version"].first().str.removeprefix("collector:").str.split("-eps").str[0]
    return out.reset_index()


def episode_expectations() -> list:
    import great_expectations.expectations as E

    return [
        _named(E.ExpectColumnValuesToBeBetween(column="n_terminal", min_value=1, max_value=1),
               "exactly one terminal step per episode"),
        _named(E.ExpectColumnValuesToBeInSet(column="terminal_is_last", value_set=[True]),
               "the terminal step is the episode's last"),
        _named(E.ExpectColumnValuesToBeInSet(column="t_contiguous", value_set=[True]), "t runs 0..n-1 in each episode"),
        _named(E.ExpectColumnValuesToBeInSet(column="reward_matches_success", value_set=[True]),
               "reward is 1 exactly on the successful step (outcome-only)"),
    ]


def task_split_table(steps: pd.DataFrame, tasks: pd.DataFrame | None) -> pd.DataFrame:
    """One row per task id: how many distinct splits it appears in (across steps and the task list)."""
    frames = [f[["task_id", "split"]] for f in (steps, tasks) if f is not None and {"task_id", "split"} <= set(f.columns)]
    if not frames:
        return pd.DataFrame({"task_id": [], "n_splits": []})
    both = pd.concat(frames).dropna()
    return both.groupby("task_id")["split"].nunique().rename("n_splits").reset_index()


def task_expectations(envs: list[str]) -> list:
    import great_expectations.expectations as E

    return [
        _named(E.ExpectTableColumnsToMatchSet(column_set=list(TASK_COLUMNS), exact_match=True),
               "schema: exactly the Task columns"),
        _named(E.ExpectTableRowCountToBeBetween(min_value=1), "at least one task"),
        _named(E.ExpectColumnValuesToBeUnique(column="task_id"), "task_id unique"),
        *(_named(E.ExpectColumnValuesToNotBeNull(column=c), f"no nulls in '{c}'")
          for c in ("task_id", "env", "instruction", "split")),
        _named(E.ExpectColumnValuesToBeInSet(column="split", value_set=list(SPLITS)), f"split in {list(SPLITS)}"),
        _named(E.ExpectColumnValuesToBeInSet(column="env", value_set=list(envs)), f"env in {list(envs)}"),
    ]


def _arrow_type(values: pd.Series) -> str:
    """The Arrow type a column's values have ('null' if all are null; 'mixed (str, int)' if no one type fits)."""
    try:
        t = pa.array(values, from_pandas=True).type
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, ValueError, TypeError):
        kinds = sorted({type(v).__name__ for v in values.dropna()})
        return f"mixed ({', '.join(kinds)})"
    return str(pa.string() if t == pa.large_string() else t)


def column_type_table(df: pd.DataFrame, schema: pa.Schema) -> pd.DataFrame:
    """One row per column of `df` that `schema` names: the Arrow type of its values (`dtype`), the schema's
    (`expected`) and whether they agree (`ok`). An all-null column agrees with any type (nulls have their own
    checks); an int column that holds nulls reads as double, so it disagrees."""
    rows = []
    for f in schema:
        if f.name in df.columns:
            found = _arrow_type(df[f.name])
            rows.append({"column": f.name, "dtype": found, "expected": str(f.type),
                         "ok": found in (str(f.type), "null")})
    return pd.DataFrame(rows, columns=["column", "dtype", "expected", "ok"])


def _type_checks(df: pd.DataFrame, schema: pa.Schema, table: str, what: str) -> list[CheckResult]:
    """The GX check that every column of `df` has the type `schema` gives it; bad rows name column and types."""
    import great_expectations.expectations as E

    types = column_type_table(df, schema)
    checks = run_suite(types, table, [_named(E.ExpectColumnValuesToBeInSet(column="ok", value_set=[True]),
                                             f"column types match the {what} schema")], ["column", "dtype", "expected"])
    for c in checks:
        if not c.ok and c.bad_rows:
            c.bad_rows = [{k: v for k, v in r.items() if k != "ok"} for r in c.bad_rows]
            c.detail = f"{c.unexpected_count} of {len(types)} columns have another type"
    return checks


def validate_seed_data(steps: pd.DataFrame, tasks: pd.DataFrame | None, env: str, max_reward: float = 1.0,
                       max_text_chars: int = 20000, min_expert_success: float | None = None,
                       source: str | None = None) -> GateReport:
    """The seed-data gate for one env: Step schema (columns and their types) and values, at least one step,
    per-episode structure, split disjointness by task, the task list (required: `tasks` None fails the gate)
    with its schema and at least one task, every step's task in it, and optionally the expert's success rate
    (checked when there are expert episodes). `source` names where the data came from in the report
    (e.g. the user's import folder), so errors point at the user's files."""
    import great_expectations.expectations as E

    report = GateReport("seed_data", f"env '{env}'" + (f" ({source})" if source else ""))
    report.checks += run_suite(steps, "steps", step_expectations(max_reward, max_text_chars, [env]), ["episode_id", "t"])
    report.checks += _type_checks(steps, STEP_SCHEMA, "steps", "Step")
    try:
        episodes = episode_table(steps)
    except (TypeError, ValueError, AttributeError, KeyError) as e:  # columns of the wrong type (reported above)
        report.checks.append(CheckResult("episodes", "per-episode checks", False, f"could not run: {e}"))
        episodes = None
    n_experts = 0
    if episodes is not None:
        ep_checks = episode_expectations()
        if min_expert_success is not None and "policy" in episodes.columns:
            experts = episodes[episodes["policy"] == "expert"]
            n_experts = len(experts)
            if n_experts:
                report.checks += run_suite(experts[["episode_id", "won"]], "expert_episodes", [_named(
                    E.ExpectColumnMeanToBeBetween(column="won", min_value=min_expert_success, max_value=1.0),
                    f"expert success rate >= {min_expert_success:g}")], ["episode_id"])
        report.checks += run_suite(episodes, "episodes", ep_checks, ["episode_id"])
    report.checks += run_suite(task_split_table(steps, tasks), "task_splits", [
        _named(E.ExpectColumnValuesToBeBetween(column="n_splits", min_value=1, max_value=1),
               "splits are disjoint by task (each task in one split)")], ["task_id"])
    if tasks is None:
        report.checks.append(CheckResult("tasks", "the task list is present", False,
                                         f"no task list ({TASKS_FILE}) next to the steps"))
    else:
        report.checks += run_suite(tasks, "tasks", task_expectations([env]), ["task_id"])
        report.checks += _type_checks(tasks, TASK_SCHEMA, "tasks", "Task")
        if "task_id" in tasks.columns and "task_id" in steps.columns:
            unknown = sorted(set(steps["task_id"].dropna()) - set(tasks["task_id"].dropna()), key=str)
            report.checks.append(CheckResult("steps", "every step's task is in the task list", not unknown,
                                             f"{len(unknown)} task id(s) not in {TASKS_FILE}" if unknown else "",
                                             len(unknown), [{"task_id": t} for t in unknown[:MAX_BAD_ROWS]]))
    report.stats = {"rows": int(len(steps)), "episodes": int(len(episodes)) if episodes is not None else 0,
                    "tasks": int(len(tasks)) if tasks is not None else 0}
    if min_expert_success is not None:
        report.stats["expert_episodes"] = int(n_experts)
    return report


def _parse_failure_check(steps: pd.DataFrame) -> CheckResult:
    """The check that every row flagged as a parse failure is a synthetic, invalid, reward-0 transition."""
    flagged = steps[steps["parse_failure"].fillna("").ne("")]
    bad = flagged[flagged["source"].ne("synthetic") | flagged["valid_action"].ne(False) | flagged["reward"].ne(0.0)]
    return CheckResult("steps", "parse failures are synthetic invalid transitions with reward 0", bad.empty,
                       f"{len(bad)} parse-failure row(s) that are not" if len(bad) else "", len(bad),
                       bad[["episode_id", "t", "source", "parse_failure"]].head(MAX_BAD_ROWS).to_dict("records"))


def validate_buffer_rows(steps: pd.DataFrame, max_reward: float = 1.0, max_text_chars: int = 20000,
                         subject: str = "rows entering the replay buffer") -> GateReport:
    """The gate on what enters the replay buffer (real or synthetic Step rows), and on the buffer table itself
    after a write (`subject` says which): the Step schema, no nulls in the key fields, non-empty bounded states,
    reward in range, known sources, (episode_id, t) unique, the model version on synthetic rows, and parse
    failures only on synthetic rows, as invalid transitions with reward 0."""
    import great_expectations.expectations as E

    ex = _step_core(("episode_id", "task_id", "env", "t", "state", "action", "next_state", "reward", "done",
                     "source", "parse_failure"), max_reward, max_text_chars)
    ex.append(_named(E.ExpectColumnValuesToBeInSet(column="source", value_set=["real", "synthetic"]),
                     "source is real or synthetic"))
    ex.append(_named(E.ExpectCompoundColumnsToBeUnique(column_list=["episode_id", "t"]),
                     "(episode_id, t) unique (each transition once)"))
    report = GateReport("buffer_rows", subject)
    report.checks += run_suite(steps, "steps", ex, ["episode_id", "t"])
    if {"source", "model_version"} <= set(steps.columns):
        synth = steps[steps["source"] == "synthetic"]
        bad = synth[synth["model_version"].fillna("").eq("")]
        report.checks.append(CheckResult("steps", "synthetic rows carry the experience-model version", bad.empty,
                                         f"{len(bad)} synthetic row(s) without model_version" if len(bad) else "",
                                         len(bad), bad[["episode_id", "t"]].head(MAX_BAD_ROWS).to_dict("records")))
    if {"source", "parse_failure", "valid_action", "reward"} <= set(steps.columns):
        report.checks.append(_parse_failure_check(steps))
    report.stats = {"rows": int(len(steps))}
    return report


#: experience-model gate threshold -> the fidelity figure it bounds below (experience.fidelity.transition_fidelity)
EXPERIENCE_GATE = {"min_parse_rate": "parse_rate", "min_success_precision": "success_precision",
                   "min_success_recall": "success_recall", "min_success_count": "n_success", "min_done_acc": "done_acc",
                   "min_valid_acc": "valid_acc", "min_exact_next": "exact_next",
                   "min_exact_next_determined": "exact_next_determined", "min_consistency": "consistency"}


def validate_experience_model(metrics: dict[str, float], predictions: pd.DataFrame, thresholds: dict[str, float],
                              env: str, max_reward: float = 1.0) -> GateReport:
    """The gate that decides whether an experience model may drive RL.

    Two GX suites: the fidelity figures against `thresholds` (the keys of EXPERIENCE_GATE; a threshold of 0 is
    off; a NaN figure, e.g. no real success among the scored transitions, fails a check that is on), each check
    named with its figure, count and Wilson 95% interval; `min_success_count` bounds the number of real successes
    scored (too few fail the gate: a success precision from a few dozen is no measurement). And the model's parsed
    outputs (prediction_table rows): predicted reward in [0, max_reward], non-empty next state. The report's stats
    hold every gated figure with its count and interval.
    """
    import great_expectations.expectations as E

    from dreamgym.experience.fidelity import figure

    unknown = sorted(set(thresholds) - set(EXPERIENCE_GATE))
    if unknown:
        raise DreamGymError(f"experience-model gate: unknown threshold(s) {unknown}; known: {sorted(EXPERIENCE_GATE)}")
    gated = {key: EXPERIENCE_GATE[key] for key, v in thresholds.items() if float(v) > 0}
    row = {m: metrics.get(m, float("nan")) for m in gated.values()}
    row = {k: (None if v is None or v != v else float(v)) for k, v in row.items()}  # NaN -> null (fails)
    ex, count_check = [], ""
    for key, metric in gated.items():
        low, is_count = float(thresholds[key]), key == "min_success_count"
        check = (f"real successes scored: {int(row[metric] or 0)} >= {int(low)}" if is_count
                 else f"{metric} {figure(metrics, metric)} >= {low}")
        count_check = check if is_count else count_check
        ex.append(_named(E.ExpectColumnValuesToNotBeNull(column=metric), f"{metric} is defined"))
        ex.append(_named(E.ExpectColumnValuesToBeBetween(column=metric, min_value=low,
                                                         max_value=None if is_count else 1.0), check))
    report = GateReport("experience_model", f"the {env} experience model's held-out fidelity")
    if ex:
        report.checks += run_suite(pd.DataFrame([{"env": env, **row}]), "fidelity", ex, ["env"])
    for c in report.checks:
        if c.check == count_check and not c.ok:
            n = int(row["n_success"] or 0)
            c.detail = (f"only {n} real successes among the scored transitions: success precision / recall from so "
                        f"few is no measurement; score more held-out transitions (experience.eval_examples, "
                        f"seed_data.test_episodes)")
    parsed = predictions[predictions["parsed"]] if "parsed" in predictions.columns else predictions
    if len(parsed):
        out = pd.DataFrame({"episode_id": parsed["episode_id"], "t": parsed["t"],
                            "pred_reward": parsed["pred_reward"].astype(float),
                            "pred_next_state": parsed["pred_next_state"].fillna("").astype(str)})
        report.checks += run_suite(out, "predictions", [
            _named(E.ExpectColumnValuesToBeBetween(column="pred_reward", min_value=0.0, max_value=max_reward),
                   f"predicted reward in [0, {max_reward}]"),
            _named(E.ExpectColumnValueLengthsToBeBetween(column="pred_next_state", min_value=1),
                   "predicted next state is non-empty"),
        ], ["episode_id", "t"])
    figures = {m: {"value": metrics.get(m), **{s: metrics.get(f"{m}_{s}") for s in ("n", "lo", "hi")}}
               for m in EXPERIENCE_GATE.values() if m != "n_success"}
    report.stats = {"env": env, "n_success": metrics.get("n_success"), "figures": figures,
                    "predictions": int(len(predictions))}
    return report


def validate_synthetic_batch(steps: pd.DataFrame, *, horizon: int, min_parse_rate: float, max_reward: float = 1.0,
                             max_text_chars: int = 20000, subject: str = "a loop iteration's synthetic transitions"
                             ) -> GateReport:
    """The DreamGym loop's guard on one iteration's synthetic Step rows, before they reach the policy update or the
    replay buffer: everything validate_buffer_rows checks (schema, non-empty states of at most `max_text_chars`,
    reward in [0, max_reward], (episode_id, t) unique, model version, parse failures as invalid reward-0 steps),
    plus the rows are all synthetic, the parse rate (share of steps whose prediction parsed) is at least
    `min_parse_rate`, and no episode runs longer than `horizon` steps (a runaway episode)."""
    import great_expectations.expectations as E

    report = validate_buffer_rows(steps, max_reward, max_text_chars, subject)
    report.gate = "synthetic_batch"
    n = len(steps)
    failed = int(steps["parse_failure"].fillna("").ne("").sum()) if "parse_failure" in steps.columns else 0
    lengths = steps.groupby("episode_id")["t"].count() if n else pd.Series(dtype=int)
    summary = pd.DataFrame([{"batch": "iteration", "parse_rate": (n - failed) / n if n else None,
                             "max_episode_len": int(lengths.max()) if n else None,
                             "synthetic_share": float(steps["source"].eq("synthetic").mean()) if n else None}])
    report.checks += run_suite(summary, "batch", [
        _named(E.ExpectColumnValuesToBeBetween(column="parse_rate", min_value=float(min_parse_rate), max_value=1.0),
               f"parse rate {summary['parse_rate'][0] if n else float('nan'):.3f} >= {min_parse_rate}"),
        _named(E.ExpectColumnValuesToBeBetween(column="max_episode_len", min_value=1, max_value=int(horizon)),
               f"no episode longer than the horizon ({horizon} steps)"),
        _named(E.ExpectColumnValuesToBeBetween(column="synthetic_share", min_value=1.0, max_value=1.0),
               "every row is synthetic"),
    ], ["batch"])
    report.stats = {"rows": n, "episodes": int(len(lengths)), "parse_failures": failed,
                    "parse_rate": (n - failed) / n if n else None,
                    "max_episode_len": int(lengths.max()) if n else None}
    return report
