"""The parse_failure column in the buffer: Step rows without it, SyntheticEnv rows with it, and real LanceDB tables
made before it existed (built here with the old schema), which gain it on open in one commit."""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass

import lancedb
import pyarrow as pa
import pytest
from bufutil import toy_rows

from dreamgym.buffer import ReplayBuffer, buffer_schema, transition_text
from dreamgym.buffer.schema import row_keys, table_rows, to_step_table
from dreamgym.data.schema import STEP_COLUMNS, Task
from dreamgym.envs import get_spec
from dreamgym.errors import DreamGymError
from dreamgym.experience.format import STOP, format_target
from dreamgym.experience.prompt import PromptSpec
from dreamgym.experience.synthetic import ExperienceModel, SyntheticEnv
from dreamgym.quality import validate_buffer_rows

OLD_COLUMNS = [c for c in STEP_COLUMNS if c != "parse_failure"]


def old_key(row: dict) -> str:
    """The row key as computed before parse_failure existed (blake2b over the old Step columns)."""
    return hashlib.blake2b("\x1f".join(repr(row[c]) for c in OLD_COLUMNS).encode("utf-8"), digest_size=16).hexdigest()


def old_table(uri, embedder, rows: list[dict], table: str = "transitions"):
    """A real LanceDB table with the buffer schema of before parse_failure, holding `rows` (one commit), tagged 'old'."""
    new = buffer_schema(embedder.dim, embedder.signature)
    schema = pa.schema([f for f in new if f.name != "parse_failure"], metadata=new.metadata)
    t = lancedb.connect(str(uri)).create_table(table, schema=schema, data_storage_version="2.1")
    steps = to_step_table(rows)
    vecs = embedder.embed([transition_text(r["state"], r["action"]) for r in rows])
    data = table_rows(steps, vecs, "batch-0", embedder.dim).drop_columns(["parse_failure"])
    assert data.column("row_key").to_pylist() == [old_key(r) for r in rows]  # the keys the old code wrote
    t.add(data.cast(schema))
    t.tags.create("old", t.version)
    return t


def test_rows_without_the_column_enter_as_parsed(make_buffer):
    rows = toy_rows(3)
    for r in rows:
        del r["parse_failure"]
    assert to_step_table(rows).column("parse_failure").to_pylist() == ["", "", ""]
    buf = make_buffer()
    buf.add(rows)
    assert buf.steps_frame()["parse_failure"].tolist() == ["", "", ""]


def test_a_parse_failure_of_another_type_or_null_is_refused():
    rows = toy_rows(2)
    rows[1]["parse_failure"] = 3
    with pytest.raises(DreamGymError, match="column 'parse_failure'"):
        to_step_table(rows)
    rows[1]["parse_failure"] = None
    with pytest.raises(DreamGymError, match="column 'parse_failure' has 1 null value"):
        to_step_table(rows)


def test_row_keys_count_parse_failure_only_when_set():
    rows = toy_rows(2)
    assert row_keys(to_step_table(rows)) == [old_key(r) for r in rows]
    rows[1]["parse_failure"] = "unclosed <think>"
    keys = row_keys(to_step_table(rows))
    assert keys[0] == old_key(rows[0]) and keys[1] != old_key(rows[1])


# -- SyntheticEnv rows ------------------------------------------------------------------------------------------------
@dataclass
class _Gen:
    text: str


class Scripted:
    """A Generator stand-in answering the n-th prompt with answers[n % len(answers)]."""

    def __init__(self, *answers: str):
        self.answers, self.n = answers, 0
        self.stop_strings, self.max_new_tokens, self.batch_size, self.seed = (STOP,), 64, 8, 0
        self.model = self.tokenizer = None

    def generate(self, prompts):
        out = [_Gen(self.answers[(self.n + i) % len(self.answers)]) for i in range(len(prompts))]
        self.n += len(prompts)
        return out


