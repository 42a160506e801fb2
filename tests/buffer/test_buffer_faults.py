"""The buffer under faults: idempotent seeding in one commit, a seed SIGKILLed at any moment, the writer lock
inside one process, progress callbacks, and the gate that rejects a repeated (episode_id, t)."""

from __future__ import annotations

import os
import signal
import time

import pytest
from _buffer_worker import rows_for
from bufutil import start_worker, toy_rows

from dreamgym.buffer import ReplayBuffer, make_embedder
from dreamgym.errors import DreamGymError


def test_seed_twice_gives_the_same_rows_in_one_commit_each(make_buffer, real_steps):
    buf = make_buffer(batch_size=256)
    buf.add(toy_rows(20, source="synthetic", episode="syn"))
    v0 = buf.version
    seen: list[tuple[int, int]] = []
    assert buf.seed(real_steps, progress=lambda done, total: seen.append((done, total))) == len(real_steps)
    n = len(real_steps)
    assert buf.version == v0 + 1  # one commit, whatever the batch size
    assert seen[-1] == (n, n) and len(seen) == -(-n // 256) and [d for d, _ in seen] == sorted(d for d, _ in seen)
    first = buf.info()
    assert buf.seed(real_steps, replace=True) == n and buf.version == v0 + 2
    again = buf.info()
    assert again.digest == first.digest and again.rows == n + 20 and again.rows_by_source == {"real": n, "synthetic": 20}
    assert buf.duplicate_keys() == [] and buf.verify_seed(real_steps) == []
    # replacing with other rows swaps the real rows in one commit and keeps the synthetic ones
    assert buf.seed(real_steps.head(10), replace=True) == 10 and buf.version == v0 + 3
    assert buf.stats().by_source == {"real": 10, "synthetic": 20}
    assert buf.verify_seed(real_steps) == [f"10 real rows, the data has {n}"]


def test_seed_repairs_a_table_with_repeated_rows_and_refuses_bad_input(make_buffer, real_steps):
    buf = make_buffer()
    head = real_steps.head(50)
    buf.add(head)
    buf.add(head)  # what two writers seeding at once used to leave: every transition twice
    assert len(buf.duplicate_keys()) == 50
    assert "50 (episode_id, t) key(s) held by several rows" in " ".join(buf.verify_seed(head))
    assert buf.seed(head, replace=True) == 50
    assert len(buf) == 50 and buf.duplicate_keys() == [] and buf.verify_seed(head) == []
    v = buf.version
    doubled = head.iloc[[0, 1, 0]]
    with pytest.raises(DreamGymError, match=r"seed rows repeat \(episode_id, t\): \[\('.*', 0\)\] \(1 key"):
        buf.seed(doubled, replace=True)
    clash = head.head(3).assign(source="synthetic", model_version="m")
    buf.add(clash.assign(episode_id="other"))
    v = buf.version
    buf.add(clash)  # synthetic rows with the real rows' keys
    with pytest.raises(DreamGymError, match=r"\(episode_id, t\) of synthetic rows already in the buffer"):
        buf.seed(head, replace=True)
    assert buf.version == v + 1 and buf.count(source="real") == 50  # nothing was written


def test_seed_sigkilled_at_any_moment_leaves_old_or_new_rows_and_a_rerun_is_exact(tmp_path):
    """A worker process replaces 500 real rows (A) by 2,000 others (B, overlapping keys; ~20 MB to write) and is
    SIGKILLed while it embeds and at several moments of its commit: each time the table holds exactly A or
    exactly B (never a mix, never a repeated key), and seeding B again gives exactly B."""
    hashing = make_embedder("hashing", dim=64)
    rows_a = rows_for("victim", 500, 50, "real")
    rows_b = rows_for("victim", 2000, 50, "real", pad=10000)  # as the worker builds them (20 batches of 100)
    go = tmp_path / "go"
    go.touch()

    def run(uri, kill_after: float | None, before_commit: bool = False) -> None:
        """Seed A here, then B in a worker; kill it `kill_after` s after it embedded everything (with
        before_commit: after its go; None: once it has committed)."""
        ReplayBuffer(uri, "transitions", hashing).seed(rows_a)
        proc = start_worker(uri, "victim", 20, 100, go, 50, False, "seed", "pad=10000")
        assert proc.stdout.readline().strip() == "ready", proc.stderr.read()[-2000:]
        if not before_commit:
            assert proc.stdout.readline().startswith("embedded"), proc.stderr.read()[-2000:]
        if kill_after is None:
            assert proc.stdout.readline().startswith("committed"), proc.stderr.read()[-2000:]
        time.sleep(kill_after or 0)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)

    ref = ReplayBuffer(tmp_path / "ref", "transitions", hashing)
    ref.seed(rows_a)
    marks: list[float] = []
    ref.seed(rows_b, replace=True, progress=lambda d, t: marks.append(time.monotonic()) if d == t else None)
    commit_s = time.monotonic() - marks[-1]  # from the last embedded batch to the committed seed
    a = ReplayBuffer(tmp_path / "a", "transitions", hashing)
    a.seed(rows_a)
    want = {a.digest(): "A", ref.digest(): "B"}
    assert len(ref) == 2000 and ref.duplicate_keys() == [] and len(want) == 2
    trials = [("embedding", 0.05, True), *[(f"commit+{f:.0%}", f * commit_s, False) for f in (0.5, 0.9)],
              ("committed", None, False)]
    outcomes = {}
    for i, (name, delay, before) in enumerate(trials):
        uri = tmp_path / f"db{i}"
        run(uri, delay, before)
        fresh = ReplayBuffer(uri, "transitions", hashing, lock_timeout_s=5)  # the kill released the lock
        got = fresh.digest()
        assert got in want, f"killed at {name}: {len(fresh)} rows, neither A nor B"
        assert fresh.duplicate_keys() == []
        outcomes[name] = want[got]
        assert fresh.seed(rows_b, replace=True) == 2000
        assert fresh.digest() == ref.digest() and len(fresh) == 2000 and fresh.duplicate_keys() == []
    print(f"\n[buffer] seed commit of 2000 rows took {commit_s:.2f} s; what each kill left: {outcomes}")
    assert outcomes["embedding"] == "A" and outcomes["committed"] == "B"


