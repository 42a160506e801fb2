"""The seed-data and experience-model gates: real GX suites accept good data and name the bad rows of corrupted
data; the experience-model gate reports each fidelity figure with its count and interval."""

import pandas as pd
import pyarrow.parquet as pq
import pytest

from dreamgym.data import io
from dreamgym.errors import GateError
from dreamgym.quality import gate, validate_seed_data


def frames(steps, tasks):
    return io.steps_table(steps).to_pandas(), pd.DataFrame([t.to_row() for t in tasks])


def test_good_data_passes(good_steps, good_tasks):
    steps, tasks = frames(good_steps, good_tasks)
    report = gate(validate_seed_data(steps, tasks, "toy"))
    assert report.ok and len(report.checks) > 20
    assert report.stats == {"rows": 9, "episodes": 3, "tasks": 4}


def test_reward_out_of_range_names_the_row(good_steps, good_tasks):
    steps, tasks = frames(good_steps, good_tasks)
    steps.loc[(steps.episode_id == "e1") & (steps.t == 0), "reward"] = 5.0
    report = validate_seed_data(steps, tasks, "toy")
    assert not report.ok
    text = report.to_text()
    assert "reward in [0, 1]" in text and "episode_id='e1'" in text and "t=0" in text
    with pytest.raises(GateError) as ei:
        gate(report)
    assert "reward in [0, 1]" in str(ei.value)


def test_missing_column_is_named(good_steps, good_tasks):
    steps, tasks = frames(good_steps, good_tasks)
    report = validate_seed_data(steps.drop(columns=["reward"]), tasks, "toy")
    text = report.to_text()
    assert "missing column(s) ['reward']" in text
    assert "column 'reward' is missing" in text


def test_two_terminal_steps_rejected(good_steps, good_tasks):
    steps, tasks = frames(good_steps, good_tasks)
    steps.loc[(steps.episode_id == "e0") & (steps.t == 0), "done"] = True
    text = validate_seed_data(steps, tasks, "toy").to_text()
    assert "exactly one terminal step per episode" in text and "episode_id='e0'" in text


def test_task_in_two_splits_rejected(good_steps, good_tasks):
    steps, tasks = frames(good_steps, good_tasks)
    steps.loc[steps.episode_id == "e2", "task_id"] = "toy/0"  # a val episode on a train task
    text = validate_seed_data(steps, tasks, "toy").to_text()
    assert "splits are disjoint by task" in text and "task_id='toy/0'" in text


def test_nulls_empty_states_and_bad_flags(good_steps, good_tasks):
    steps, tasks = frames(good_steps, good_tasks)
    steps["valid_action"] = steps["valid_action"].astype(object)
    steps.loc[1, "valid_action"] = "yes"
    steps.loc[2, "state"] = ""
    steps.loc[3, "action"] = None
    text = validate_seed_data(steps, tasks, "toy").to_text()
    assert "valid-action flag is boolean" in text
    assert "state non-empty" in text
    assert "no nulls in 'action'" in text


def test_reward_must_match_success(good_steps, good_tasks):
    steps, tasks = frames(good_steps, good_tasks)
    steps.loc[(steps.episode_id == "e1") & (steps.t == 1), "reward"] = 1.0  # failed episode with reward
    assert "reward is 1 exactly on the successful step" in validate_seed_data(steps, tasks, "toy").to_text()


def test_expert_success_threshold(good_steps, good_tasks):
    steps, tasks = frames(good_steps, good_tasks)
    assert validate_seed_data(steps, tasks, "toy", min_expert_success=0.9).ok  # both expert episodes won
    steps.loc[steps.episode_id == "e0", ["reward", "success"]] = [0.0, False]
    assert "expert success rate >= 0.9" in validate_seed_data(steps, tasks, "toy", min_expert_success=0.9).to_text()


