"""Flow process hygiene, with real processes: a SIGKILLed flow leaves no Prefect server behind and its MLflow run is
ended KILLED by the next start of the stage; a failing flow prints one `error:` line (its trace goes to the log
file and to MLflow); every clone has its own Prefect home."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import mlflow
import psutil
import pyarrow.parquet as pq
from flowutil import ROOT

from flows.common import run_cli
from flows.seed import main as seed_main


def stage_args(repo: Path, tmp: Path, *extra: str) -> list[str]:
    return ["--root", str(repo), "--preset", "tiny", "-S", f"tracking.tracking_uri=sqlite:///{tmp / 'mlflow.db'}",
            "-S", f"tracking.artifact_location={tmp / 'art'}", *extra]


def start_flow(module: str, args: list[str]) -> tuple[subprocess.Popen, list[str]]:
    """`python -m <module> ARGS` with INFO console logging; its stderr lines are collected as they come."""
    env = {**os.environ, "PREFECT_LOGGING_LEVEL": "INFO", "OMP_NUM_THREADS": "1"}
    p = subprocess.Popen([sys.executable, "-m", module, *args], cwd=ROOT, env=env, text=True,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(p.stderr), daemon=True).start()
    return p, lines


def running_run_of(db: Path, pid: int) -> str | None:
    """The RUNNING MLflow run that process `pid` started (read-only sqlite: never races the store's creation)."""
    if not db.is_file():
        return None
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
            row = con.execute("SELECT r.run_uuid FROM runs r JOIN tags t ON t.run_uuid = r.run_uuid WHERE "
                              "r.status = 'RUNNING' AND t.key = 'dreamgym.pid' AND t.value = ?", (str(pid),)).fetchone()
    except sqlite3.OperationalError:  # tables not created yet
        return None
    return row[0] if row else None


def listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_sigkilled_flow_leaves_no_prefect_server_and_its_run_ends_killed(seeded, tmp_path, capsys):
    _, repo, _, _ = seeded
    args = stage_args(repo, tmp_path, "--validate-only")  # reads data/, writes only artifacts/seed/*
    p, lines = start_flow("flows.seed", args)
    deadline = time.time() + 300
    while (run_id := running_run_of(tmp_path / "mlflow.db", p.pid)) is None:
        assert p.poll() is None and time.time() < deadline, "".join(lines)
        time.sleep(0.1)
    servers = [c for c in psutil.Process(p.pid).children(recursive=True)
               if "flows._prefect_server" in " ".join(c.cmdline())]
    port = int(re.search(r"Starting temporary server on http://127\.0\.0\.1:(\d+)", "".join(lines)).group(1))
    assert len(servers) == 1 and listening(port)
    p.send_signal(signal.SIGKILL)
    p.wait()
    _, alive = psutil.wait_procs(servers, timeout=30)
    assert not alive, "the flow's Prefect server outlived it"
    assert not listening(port)

    assert seed_main(args) == 0  # the next run works, and ends the dead one's run
    summary = capsys.readouterr().err.strip().splitlines()[-1]
    assert re.fullmatch(r"seed: 4 envs, \d+ steps, gate passed, data\.dvc md5 \w+\.dir \(\d+\.\d s\)", summary), summary
    client = mlflow.MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    assert client.get_run(run_id).info.status == "KILLED"


def test_failing_flow_prints_one_error_line_and_logs_the_trace(seeded, tmp_path):
    _, repo, _, _ = seeded
    bad = tmp_path / "bad"
    shutil.copytree(repo / "data", bad)
    path = bad / "textcraft" / "steps.parquet"
    pq.write_table(pq.read_table(path).drop_columns(["reward"]), path)
    p, lines = start_flow("flows.seed", stage_args(repo, tmp_path, "--import-dir", str(bad)))
    out = p.stdout.read()
    assert p.wait(timeout=300) == 2
    err = "".join(lines)
    both = out + err
    assert sum(ln.startswith("error:") for ln in both.splitlines()) == 1, both
    assert "missing column(s) ['reward']" in err and "Traceback" not in both
    assert "Beginning flow run" in err  # Prefect's progress lines still show
    log = next((repo / "artifacts" / "logs").glob(f"seed-*-{p.pid}.log"))
    text = log.read_text()
    assert "Traceback" in text and "GateError" in text
    client = mlflow.MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    run = client.search_runs([client.get_experiment_by_name("dreamgym").experiment_id])[0]
    assert run.info.status == "FAILED"
    assert [a.path for a in client.list_artifacts(run.info.run_id, "logs")] == [f"logs/{log.name}"]


def test_unexpected_exception_is_one_line_naming_type_and_log(tmp_path, capsys):
    def boom(cfg, args):
        raise RuntimeError("disk on fire")

    rc = run_cli("x", ["--params", str(ROOT / "params.yaml"), "--preset", "tiny", "--root", str(tmp_path),
                       "-S", "tracking.enabled=false"], boom, stage="boom")
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 1 and len(err) == 1, err
    log = next((tmp_path / "artifacts" / "logs").glob("boom-*.log"))
    assert err[0] == f"error: unexpected RuntimeError in stage boom: disk on fire (full trace: {log})"
    assert "Traceback" in log.read_text() and "disk on fire" in log.read_text()


def test_prefect_home_is_the_clones_own():
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_HOME"}
    r = subprocess.run([sys.executable, "-c", "import flows.common, prefect.settings as s; "
                        "print(s.get_current_settings().home)"], cwd="/", env=env, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    assert Path(r.stdout.strip()) == ROOT / ".prefect"
    assert subprocess.run(["git", "check-ignore", "-q", ".prefect/prefect.db"], cwd=ROOT).returncode == 0
    make = subprocess.run(["make", "-s", "-f", "Makefile", "--eval=show-home: ; @echo $$PREFECT_HOME", "show-home"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert Path(make.stdout.strip()) == ROOT / ".prefect", make.stderr
