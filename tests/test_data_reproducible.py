"""A fresh clone has no DVC remote holding our data, so the committed params.yaml must regenerate data/
byte for byte: collecting with it in a scratch git + DVC repo gives exactly the hash recorded in data.dvc."""

import subprocess
from pathlib import Path

from dreamgym.config import load_config
from dreamgym.data import io
from dreamgym.data.seed import collect_seed
from dreamgym.envs import make_env
from flows import _dvc

ROOT = Path(__file__).resolve().parents[1]


def test_committed_params_regenerate_the_dvc_hash(tmp_path):
    recorded = _dvc.tracked_md5(ROOT)
    assert recorded, "data.dvc is missing or records no md5"
    cfg = load_config(ROOT / "params.yaml")
    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    _dvc.dvc(repo, "init", "-q")
    for env_name in cfg.seed_data.envs:
        kwargs = cfg.env_kwargs(env_name)
        if "game_dir" in kwargs:  # the generated-game cache lives under the project's artifacts/
            kwargs["game_dir"] = str(ROOT / kwargs["game_dir"])
        with make_env(env_name, **kwargs) as env:
            steps, tasks = collect_seed(env, cfg.seed_data.episodes[env_name], cfg.seed_data, cfg.project.seed)
        io.write_steps(steps, repo / "data" / env_name / io.STEPS_FILE)
        io.write_tasks(tasks, repo / "data" / env_name / io.TASKS_FILE)
    assert _dvc.add(repo, "data") == recorded, (
        "regenerated data/ differs from data.dvc: collection is no longer deterministic, or params.yaml / an env "
        "changed without re-running `dreamgym seed --force` and committing data.dvc")