def test_buffer_gate(good_steps):
    from dreamgym.quality import validate_buffer_rows

    steps = io.steps_table(good_steps).to_pandas()
    assert validate_buffer_rows(steps).ok
    steps.loc[0, "state"] = ""
    steps.loc[1, "source"] = "synthetic"  # no model_version
    steps.loc[2, "reward"] = -1.0
    text = validate_buffer_rows(steps).to_text()
    assert "state non-empty" in text and "reward in [0, 1]" in text
    assert "synthetic rows carry the experience-model version" in text


def test_zero_rows_are_rejected(good_steps, good_tasks):
    steps, tasks = frames(good_steps, good_tasks)
    report = validate_seed_data(steps.iloc[:0], tasks, "toy", min_expert_success=0.9)
    assert not report.ok and "at least one step: observed 0" in report.to_text()
    assert not validate_seed_data(steps, tasks.iloc[:0], "toy").ok  # an empty task list too


def test_the_task_list_is_required(good_steps):
    steps = io.steps_table(good_steps).to_pandas()
    text = validate_seed_data(steps, None, "toy").to_text()
    assert "the task list is present" in text and "tasks.parquet" in text


@pytest.mark.parametrize("column, cast, found", [
    ("done", lambda s: s.astype(int), "int64"),  # 0/1 passes "'done' is boolean" (0 == False): only the type check sees it
    ("t", lambda s: s.astype(float), "double"),
    ("reward", lambda s: s.astype(str), "string"),
    ("episode_id", lambda s: s.str.removeprefix("e").astype(int), "int64"),
    ("valid_action", lambda s: s.astype(object).where(s.index != 1, "yes"), "mixed (bool, str)"),
])
def test_column_types_are_checked(good_steps, good_tasks, column, cast, found):
    steps, tasks = frames(good_steps, good_tasks)
    steps[column] = cast(steps[column])
    text = validate_seed_data(steps, tasks, "toy").to_text()
    assert "column types match the Step schema" in text
    from dreamgym.data.schema import STEP_SCHEMA
    assert f"column='{column}', dtype='{found}', expected='{STEP_SCHEMA.field(column).type}'" in text
    assert "observed None" not in text


def test_task_column_types_are_checked(good_steps, good_tasks):
    steps, tasks = frames(good_steps, good_tasks)
    tasks["n_attempts"] = tasks["n_attempts"].astype(str)
    text = validate_seed_data(steps, tasks, "toy").to_text()
    assert "column types match the Task schema" in text and "column='n_attempts', dtype='string'" in text


def test_a_check_that_cannot_run_says_why(good_steps, good_tasks):
    steps, tasks = frames(good_steps, good_tasks)
    steps["reward"] = steps["reward"].astype(str)
    text = validate_seed_data(steps, tasks, "toy").to_text()
    assert "reward in [0, 1]: check could not run on column 'reward'" in text and "observed None" not in text


def test_the_report_names_the_source(good_steps, good_tasks):
    steps, tasks = frames(good_steps, good_tasks)
    steps["done"] = steps["done"].astype(int)
    assert "env 'toy' (my/dir/toy/steps.parquet)" in validate_seed_data(
        steps, tasks, "toy", source="my/dir/toy/steps.parquet").to_text()


# -- parse failures ---------------------------------------------------------------------------------------------------
def test_a_seed_file_without_parse_failure_passes(tmp_path, good_steps, good_tasks):
    path = tmp_path / "toy" / io.STEPS_FILE
    io.write_steps(good_steps, path)
    pq.write_table(pq.read_table(path).drop_columns(["parse_failure"]), path)  # written before the column existed
    _, tasks = frames(good_steps, good_tasks)
    assert gate(validate_seed_data(io.read_table(path), tasks, "toy")).ok