def test_writer_lock_between_handles_of_one_process(tmp_path, hashing):
    a = ReplayBuffer(tmp_path / "db", "t", hashing)
    b = ReplayBuffer(tmp_path / "db", "t", hashing, lock_timeout_s=0)
    with a.writer():
        a.add(toy_rows(3))  # reentrant: the writer session's own writes go through
        with pytest.raises(DreamGymError, match=rf"pid {os.getpid()}"):
            b.add(toy_rows(3, episode="b"))
        assert a.lock_path.read_text().startswith('{"pid": ')
    assert a.lock_path.read_text() == ""  # released: no holder recorded
    assert b.add(toy_rows(3, episode="b")) == 3 and len(a) == 6
    view = a.checkout(a.version)
    with pytest.raises(DreamGymError, match="read-only view"):
        with view.writer():
            pass
    with pytest.raises(DreamGymError, match="lock_timeout_s must be >= 0"):
        ReplayBuffer(tmp_path / "db", "t", hashing, lock_timeout_s=-1)
    remote = object.__new__(ReplayBuffer)  # object storage has no lock file: the writer session is a no-op
    remote.__dict__.update(a.__dict__, _lock=None)
    with remote.writer():
        assert remote.lock_path is None


def test_add_reports_progress_per_committed_batch(make_buffer):
    buf = make_buffer(batch_size=4)
    seen: list[tuple[int, int]] = []
    buf.add(toy_rows(10), progress=lambda d, t: seen.append((d, t)))
    assert seen == [(4, 10), (8, 10), (10, 10)]


def test_buffer_gate_rejects_a_repeated_transition(real_steps):
    from dreamgym.quality import validate_buffer_rows

    rows = real_steps.head(20)
    assert validate_buffer_rows(rows).ok
    doubled = rows.iloc[list(range(20)) + [3]].reset_index(drop=True)
    report = validate_buffer_rows(doubled, subject="the buffer table after seeding")
    assert not report.ok
    (failed,) = report.failed
    assert failed.check == "(episode_id, t) unique (each transition once)" and failed.unexpected_count == 2
    ep, t = rows.iloc[3]["episode_id"], int(rows.iloc[3]["t"])
    assert {(r["episode_id"], r["t"]) for r in failed.bad_rows} == {(ep, t)}
    assert "the buffer table after seeding" in report.to_text() and f"episode_id='{ep}'" in report.to_text()
