"""Stages under kill -9: `dvc repro seed_buffer` SIGKILLed mid-seed leaves no process behind and nothing a rerun
takes for complete; the rerun seeds exactly the data's transitions. And the watchdog on a stand-in `dvc`."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import lancedb
import mlflow
import pandas as pd
import psutil
import pyarrow.parquet as pq
import pytest
from flowutil import ROOT, cfg_for, runs

from dreamgym.buffer import ReplayBuffer
from dreamgym.errors import GateError
from flows import _dvc
from flows._watchdog import dvc_ancestor, is_dvc
from flows.buffer import buffer_flow

BIN = Path(sys.executable).parent
SLOW_STAGE = ROOT / "tests" / "flows" / "_slow_stage.py"


def _env() -> dict[str, str]:
    return {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", "PYTHONPATH": str(ROOT)}


def _private_copy(shared: Path, dest: Path) -> Path:
    """A copy of the seeded repo (data, DVC, git; no artifacts), so the shared one's buffer stays as it was."""
    shutil.copytree(shared, dest, symlinks=True, ignore=shutil.ignore_patterns("artifacts", "mlflow", "tmp"))
    return dest


def _tree(pid: int) -> list[tuple[int, float, str]]:
    """(pid, create time, command line) of a process and all its descendants."""
    root = psutil.Process(pid)
    out = []
    for p in [root, *root.children(recursive=True)]:
        try:
            out.append((p.pid, p.create_time(), " ".join(p.cmdline())[:120]))
        except psutil.NoSuchProcess:
            pass
    return out


def _alive(procs: list[tuple[int, float, str]]) -> list[tuple[int, float, str]]:
    """Those of `procs` still running (the same process: same pid and create time; zombies count as gone)."""
    left = []
    for pid, created, cmd in procs:
        try:
            p = psutil.Process(pid)
            if p.create_time() == created and p.status() != psutil.STATUS_ZOMBIE:
                left.append((pid, created, cmd))
        except psutil.NoSuchProcess:
            pass
    return left