def test_a_parse_failure_column_of_another_type_fails_naming_the_file(good_steps, good_tasks):
    steps, tasks = frames(good_steps, good_tasks)
    steps["parse_failure"] = 0
    with pytest.raises(GateError) as ei:
        gate(validate_seed_data(steps, tasks, "toy", source="my/dir/toy/steps.parquet"))
    text = str(ei.value)
    assert text.splitlines()[0].startswith("gate 'seed_data' on env 'toy' (my/dir/toy/steps.parquet)")
    assert "column types match the Step schema" in text
    assert "column='parse_failure', dtype='int64', expected='string'" in text


def test_seed_rows_are_never_parse_failures(good_steps, good_tasks):
    steps, tasks = frames(good_steps, good_tasks)
    steps.loc[(steps.episode_id == "e1") & (steps.t == 0), "parse_failure"] = "unclosed <think>"
    text = validate_seed_data(steps, tasks, "toy").to_text()
    assert "seed rows have no parse failure" in text and "episode_id='e1'" in text


def test_buffer_gate_places_parse_failures(good_steps):
    from dreamgym.quality import validate_buffer_rows

    steps = io.steps_table(good_steps).to_pandas()
    steps["model_version"] = "xm"
    steps.loc[[0, 1], ["source", "valid_action", "reward", "parse_failure"]] = ["synthetic", False, 0.0, "no tags"]
    assert validate_buffer_rows(steps).ok  # synthetic invalid reward-0 rows may be parse failures
    steps.loc[2, "parse_failure"] = "no tags"  # a real row
    steps.loc[3, ["source", "parse_failure"]] = ["synthetic", "no tags"]  # a valid synthetic row
    steps.loc[4, "parse_failure"] = None
    report = validate_buffer_rows(steps)
    check = next(c for c in report.failed if c.check.startswith("parse failures are synthetic"))
    assert check.unexpected_count == 2 and [(r["episode_id"], r["t"]) for r in check.bad_rows] == [("e0", 2), ("e1", 0)]
    assert "no nulls in 'parse_failure'" in report.to_text()


# ---- the experience-model gate -------------------------------------------------------------------------------------
def _fidelity(n_success: int = 150, **over) -> dict[str, float]:
    """transition_fidelity() of a constructed table: 400 transitions, `n_success` real successes (all caught but
    one, one false alarm), every other figure at `over` (default 0.99)."""
    from dreamgym.experience.fidelity import rate_stats, transition_fidelity

    rows = [{"real_next_state": "s", "pred_next_state": "s", "parsed": True, "real_reward": float(i < n_success),
             "pred_reward": float(0 < i <= n_success), "real_done": i < n_success, "pred_done": 0 < i <= n_success,
             "real_valid": True, "pred_valid": True, "determined": i % 2 == 0, "action_type": "turn",
             "consistent": True, "real_consistent": True} for i in range(400)]
    m = transition_fidelity(pd.DataFrame(rows))
    for key, value in {"parse_rate": 0.99, "done_acc": 0.99, "valid_acc": 0.99, "exact_next": 0.99,
                       "exact_next_determined": 0.99, "consistency": 0.99, **over}.items():
        hits = [i < round(value * 200) for i in range(200)] if value == value else []  # NaN: nothing counted
        rate, n, lo, hi = rate_stats(hits)
        m.update({key: rate, f"{key}_n": n, f"{key}_lo": lo, f"{key}_hi": hi})
    return m


def _table() -> pd.DataFrame:
    return pd.DataFrame({"episode_id": ["e0"], "t": [0], "parsed": [True], "pred_reward": [0.0],
                         "pred_next_state": ["s"]})


