"""The task pool's Lance store: one commit per add, tags per iteration, the pool of a tag, truncation on resume."""

import pytest

from dreamgym.curriculum.pool import GeneratedTask, PoolStore, TaskPool, task_key
from dreamgym.data.schema import Task
from dreamgym.errors import DreamGymError


def _gen(i, it):
    t = Task(task_id=f"p-g{i}", env="e", instruction=f"variant {i}", split="train", spec={"seed": 1, "m": i},
             source="generated", parent_task_id="p")
    return GeneratedTask(t, it, f"model-v{it}", f"first state {i}")


def test_store_versions_tags_and_truncates(tmp_path):
    store = PoolStore(tmp_path / "pool")
    store.tag("iter-0")
    v0 = store.version
    assert store.add([_gen(0, 1), _gen(1, 1)]) == 2 and store.version == v0 + 1  # one commit
    store.tag("iter-1")
    store.add([_gen(2, 2)])
    store.tag("iter-2")
    assert [g.task.task_id for g in store.load("iter-1")] == ["p-g0", "p-g1"]
    assert len(store.load()) == 3 and store.load("iter-0") == []
    got = store.load("iter-2")[2]
    assert got.task.parent_task_id == "p" and got.iteration == 2 and got.model_version == "model-v2"
    assert got.initial_state == "first state 2" and got.task.source == "generated"
    # reopened, the same content; a resume after iteration 1 drops what iteration 2 wrote
    again = PoolStore(tmp_path / "pool")
    assert again.truncate_after(1) == 1 and [g.task.task_id for g in again.load()] == ["p-g0", "p-g1"]
    assert again.truncate_after(1) == 0
    with pytest.raises(DreamGymError, match="no tag 'iter-9'"):
        again.load("iter-9")


def test_pool_refuses_duplicates():
    seed = [Task(task_id="p", env="e", instruction="base", split="train", spec={"seed": 1})]
    pool = TaskPool(seed, [_gen(0, 1)])
    assert task_key(seed[0]) in pool.keys() and len(pool) == 2 and pool.generated_share == 0.5
    with pytest.raises(DreamGymError, match="duplicates"):
        pool.add([_gen(0, 2)])
    with pytest.raises(DreamGymError, match="no seed tasks"):
        TaskPool([])
