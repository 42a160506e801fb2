"""Real processes on one table: writers take turns under the writer lock and lose no rows; a second writer
fails naming the first; SIGKILL mid-add leaves whole batches only and releases the lock."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pyarrow.compute as pc
import pytest
from bufutil import start_worker, toy_rows

from dreamgym.buffer import ReplayBuffer, make_embedder
from dreamgym.errors import DreamGymError


def batch_sizes(buf: ReplayBuffer) -> dict[str, int]:
    t = buf._scan(["batch_id"])
    return {r["values"]: r["counts"] for r in pc.value_counts(t.column("batch_id")).to_pylist()}


def test_two_processes_appending_at_once_take_turns_and_lose_no_rows(tmp_path):
    uri = tmp_path / "db"
    buf = ReplayBuffer(uri, "transitions", make_embedder("hashing", dim=64))
    buf.add(toy_rows(10, source="real"))
    go = tmp_path / "go"
    procs = [start_worker(uri, f"w{i}", n_batches=8, batch_size=50, go_file=go) for i in range(2)]
    for p in procs:  # both imported and built their rows: start them at the same instant
        assert p.stdout.readline().strip() == "ready", p.stderr.read()[-2000:]
    go.touch()
    spans = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err[-2000:]
        _, _, t0, t_locked, t1 = out.split()
        spans.append((float(t0), float(t_locked), float(t1)))
    assert max(s for s, _, _ in spans) < min(e for _, _, e in spans)  # both wanted to write at once
    (_, a0, a1), (_, b0, b1) = sorted(spans, key=lambda s: s[1])
    assert a1 <= b0  # ... and the writer lock let one write after the other
    assert len(buf) == 10 + 2 * 8 * 50
    sizes = batch_sizes(buf)
    assert sorted(sizes.values()) == [10] + [50] * 16
    assert buf.count(source="synthetic") == 800 and buf.stats().by_source == {"real": 10, "synthetic": 800}
    assert buf.duplicate_keys() == []


def test_second_writer_fails_naming_the_holder_then_gets_the_lock(tmp_path):
    uri = tmp_path / "db"
    go = tmp_path / "go"
    go.touch()
    holder = start_worker(uri, "h", 1, 5, go, 100, False, "hold=30")
    assert holder.stdout.readline().strip() == "ready", holder.stderr.read()[-2000:]
    assert holder.stdout.readline().strip() == "locked", holder.stderr.read()[-2000:]
    buf = ReplayBuffer(uri, "transitions", make_embedder("hashing", dim=64), lock_timeout_s=0.3)
    assert buf.lock_path == uri / ".transitions.writer.lock"
    t0 = time.monotonic()
    with pytest.raises(DreamGymError, match=rf"being written by another writer \(pid {holder.pid} on .*_buffer_worker"
                                            r".*gave up after 0\.[3-9] s .*buffer.lock_timeout_s"):
        buf.add(toy_rows(3))
    assert 0.3 <= time.monotonic() - t0 < 5
    for write in (lambda: buf.seed(toy_rows(3, source="real")), lambda: buf.snapshot("x"), buf.apply_retention):
        with pytest.raises(DreamGymError, match=f"pid {holder.pid}"):
            write()
    assert len(buf) == 0 and buf.tags() == {}  # nothing was written by the refused writer
    # a second process that waits long enough gets the lock as soon as the holder dies (SIGKILL: no cleanup)
    waiter = start_worker(uri, "w", 2, 5, go, 100, False, "timeout=60")
    assert waiter.stdout.readline().strip() == "ready"
    time.sleep(0.5)
    assert waiter.poll() is None  # waiting
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait(timeout=30)
    out, err = waiter.communicate(timeout=60)
    assert waiter.returncode == 0 and out.startswith("committed"), err[-2000:]
    assert len(buf) == 10 and buf.add(toy_rows(3)) == 3  # and the lock is free again afterwards


def test_sigkill_mid_add_leaves_last_committed_version(tmp_path):
    uri = tmp_path / "db"
    buf = ReplayBuffer(uri, "transitions", make_embedder("hashing", dim=64))
    v0 = buf.version
    batch, n_batches = 400, 60
    (tmp_path / "go").touch()
    proc = start_worker(uri, "victim", n_batches=n_batches, batch_size=batch, go_file=tmp_path / "go",
                        state_chars=8000, precomputed=True)  # each batch ~3 MB of Lance writing
    deadline = time.time() + 90
    marks = []
    for target in (v0 + 2, v0 + 4):  # let it commit a few batches, timing them
        while buf.version < target:
            assert proc.poll() is None, proc.stderr.read()[-2000:]
            assert time.time() < deadline, "worker made no progress"
            time.sleep(0.002)
        marks.append(time.perf_counter())
    time.sleep((marks[1] - marks[0]) / 2 / 2)  # half a batch's time: most likely inside Lance's write
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    fresh = ReplayBuffer(uri, "transitions", make_embedder("hashing", dim=64))
    rows = len(fresh)
    committed = fresh.versions()[-1]
    assert 0 < rows < batch * n_batches and rows % batch == 0
    assert rows == committed["rows"] == batch * (committed["version"] - v0)
    assert set(batch_sizes(fresh).values()) == {batch}  # no partial batch
    files = os.listdir(Path(uri) / "transitions.lance" / "data")  # a write cut short leaves a .tmp* file
    print(f"\n[buffer] killed after {rows // batch} committed batches; files in data/: {len(files)} "
          f"(unfinished: {[f for f in files if not f.endswith('.lance')]})")
    assert fresh.search("0 the kitchen", "act 0", k=3)  # readable
    fresh.add(toy_rows(5))  # and writable
    assert len(fresh) == rows + 5


@pytest.mark.slow
def test_sigkill_repeated_at_random_moments(tmp_path):
    """The SIGKILL test at 10 random kill times (about a minute)."""
    import random

    mid_write = 0
    for trial in range(10):
        uri = tmp_path / f"db{trial}"
        buf = ReplayBuffer(uri, "transitions", make_embedder("hashing", dim=64))
        (tmp_path / "go").touch()
        proc = start_worker(uri, "victim", n_batches=40, batch_size=300, go_file=tmp_path / "go", state_chars=8000,
                            precomputed=True)
        while buf.version < 2 and proc.poll() is None:
            time.sleep(0.005)
        time.sleep(random.Random(trial).uniform(0, 0.3))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        fresh = ReplayBuffer(uri, "transitions", make_embedder("hashing", dim=64))
        assert len(fresh) % 300 == 0 and set(batch_sizes(fresh).values()) <= {300}
        assert len(fresh) == fresh.versions()[-1]["rows"]
        mid_write += any(not f.endswith(".lance") for f in os.listdir(uri / "transitions.lance" / "data"))
    print(f"[buffer] {mid_write}/10 kills landed while a batch was being written")
