"""The deployments for real: a Prefect server and a process worker on 127.0.0.1, `dreamgym deploy` registering
prefect.yaml's deployments (the nightly pipeline on its cron schedule, the tiny pipeline, the on-demand eval), the
tiny pipeline deployment and an eval run to completion by the worker, bounded in time; then both are stopped and
nothing of theirs is left running. `dreamgym deploy` without a server is one error line and exit 2."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time

import httpx
import pytest
from flowutil import ROOT, runs
from test_faults import BIN, _alive, _env, _kill, _private_copy, _tree, _wait_gone

TERMINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_run(api: httpx.Client, run_id: str, timeout_s: float) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        run = api.get(f"/flow_runs/{run_id}").json()
        if run["state"]["type"] in TERMINAL:
            return run
        time.sleep(1)
    raise AssertionError(f"flow run {run_id} not finished after {timeout_s} s: {run['state']}")


def _start(deployments: dict, api: httpx.Client, name: str, parameters: dict) -> str:
    got = api.post(f"/deployments/{deployments[name]['id']}/create_flow_run", json={"parameters": parameters})
    assert got.status_code == 201, got.text
    return got.json()["id"]


def test_deploy_without_a_server_is_one_error_line():
    env = {k: v for k, v in _env().items() if k != "PREFECT_API_URL"}
    done = subprocess.run([str(BIN / "dreamgym"), "deploy"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 2 and done.stderr.strip().splitlines() == [done.stderr.strip()]
    assert done.stderr.startswith("error: no Prefect server: set PREFECT_API_URL")


@pytest.mark.slow
def test_a_server_and_a_worker_run_the_tiny_pipeline_deployment_and_an_eval(seeded, tmp_path):
    tmp, shared, _, _ = seeded
    repo = _private_copy(shared, tmp_path / "repo")
    port = _free_port()
    url = f"http://127.0.0.1:{port}/api"
    base = {**_env(), "PREFECT_HOME": str(tmp_path / "prefect"), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "DO_NOT_TRACK": "1", "OMP_NUM_THREADS": "1"}
    base.pop("PREFECT_API_URL", None)
    env = {**base, "PREFECT_API_URL": url}
    overrides = [f"tracking.tracking_uri=sqlite:///{tmp / 'mlflow.db'}",
                 f"tracking.artifact_location={tmp / 'mlartifacts'}", "experience.envs=[babyai]"]
    procs: list = []
    server = subprocess.Popen([str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
                              env=base, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    worker = None
    try:
        with httpx.Client(base_url=url, timeout=30) as api:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                try:
                    if api.get("/health").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.5)
            else:
                raise AssertionError("the Prefect server did not come up in 120 s")
            deploy = subprocess.run([str(BIN / "dreamgym"), "deploy", "--root", str(ROOT)], cwd=ROOT, env=env,
                                    capture_output=True, text=True, timeout=300)
            assert deploy.returncode == 0, deploy.stderr[-3000:] + deploy.stdout[-3000:]
            deps = {d["name"]: d for d in api.post("/deployments/filter", json={}).json()}
            assert set(deps) == {"nightly", "tiny", "on-demand"}
            nightly = deps["nightly"]
            assert [s["schedule"]["cron"] for s in nightly["schedules"]] == ["0 2 * * *"] and nightly["schedules"][0]["active"]
            assert not deps["tiny"]["schedules"] and not deps["on-demand"]["schedules"]
            assert all(d["work_pool_name"] == "dreamgym" for d in deps.values())
            assert deps["tiny"]["pull_steps"][0]["prefect.deployments.steps.set_working_directory"]["directory"] == str(ROOT)
            worker = subprocess.Popen([str(BIN / "prefect"), "worker", "start", "--pool", "dreamgym"], cwd=tmp_path,
                                      env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                      start_new_session=True)
            run = _wait_run(api, _start(deps, api, "tiny", {"root": str(repo), "overrides": overrides}), 600)
            procs = _tree(server.pid) + _tree(worker.pid)
            assert run["state"]["type"] == "COMPLETED", run["state"]
            res = json.loads((repo / "artifacts/pipeline/results.json").read_text())["results"]
            assert [r["method"] for r in res["rows"]] == ["BC start", "DreamGym (synthetic only)", "DreamGym-S2R"]
            model = str(repo / "artifacts/s2r/models/babyai")
            ev = _wait_run(api, _start(deps, api, "on-demand", {"model": model, "env": "babyai", "n": 4,
                                                                 "root": str(repo), "preset": "tiny",
                                                                 "overrides": overrides}), 300)
            assert ev["state"]["type"] == "COMPLETED", ev["state"]
        evals = [r for r in runs(tmp) if r.data.tags.get("stage") == "eval" and r.data.tags.get("model") == model]
        assert evals and {"eval/test_success", "eval/test_random_success", "eval/test_expert_success"} <= set(
            evals[0].data.metrics)
    finally:
        procs = procs + _tree(server.pid) + (_tree(worker.pid) if worker else [])
        for p in (worker, server):
            if p is not None and p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        left = _wait_gone(procs, 30)
        _kill(left)
    assert not left, f"left running after stopping the worker and the server: {_alive(left)}"
