"""The Arrow schemas derived from the Task and Step dataclasses, and Step files written before `parse_failure`."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dreamgym.data import io
from dreamgym.data.schema import ADDED_STEP_COLUMNS, STEP_SCHEMA, TASK_SCHEMA, Step, Task, arrow_type, row_schema

#: the hand-written schemas the derived ones replace (before `parse_failure` was added)
OLD_TASK_SCHEMA = pa.schema([
    ("task_id", pa.string()), ("env", pa.string()), ("instruction", pa.string()), ("split", pa.string()),
    ("spec", pa.string()), ("source", pa.string()), ("parent_task_id", pa.string()), ("n_attempts", pa.int64()),
    ("success_rate", pa.float64()),
])
OLD_STEP_SCHEMA = pa.schema([
    ("episode_id", pa.string()), ("task_id", pa.string()), ("env", pa.string()), ("t", pa.int64()),
    ("state", pa.string()), ("action", pa.string()), ("next_state", pa.string()), ("reward", pa.float64()),
    ("done", pa.bool_()), ("success", pa.bool_()), ("valid_action", pa.bool_()), ("source", pa.string()),
    ("reasoning", pa.string()), ("policy_version", pa.string()), ("model_version", pa.string()),
    ("iteration", pa.int64()), ("split", pa.string()),
])


@pytest.mark.parametrize("derived, old", [
    (TASK_SCHEMA, OLD_TASK_SCHEMA),
    (STEP_SCHEMA, pa.schema([*OLD_STEP_SCHEMA, pa.field("parse_failure", pa.string())])),
])
def test_derived_schemas_equal_the_hand_written_ones(derived, old):
    assert derived.names == old.names
    for got, want in zip(derived, old, strict=True):
        assert (got.name, got.type, got.nullable, got.metadata) == (want.name, want.type, want.nullable, want.metadata)
    assert derived.equals(old, check_metadata=True)
    assert row_schema(Task).equals(TASK_SCHEMA) and row_schema(Step).equals(STEP_SCHEMA)


@pytest.mark.parametrize("annotation, arrow", [
    (str, pa.string()), (int, pa.int64()), (float, pa.float64()), (bool, pa.bool_()),
    (dict[str, Any], pa.string()), (str | None, pa.string()), (float | None, pa.float64()),
])
def test_arrow_type_of_each_annotation(annotation, arrow):
    assert arrow_type(annotation) == arrow


@pytest.mark.parametrize("annotation", [list[int], int | str, bytes])
def test_an_unmapped_annotation_is_refused(annotation):
    with pytest.raises(TypeError, match="no Arrow type"):
        arrow_type(annotation)


def test_parse_failure_is_a_step_field_that_defaults_to_empty():
    step = Step("e", "toy/0", "toy", 0, "s", "a", "n", 0.0, True, False, True)
    assert step.parse_failure == "" and step.to_row()["parse_failure"] == ""
    assert ADDED_STEP_COLUMNS == {"parse_failure": ""}
    assert io.steps_table([step]).schema.equals(STEP_SCHEMA)


def test_writers_are_deterministic_and_read_back(tmp_path, good_steps, good_tasks):
    a = io.write_steps(good_steps, tmp_path / "a" / io.STEPS_FILE)
    b = io.write_steps(list(good_steps), tmp_path / "b" / io.STEPS_FILE)
    assert a.read_bytes() == b.read_bytes() and not (tmp_path / "a" / "steps.parquet.tmp").exists()
    assert io.read_table(a).to_dict("records") == [s.to_row() for s in good_steps]
    t = io.write_tasks(good_tasks, tmp_path / "a" / io.TASKS_FILE)
    assert pq.read_schema(t).equals(TASK_SCHEMA) and io.read_tasks(t) == good_tasks
    assert list(io.read_table(t).columns) == list(TASK_SCHEMA.names)  # a Task file gets no Step column


def test_a_step_file_without_parse_failure_reads_with_it_empty(tmp_path, good_steps):
    new = io.write_steps(good_steps, tmp_path / "new.parquet")
    old = tmp_path / "old.parquet"
    pq.write_table(pq.read_table(new).drop_columns(["parse_failure"]), old)
    pd.testing.assert_frame_equal(io.read_table(old), io.read_table(new))  # same columns, order, dtypes, values


def test_other_missing_columns_stay_missing(tmp_path, good_steps):
    path = tmp_path / "steps.parquet"
    pq.write_table(io.steps_table(good_steps).drop_columns(["reward", "parse_failure"]), path)
    df = io.read_table(path)
    assert "reward" not in df.columns and (df["parse_failure"] == "").all()