def _wait_gone(procs, timeout_s: float) -> list:
    deadline = time.monotonic() + timeout_s
    while (left := _alive(procs)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


def _kill(procs) -> None:
    """Test cleanup: SIGKILL what is left of processes this test started."""
    for pid, _, _ in _alive(procs):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_is_dvc_recognises_dvc_command_lines():
    assert is_dvc(["/x/.venv/bin/dvc", "repro"]) and is_dvc(["/usr/bin/python3", "/x/bin/dvc", "repro"])
    assert is_dvc(["python", "-m", "dvc", "exp", "run"]) and is_dvc(["dvc"])
    assert not is_dvc(["python", "-m", "flows.buffer"]) and not is_dvc(["/bin/sh", "-c", "cd .dvc && ls"])
    assert not is_dvc(["python", "-m", "pytest", "tests/flows/test_dvc.py"]) and not is_dvc([])
    assert dvc_ancestor() is None  # pytest has no dvc ancestor: die_with_dvc() would do nothing here


def test_watchdog_stops_the_stage_and_its_children_when_dvc_is_killed(tmp_path):
    """A stand-in `dvc` (a Python script of that name) runs a stage under /bin/sh -c like DVC does; the stage
    starts a child (like Prefect's temporary server). SIGKILL the `dvc`: stage and child are gone at once."""
    stage = textwrap.dedent("""
        import subprocess, sys, time
        from flows._watchdog import die_with_dvc
        watched = die_with_dvc(poll_s=0.2)
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
        print("stage", watched.pid if watched else None, child.pid, flush=True)
        time.sleep(300)
    """)
    (tmp_path / "stage.py").write_text(stage)
    fake = tmp_path / "bin" / "dvc"
    fake.parent.mkdir()
    fake.write_text(f"#!{sys.executable}\nimport subprocess, sys\n"
                    f"subprocess.run('{sys.executable} {tmp_path / 'stage.py'}; echo done', shell=True)\n")
    fake.chmod(0o755)
    dvc = subprocess.Popen([str(fake), "repro"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           env=_env(), cwd=tmp_path)
    procs = []
    try:
        line = dvc.stdout.readline().split()
        assert line[:2] == ["stage", str(dvc.pid)], dvc.stderr.read()[-2000:]  # it found the dvc ancestor
        procs = _tree(dvc.pid)
        assert len(procs) == 4 and int(line[2]) in {p for p, _, _ in procs}  # dvc, sh, stage, the stage's child
        os.kill(dvc.pid, signal.SIGKILL)
        dvc.wait(timeout=10)
        left = _wait_gone(procs, 5)
        assert not left, f"still running after the dvc process was killed: {left}"
        assert "error: dvc (pid" in dvc.stderr.read()  # the stage said why it stopped
    finally:
        _kill(procs)


def test_dvc_repro_killed_mid_seed_leaves_no_process_and_a_rerun_seeds_exactly_the_data(seeded, tmp_path):
    _, shared, _, _ = seeded
    repo = _private_copy(shared, tmp_path / "repo")
    n_rows = sum(pq.read_table(p).num_rows for p in (repo / "data").glob("*/steps.parquet"))
    keys = set()
    for p in (repo / "data").glob("*/steps.parquet"):
        t = pq.read_table(p, columns=["episode_id", "t"])
        keys |= set(zip(t.column("episode_id").to_pylist(), t.column("t").to_pylist(), strict=True))
    assert len(keys) == n_rows
    # 8 rows per embed() call at 0.1 s each: about 5 s of seeding to kill it in
    cmd = (f"python {SLOW_STAGE} --preset tiny -S buffer.embedder=slow-hashing -S buffer.embedder_kwargs.delay=0.1 "
           f"-S buffer.batch_size=8 -S tracking.enabled=false")
    (repo / "dvc.yaml").write_text(json.dumps({"stages": {"seed_buffer": {
        "cmd": cmd, "deps": ["data"], "params": ["buffer"],
        "metrics": [{"artifacts/buffer_snapshot.json": {"cache": False}}]}}}, indent=2))
    lock = repo / "artifacts" / "buffer" / ".transitions.writer.lock"
    snapshot_json = repo / "artifacts" / "buffer_snapshot.json"
    log1 = tmp_path / "run1.log"
    procs = []
    with open(log1, "w") as out:
        first = subprocess.Popen([str(BIN / "dvc"), "repro", "seed_buffer"], cwd=repo, env=_env(), stdout=out,
                                 stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while not (lock.is_file() and lock.read_text().startswith("{")):  # the stage holds the writer lock: seeding
            assert first.poll() is None, log1.read_text()[-3000:]
            assert time.monotonic() < deadline, f"the stage never started seeding:\n{log1.read_text()[-3000:]}"
            time.sleep(0.05)
        holder = json.loads(lock.read_text())["pid"]
        time.sleep(1.0)
        procs = _tree(first.pid)
        print("\n[faults] process tree of the first run:\n  " + "\n  ".join(f"{p} {c}" for p, _, c in procs))
        assert holder in {p for p, _, _ in procs} and any("_slow_stage.py" in c for _, _, c in procs)
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=10)
        left = _wait_gone(procs, 5)
        assert not left, f"processes of the killed `dvc repro` still running: {left}"
    finally:
        _kill(procs)
    assert "error: dvc (pid" in log1.read_text()  # the stage's watchdog stopped it
    assert not snapshot_json.exists()  # killed mid-seed: no record of a snapshot ...
    table = lancedb.connect(repo / "artifacts" / "buffer").open_table("transitions")
    assert table.count_rows() == 0 and table.tags.list() == {}  # ... and no rows or tag a rerun could reuse

    t0 = time.monotonic()
    rerun = subprocess.run([str(BIN / "dvc"), "repro", "seed_buffer"], cwd=repo, env=_env(), capture_output=True,
                           text=True, timeout=300)
    assert rerun.returncode == 0, (rerun.stdout + rerun.stderr)[-3000:]
    print(f"[faults] rerun took {time.monotonic() - t0:.1f} s")
    md5 = _dvc.tracked_md5(repo).removesuffix(".dir")
    summary = re.search(rf"seed_buffer: {n_rows} rows \(4 envs\) -> snapshot seed-{md5[:12]} v(\d+) in [\d.]+ s",
                        rerun.stderr)
    assert summary, rerun.stderr[-3000:]
    assert "seed_buffer: embedding" in rerun.stderr and "row/s" in rerun.stderr  # the progress bar
    table.checkout_latest()
    rows = table.to_arrow().select(["episode_id", "t", "source"])
    got = list(zip(rows.column("episode_id").to_pylist(), rows.column("t").to_pylist(), strict=True))
    assert len(got) == len(set(got)) == n_rows and set(got) == keys  # exactly the data's transitions, once each
    record = json.loads(snapshot_json.read_text())
    tags = {t: int(v["version"]) for t, v in table.tags.list().items()}
    assert record["rows"] == n_rows and record["rows_by_source"] == {"real": n_rows}
    assert tags == {record["tag"]: record["version"]} and record["version"] == int(summary.group(1))
    assert record["tag"] == f"seed-{md5[:12]}"
    status = subprocess.run([str(BIN / "dvc"), "status", "seed_buffer"], cwd=repo, env=_env(), capture_output=True,
                            text=True, timeout=120)
    assert status.returncode == 0 and "up to date" in status.stdout, status.stdout + status.stderr


def test_a_snapshot_unlike_its_data_is_rebuilt_and_a_table_failing_its_gate_is_not_pinned(seeded, tmp_path):
    tmp, shared, _, _ = seeded
    repo = _private_copy(shared, tmp_path / "repo")
    cfg = cfg_for(repo, tmp)
    steps = pd.concat([pd.read_parquet(p) for p in sorted((repo / "data").glob("*/steps.parquet"))], ignore_index=True)
    n = len(steps)
    tag = f"seed-{_dvc.tracked_md5(repo).removesuffix('.dir')[:12]}"
    buf = ReplayBuffer.from_config(cfg.buffer, root=repo)
    buf.add(steps)
    buf.add(steps)  # what two writers left in the issue: every transition twice, pinned under the data's tag
    bad = buf.snapshot(tag)
    assert bad.rows == 2 * n
    record = buffer_flow(cfg, root=str(repo))
    assert record["tag"] == tag and record["rows"] == n and record["version"] > bad.version
    assert buf.tags() == {tag: record["version"]}
    view = buf.checkout(tag)
    assert view.duplicate_keys() == [] and view.verify_seed(steps) == []
    run = next(r for r in runs(tmp) if r.info.run_name == "seed_buffer")  # newest first
    maint = mlflow.artifacts.load_dict(f"{run.info.artifact_uri}/buffer/maintenance.json")
    assert maint["rebuilt"][0] == f"{2 * n} real rows, the data has {n}"
    assert maint["rebuilt"][1].startswith(f"{n} (episode_id, t) key(s) held by several rows")
    assert {a.path for a in mlflow.MlflowClient().list_artifacts(run.info.run_id, "gate")} == {
        "gate/buffer_rows_report.json", "gate/buffer_table_report.json"}
    # the table itself is gated after seeding: a bad synthetic row (empty state) stops the flow before the tag
    kept = (repo / "artifacts" / "buffer_snapshot.json").read_text()
    buf.delete_snapshot(tag)
    buf.add(steps.head(1).assign(episode_id="synthetic-0", source="synthetic", model_version="m", state=""))
    with pytest.raises(GateError, match=r"(?s)gate 'buffer_rows' on the buffer table transitions after seeding.*"
                                        r"state non-empty.*episode_id='synthetic-0'"):
        buffer_flow(cfg, root=str(repo))
    assert tag not in buf.tags() and (repo / "artifacts" / "buffer_snapshot.json").read_text() == kept
    run = next(r for r in runs(tmp) if r.info.run_name == "seed_buffer")
    assert run.info.status == "FAILED" and run.data.tags["gate"] == "failed"
    assert "gate/buffer_table_report.json" in {a.path for a in mlflow.MlflowClient().list_artifacts(run.info.run_id, "gate")}