def test_synthetic_parse_failures_land_in_the_buffer_flagged(make_buffer, real_steps):
    task = Task(task_id="babyai/t0", env="babyai", instruction="go to the red ball", split="train")
    ok = format_target("why", True, "red ball 1: 1 ahead", 0.0, False)
    gen = Scripted(ok, "<think>oops", ok)  # the 2nd step's output and its retry do not parse
    xm = ExperienceModel(gen, PromptSpec(get_spec("babyai"), history_window=2, k=0, budget=3072, state_budget=600,
                                         with_reasoning=True), retry_generator=Scripted("<think>again"), version="xm")
    env = SyntheticEnv(xm, [task], initial_state=lambda t: "red ball 1: 2 ahead", max_steps=3)
    env.reset(task)
    infos = [env.step("move forward")[3] for _ in range(3)]
    assert [(i["parse_failed"], i["parse_failure"], i["reasoning"]) for i in infos] == [
        (False, "", "why"), (True, "unclosed <think>", ""), (False, "", "why")]
    buf = make_buffer()
    buf.seed(real_steps.head(20))
    assert buf.add(env.drain_steps()) == 3
    table = buf.steps_frame()
    assert list(table.columns) == list(STEP_COLUMNS)  # real and synthetic rows share every column
    synth = table[table.source == "synthetic"].sort_values("t")
    assert synth["parse_failure"].tolist() == ["", "unclosed <think>", ""]
    assert synth["reasoning"].tolist() == ["why", "", "why"] and synth["valid_action"].tolist() == [True, False, True]
    assert (table[table.source == "real"]["parse_failure"] == "").all()
    assert validate_buffer_rows(table).ok
    assert buf.search("red ball 1: 1 ahead", "move forward", k=3, source="synthetic", where="parse_failure != ''")[0][
        "parse_failure"] == "unclosed <think>"


# -- tables made before the column ------------------------------------------------------------------------------------
def test_an_old_table_gains_the_column_in_one_commit(tmp_path, hashing, real_steps):
    rows = real_steps.head(40).to_dict("records")
    for r in rows:
        del r["parse_failure"]
    t = old_table(tmp_path / "db", hashing, rows)
    before = t.version
    buf = ReplayBuffer(tmp_path / "db", "transitions", hashing)
    assert buf.version == before + 1 and buf.versions()[-1]["rows"] == 40  # one commit, no row rewritten
    assert buf._table.schema.names[-1] == "parse_failure" and buf._table.schema.metadata == t.schema.metadata
    assert (buf.steps_frame()["parse_failure"] == "").all()
    assert buf.verify_seed(real_steps.head(40)) == []  # same content keys: a seed snapshot stays reusable
    assert ReplayBuffer(tmp_path / "db", "transitions", hashing).version == before + 1  # nothing left to add
    old = buf.checkout("old")  # a version from before the column reads it as empty
    assert old.digest() == buf.digest()
    assert (old.steps_frame()["parse_failure"] == "").all()
    assert {r["parse_failure"] for r in old.search(rows[0]["state"], rows[0]["action"], k=5)} == {""}
    assert list(old.sample(5, seed=0).columns) == list(buf.sample(5, seed=0).columns)
    synth = toy_rows(2, env="textcraft", episode="syn-1")
    synth[1].update(parse_failure="no <done>", valid_action=False)
    assert buf.add(synth) == 2 and buf.seed(real_steps.head(30), replace=True) == 30
    assert sorted(buf.steps_frame()["parse_failure"]) == [""] * 31 + ["no <done>"]


def test_concurrent_opens_add_the_column_once(tmp_path, hashing):
    t = old_table(tmp_path / "db", hashing, toy_rows(5))
    before = t.version
    gate, errors = threading.Barrier(3), []

    def open_it():
        gate.wait()
        try:
            ReplayBuffer(tmp_path / "db", "transitions", hashing, lock_timeout_s=30)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=open_it) for _ in range(3)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == [] and ReplayBuffer(tmp_path / "db", "transitions", hashing).version == before + 1


def test_a_table_that_cannot_gain_the_column_is_one_actionable_error(tmp_path, hashing, monkeypatch):
    old_table(tmp_path / "db", hashing, toy_rows(3))

    def refuse(self, *a, **kw):
        raise OSError("Permission denied (os error 13)\nmore detail")

    monkeypatch.setattr(lancedb.table.LanceTable, "add_columns", refuse)
    with pytest.raises(DreamGymError) as ei:
        ReplayBuffer(tmp_path / "db", "transitions", hashing)
    msg = str(ei.value)
    assert "\n" not in msg and "predates the Step column(s) ['parse_failure']" in msg
    assert "Permission denied" in msg and "rerun the seed_buffer stage" in msg