def test_experience_gate_passes_a_faithful_model_and_reports_each_figure():
    from dreamgym.config import ExperienceGateConfig
    from dreamgym.quality import validate_experience_model
    from dreamgym.quality.gates import EXPERIENCE_GATE

    thresholds = ExperienceGateConfig(per_env={"e": {"min_consistency": 0.9}}).thresholds("e")
    assert set(thresholds) == set(EXPERIENCE_GATE)  # every threshold of the config is a check of the gate
    report = validate_experience_model(_fidelity(), _table(), thresholds, "e")
    assert report.ok, report.to_text()
    names = [c.check for c in report.checks]
    assert "real successes scored: 150 >= 100" in names
    assert any(n.startswith("success_precision 0.993 [0.963, 0.999] n=150 >= 0.95") for n in names), names
    assert any(n.startswith("consistency 0.990 [") and "n=200" in n for n in names)
    fig = report.stats["figures"]["success_recall"]
    assert fig["n"] == 150 and fig["lo"] < fig["value"] < fig["hi"]


def test_experience_gate_rejects_too_few_successes_and_weak_figures():
    from dreamgym.config import ExperienceGateConfig
    from dreamgym.quality import validate_experience_model

    thresholds = ExperienceGateConfig().thresholds("e")
    report = validate_experience_model(_fidelity(n_success=35), _table(), thresholds, "e")
    assert not report.ok
    [failed] = report.failed  # precision and recall pass at 34/35, but 35 successes are no measurement
    assert failed.check == "real successes scored: 35 >= 100"
    assert "only 35 real successes among the scored transitions" in report.to_text()
    weak = validate_experience_model(_fidelity(valid_acc=0.9, exact_next_determined=0.5), _table(), thresholds, "e")
    assert sorted(c.check.split(" ")[0] for c in weak.failed) == ["exact_next_determined", "valid_acc"]
    with pytest.raises(GateError, match="valid_acc 0.900 .* >= 0.98"):
        gate(weak)


def test_experience_gate_threshold_zero_is_off_and_nan_fails_when_on():
    from dreamgym.config import ExperienceGateConfig
    from dreamgym.errors import DreamGymError
    from dreamgym.quality import validate_experience_model

    no_rule = _fidelity(consistency=float("nan"))  # an env without a consistency rule
    off = ExperienceGateConfig().thresholds("e")
    assert off["min_consistency"] == 0 and validate_experience_model(no_rule, _table(), off, "e").ok
    on = ExperienceGateConfig(per_env={"e": {"min_consistency": 0.9}}).thresholds("e")
    report = validate_experience_model(no_rule, _table(), on, "e")
    assert [c.check for c in report.failed] == ["consistency is defined"]
    with pytest.raises(DreamGymError, match="unknown threshold"):
        validate_experience_model(no_rule, _table(), {"min_vibes": 0.5}, "e")


def test_the_loop_guard_rejects_a_broken_synthetic_batch():
    """validate_synthetic_batch: a good batch passes; low parse rate, a runaway episode, a real row among the
    synthetic ones and an empty state are each named."""
    from dreamgym.quality import validate_synthetic_batch

    def toy_rows(n, episode):
        return [dict(episode_id=episode, task_id="toy/0", env="toy", t=i, state=f"s{i}", action="a",
                     next_state=f"s{i + 1}", reward=0.0, done=False, success=False, valid_action=True,
                     source="synthetic", reasoning="", policy_version="p", model_version="m", iteration=1,
                     split="train", parse_failure="") for i in range(n)]

    good = pd.DataFrame(toy_rows(4, episode="a") + toy_rows(4, episode="b"))
    assert validate_synthetic_batch(good, horizon=5, min_parse_rate=0.9).ok
    bad = pd.DataFrame(toy_rows(8, episode="a") + toy_rows(4, episode="b"))
    bad.loc[0:5, ["parse_failure", "valid_action", "reward"]] = ["no </done>", False, 0.0]
    bad.loc[9, "source"], bad.loc[10, "state"] = "real", ""
    report = validate_synthetic_batch(bad, horizon=5, min_parse_rate=0.9)
    text = report.to_text()
    assert not report.ok and "parse rate 0.500 >= 0.9" in text and "no episode longer than the horizon (5" in text
    assert "every row is synthetic" in text and "state non-empty" in text
    assert report.stats["parse_failures"] == 6 and report.stats["max_episode_len"] == 8
