"""The seed-data gate: real GX suites accept good data and name the bad rows of corrupted data."""

import pandas as pd
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
