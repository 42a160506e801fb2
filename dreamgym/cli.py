"""`dreamgym` command line: collect and version seed data, play an env, evaluate a policy, judge an experience
model's sim-to-real gap, inspect config, open the MLflow UI.

Every command has --help. Errors a user can fix (unknown env, split or preset, a bad value) print one line
starting with "error:" and exit 2; nothing prints a traceback for them.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer

from dreamgym.errors import DreamGymError
from dreamgym.tracking import resolve_tracking_uri

MAX_SHOWN_ACTIONS = 40  # `play` lists at most this many valid actions unless asked (/actions)

app = typer.Typer(add_completion=False, no_args_is_help=True, rich_markup_mode=None,
                  pretty_exceptions_enable=False, help=__doc__.splitlines()[0])

ParamsOpt = Annotated[Path, typer.Option("--params", help="params file")]
PresetOpt = Annotated[str | None, typer.Option("--preset", help="named overlay, e.g. tiny")]
SetOpt = Annotated[list[str] | None, typer.Option("--set", "-S", help="override key.path=value (repeatable)")]
# the episode options of the commands that play a policy on real tasks (eval, judge, baselines)
SplitOpt = Annotated[str, typer.Option(help="train, val or test")]
EpisodesOpt = Annotated[int, typer.Option("-n", min=1, help="episodes (one per task)")]
StartOpt = Annotated[int, typer.Option(min=0, help="first task index: tasks start..start+n-1 of the split")]
HorizonOpt = Annotated[int | None, typer.Option(min=1, help="turns per episode (default: policy.eval.horizon, else the last horizon stage)")]
ParallelOpt = Annotated[int, typer.Option(min=1, help="episodes run at once")]
GreedyOpt = Annotated[bool, typer.Option("--greedy/--sample", help="the most likely action each step, or sample from the policy (its temperature and seed)")]


DEFAULT_PARAMS = Path("params.yaml")


def _cfg(params: Path, preset: str | None, overrides: list[str] | None, optional: bool = False):
    """The resolved config. `optional`: a missing default params.yaml (a command run outside the project root)
    means the config's own defaults, with the preset and overrides still applied; a --params file that is not
    there is always an error."""
    from dreamgym.config import load_config, resolve_config

    if optional and params == DEFAULT_PARAMS and not params.exists():
        return resolve_config({}, preset, overrides or [])
    return load_config(params, preset, overrides or [])


def _split_size(env, split: str, upper: int) -> int:
    """Tasks in `split` of `env`, known to be <= upper (binary search on one-task listings: no full listing)."""
    lo, hi = 0, upper
    while lo < hi:
        mid = (lo + hi) // 2
        if env.list_tasks(split, n=1, start=mid):
            lo = mid + 1
        else:
            hi = mid
    return lo


def _out_of_range(option: str, index: int, env_name: str, split: str, size: int) -> DreamGymError:
    last = f" (indices 0..{size - 1})" if size else ""
    return DreamGymError(f"{option} {index} is out of range: the {split} split of '{env_name}' has {size} "
                         f"task{'s' if size != 1 else ''}{last}")


@app.command()
def config(params: ParamsOpt = Path("params.yaml"), preset: PresetOpt = None, overrides: SetOpt = None) -> None:
    """Print the resolved config (params.yaml + preset + overrides) as JSON."""
    typer.echo(json.dumps(_cfg(params, preset, overrides).model_dump(), indent=2))


@app.command()
def envs() -> None:
    """List the registered environments."""
    from dreamgym.envs import env_names

    for name in env_names():
        typer.echo(name)


@app.command()
def tasks(env: Annotated[str, typer.Argument(help="env name")],
          split: Annotated[str, typer.Option(help="train, val or test")] = "val",
          n: Annotated[int, typer.Option("-n", min=1, help="how many")] = 10,
          start: Annotated[int, typer.Option(min=0, help="first task index")] = 0,
          params: ParamsOpt = Path("params.yaml"), preset: PresetOpt = None, overrides: SetOpt = None) -> None:
    """List tasks of an env split (id and instruction)."""
    from dreamgym.envs import make_env
    from dreamgym.envs.base import check_split
    from dreamgym.envs.registry import get_env_class

    get_env_class(env)
    check_split(split)
    cfg = _cfg(params, preset, overrides, optional=True)
    with make_env(env, **cfg.env_kwargs(env)) as e:
        listed = e.list_tasks(split, n=n, start=start)
        if not listed:
            raise _out_of_range("--start", start, env, split, _split_size(e, split, start))
        for t in listed:
            typer.echo(f"{t.task_id}\t{t.instruction}")


@app.command()
def collect(env: Annotated[str, typer.Argument(help="env name")],
            episodes: Annotated[int, typer.Option(min=1, help="episodes to collect")] = 100,
            out: Annotated[Path, typer.Option(help="output folder; writes OUT/ENV/{steps,tasks}.parquet")] = Path("artifacts/collect"),
            force: Annotated[bool, typer.Option(help="write even into a DVC-tracked folder (e.g. data/)")] = False,
            params: ParamsOpt = Path("params.yaml"), preset: PresetOpt = None, overrides: SetOpt = None) -> None:
    """Collect seed trajectories of ENV (expert / noisy / random mix from params.yaml), gate them, write parquet.

    This writes files only (to artifacts/collect/ by default; a DVC-tracked folder such as data/ only with
    --force); `dreamgym seed` runs the whole stage (all envs, gate, `dvc add` + push, MLflow), and
    `dreamgym seed --import-dir OUT` versions what this wrote."""
    from tqdm import tqdm

    from dreamgym.data import io
    from dreamgym.data.seed import collect_seed, seed_summary
    from dreamgym.envs import make_env
    from dreamgym.envs.registry import get_env_class
    from dreamgym.quality import gate, validate_seed_data

    get_env_class(env)
    tracked = io.dvc_tracked(out / env)
    if tracked is not None and not force:
        raise DreamGymError(f"--out {out} is tracked by DVC ({tracked}): writing {out / env}/ would change the "
                            f"versioned data behind DVC's back; choose another --out (default artifacts/collect), "
                            f"version it with `dreamgym seed --import-dir`, or pass --force")
    cfg = _cfg(params, preset, overrides)
    with make_env(env, **cfg.env_kwargs(env)) as e, tqdm(total=episodes, desc=f"collect {env}", unit="ep") as bar:
        steps, task_list = collect_seed(e, episodes, cfg.seed_data, cfg.project.seed, progress=lambda k: bar.update(1))
    df = io.steps_table(steps).to_pandas()
    tasks_df = io.tasks_table(task_list).to_pandas()
    gate(validate_seed_data(df, tasks_df, env, cfg.quality.max_reward, cfg.quality.max_text_chars))
    io.write_steps(steps, out / env / io.STEPS_FILE)
    io.write_tasks(task_list, out / env / io.TASKS_FILE)
    typer.echo(json.dumps(seed_summary(df, env), indent=2))
    typer.echo(f"wrote {out / env}/ ({len(steps)} steps, {len(task_list)} tasks)"
               + (f"; {out} is tracked by DVC ({tracked}): `dvc status` now differs" if tracked else ""))


@app.command()
def seed(params: ParamsOpt = Path("params.yaml"), preset: PresetOpt = None, overrides: SetOpt = None,
         import_dir: Annotated[Path | None, typer.Option(help="gate+version DIR/<env>/steps.parquet instead of collecting")] = None,
         force: Annotated[bool, typer.Option(help="recollect even if data/ matches data.dvc")] = False,
         replace_all: Annotated[bool, typer.Option(help="with --import-dir: data/ becomes exactly DIR (drop the envs DIR does not hold)")] = False) -> None:
    """Run the seed stage (Prefect flow): collect all envs -> GX gate -> `dvc add data` + push -> MLflow.

    --import-dir DIR replaces only the envs DIR holds (the others stay in data/ and data.dvc) unless --replace-all."""
    if import_dir is not None and not import_dir.is_dir():  # before the flow (and Prefect) starts
        what = "is not a directory" if import_dir.exists() else "does not exist"
        raise DreamGymError(f"--import-dir {import_dir} {what}; it must hold <env>/steps.parquet (and tasks.parquet)")
    from flows.seed import main as seed_main

    argv = ["--params", str(params)] + (["--preset", preset] if preset else [])
    for o in overrides or []:
        argv += ["-S", o]
    if import_dir:
        argv += ["--import-dir", str(import_dir)]
    if force:
        argv.append("--force")
    if replace_all:
        argv.append("--replace-all")
    raise typer.Exit(seed_main(argv))


@app.command()
def play(env: Annotated[str, typer.Argument(help="env name")],
         split: Annotated[str, typer.Option(help="train, val or test")] = "val",
         task_index: Annotated[int, typer.Option(min=0, help="which task of the split")] = 0,
         params: ParamsOpt = Path("params.yaml"), preset: PresetOpt = None, overrides: SetOpt = None) -> None:
    """Play ENV in the terminal: see the observation and the valid actions, type an action (or its number).

    Commands: /expert (the oracle's next action), /random, /actions (list all valid actions), /reset, /quit."""
    from dreamgym.envs import make_env
    from dreamgym.envs.base import check_split
    from dreamgym.envs.registry import get_env_class

    get_env_class(env)
    check_split(split)
    cfg = _cfg(params, preset, overrides, optional=True)
    with make_env(env, **cfg.env_kwargs(env)) as e:
        tasks_ = e.list_tasks(split, n=1, start=task_index)
        if not tasks_:
            raise _out_of_range("--task-index", task_index, env, split, _split_size(e, split, task_index))
        task = tasks_[0]
        rng = random.Random(0)
        obs = e.reset(task)
        typer.echo(f"[{task.task_id}]\nYour goal: {task.instruction}\n\n{obs}")
        total, done, show_all = 0.0, False, False
        while True:
            acts = e.available_actions()
            if acts:
                shown = acts if show_all else acts[:MAX_SHOWN_ACTIONS]
                more = f"  ... {len(acts) - len(shown)} more (/actions lists all)" if len(shown) < len(acts) else ""
                typer.echo("Available actions: " + "  ".join(f"[{i}] {a}" for i, a in enumerate(shown)) + more)
            show_all = False
            try:
                line = input(f"step {e.t}> ").strip()
            except EOFError:
                typer.echo("")
                break
            if line in ("/quit", "/q"):
                break
            if line == "/actions":
                show_all = True
                continue
            if line == "/reset":
                obs, total, done = e.reset(task), 0.0, False
                typer.echo(obs)
                continue
            if done:
                typer.echo("episode over: /reset or /quit")
                continue
            if line == "/expert":
                line = e.expert_action() or ""
                typer.echo(f"(expert) {line}")
            elif line == "/random":
                line = e.random_action(rng)
                typer.echo(f"(random) {line}")
            elif acts and line.isdigit() and int(line) < len(acts):
                line = acts[int(line)]
            obs, reward, done, info = e.step(line)
            total += reward
            flag = "" if info["valid_action"] else "  [invalid action]"
            typer.echo(f"\n{obs}\n-- reward {reward:g} (total {total:g}), done={done}{flag}")
            if done:
                typer.echo("SUCCESS" if info["success"] else ("step limit reached" if info["truncated"] else "episode ended"))


@app.command("baselines")
def baselines_(env: Annotated[str, typer.Argument(help="env name")],
               split: SplitOpt = "test", n: EpisodesOpt = 100, start: StartOpt = 0, horizon: HorizonOpt = None,
               seed: Annotated[int, typer.Option(help="seed of the random policy (per task)")] = 0,
               params: ParamsOpt = Path("params.yaml"), preset: PresetOpt = None, overrides: SetOpt = None) -> None:
    """The uniform-random policy over the valid actions and the expert on ENV's tasks: success with a 95%
    interval, mean steps (to success), BabyAI-style score. Is this a benchmark? Random should be low, the expert high.

    The env is built as `eval` builds it (policy.env_kwargs over envs.ENV when ENV is policy.env)."""
    from tqdm import tqdm

    from dreamgym.envs import make_env
    from dreamgym.envs.base import check_split
    from dreamgym.envs.registry import get_env_class
    from dreamgym.policy.core import horizon_at
    from dreamgym.policy.evaluate import baselines

    get_env_class(env)
    check_split(split)
    cfg = _cfg(params, preset, overrides)
    kwargs = cfg.policy_env_kwargs() if env == cfg.policy.env else cfg.env_kwargs(env)
    h = horizon or cfg.policy.eval.horizon or horizon_at(10**9, cfg.policy.rl.horizon.stages, cfg.policy.rl.horizon.every)
    with make_env(env, **kwargs) as e:
        tasks_ = e.list_tasks(split, n=n, start=start)
        if not tasks_:
            raise DreamGymError(f"no {split} tasks of '{env}' from index {start}")
        with tqdm(total=2 * len(tasks_), desc=f"baselines {env}", unit="ep", file=sys.stderr) as bar:
            base = baselines(e, tasks_, horizon=h, seed=seed, progress=bar.update)
    out = {"env": env, "split": split, "start": start, "horizon": h, "env_kwargs": kwargs}
    for name, r in base.items():
        out[name] = {k: (None if v != v else v) for k, v in r.metrics("").items()}
    typer.echo(json.dumps(out, indent=2, default=str))


@app.command("eval")
def eval_(env: Annotated[str, typer.Option("--env", help="env name")],
          model: Annotated[str, typer.Option("--model", help="a saved policy dir, or an MLflow model URI (models:/NAME/VERSION, runs:/RUN/model)")],
          split: SplitOpt = "test", n: EpisodesOpt = 100, start: StartOpt = 0, horizon: HorizonOpt = None,
          parallel: ParallelOpt = 32, greedy: GreedyOpt = False,
          with_baselines: Annotated[bool, typer.Option("--baselines/--no-baselines", help="also run the uniform-random policy over the valid actions and the expert on the same tasks and horizon")] = True,
          params: ParamsOpt = Path("params.yaml"), preset: PresetOpt = None, overrides: SetOpt = None) -> None:
    """Evaluate a policy on real held-out tasks: success rate with a 95% interval, mean steps, invalid actions,
    beside a uniform-random policy over the valid actions and the expert on the same tasks and horizon.

    The env is built from params.yaml's envs.ENV (with policy.env_kwargs over it when ENV is policy.env). By
    default actions are sampled from the policy with its saved seed (the same numbers every time for a model and
    a task range); --greedy takes the most likely action instead."""
    from dreamgym.stages.evaluation import evaluate_saved

    cfg = _cfg(params, preset, overrides)
    res = evaluate_saved(cfg, model, env, split=split, n=n, start=start, horizon=horizon, greedy=greedy,
                         parallel=parallel, with_baselines=with_baselines,
                         tracking_uri=resolve_tracking_uri(cfg.tracking.tracking_uri, Path.cwd()))
    typer.echo(json.dumps(res, indent=2))


def _experience_model(cfg, source: str, env: str):
    """The saved experience model `source` (a dir or an MLflow model URI) of env `env`, retrieving from the
    project's replay buffer (params.yaml buffer:) when its spec retrieves (k > 0)."""
    from dreamgym.experience.checkpoint import load_experience_model

    xm = load_experience_model(source, tracking_uri=resolve_tracking_uri(cfg.tracking.tracking_uri, Path.cwd()),
                               cfg=cfg.experience, env=env)
    if xm.spec.k:
        from dreamgym.buffer import ReplayBuffer
        from dreamgym.experience.retrieval import buffer_retriever

        xm.retriever = buffer_retriever(ReplayBuffer.from_config(cfg.buffer, root=Path.cwd()), env, xm.spec.k)
    return xm


@app.command()
def fidelity(model: Annotated[str, typer.Option("--model", help="a saved experience model dir, or an MLflow model URI (models:/NAME/VERSION, runs:/RUN/model)")],
             env: Annotated[str, typer.Option("--env", help="env name (the experience model's)")],
             split: SplitOpt = "test",
             n: Annotated[int | None, typer.Option("-n", min=1, help="transitions scored (default: experience.eval_examples)")] = None,
             params: ParamsOpt = Path("params.yaml"), preset: PresetOpt = None, overrides: SetOpt = None) -> None:
    """Measure a saved experience model against the real transitions of SPLIT in the seed data (data/ENV): the
    metrics the experience stage reports (exact next state overall, per action and on context-determined
    transitions, consistency, next-state likelihood, success / done / validity precision and recall, each with its
    count and 95% interval, and the open-loop divergence). Prints JSON and logs exp/* metrics to MLflow.

    The targets' reasoning (scored by the likelihood) is written by experience.annotator, which should be the one
    the model was trained with."""
    from dreamgym.data import io
    from dreamgym.envs.base import check_split
    from dreamgym.envs.registry import get_env_class
    from dreamgym.experience.examples import build_examples
    from dreamgym.experience.train import held_out, measure
    from dreamgym.tracking import tracker_for

    get_env_class(env)
    check_split(split)
    cfg = _cfg(params, preset, overrides)
    steps, tasks = io.read_env_data(cfg.paths.data_dir, env)
    xm = _experience_model(cfg, model, env)
    steps = steps[steps["split"] == split]
    ex = build_examples(steps, tasks, xm.spec, annotator=cfg.experience.annotator, retriever=xm.retriever) \
        if len(steps) else steps  # none: held_out() says how to get some
    xcfg = cfg.experience.model_copy(update={"eval_examples": n or cfg.experience.eval_examples})
    m = measure(xm, held_out(ex, env, split), xcfg)
    run = {"env": env, "split": split, "model": model, "scored": int(m.fidelity["n"])}
    tracker = tracker_for(cfg, Path.cwd())
    with tracker.run(f"fidelity-{env}", tags={"command": "fidelity", "env": env}):
        tracker.log_config(cfg.model_dump())
        tracker.log_params({f"fidelity.{k}": v for k, v in run.items()})
        tracker.log_metrics({f"exp/{k}": float(v) for k, v in {**m.fidelity, **m.open_loop}.items()})
        tracker.log_table(m.table, f"predictions/{env}.json")
    typer.echo(json.dumps({**run, **_plain({**m.fidelity, **m.open_loop})}, indent=2))


def _plain(m: dict[str, float]) -> dict:
    """Metrics as strict JSON values: nan (e.g. mean steps of no success) -> null."""
    return {k: (None if v != v else v) for k, v in m.items()}


@app.command()
def judge(model: Annotated[str, typer.Option("--model", help="a saved experience model dir, or an MLflow model URI (models:/NAME/VERSION, runs:/RUN/model)")],
          policy: Annotated[str, typer.Option("--policy", help="a saved policy dir, or an MLflow model URI")],
          env: Annotated[str, typer.Option("--env", help="env name (the experience model's)")],
          split: SplitOpt = "test", n: EpisodesOpt = 20, start: StartOpt = 0, horizon: HorizonOpt = None,
          parallel: ParallelOpt = 32, greedy: GreedyOpt = False,
          params: ParamsOpt = Path("params.yaml"), preset: PresetOpt = None, overrides: SetOpt = None) -> None:
    """The sim-to-real gap of an experience model on a policy's own episodes: the policy plays N tasks in the
    synthetic env, each action sequence is replayed in the real env from the same task, and the two are compared
    step by step (validity, reward, done, first state divergence) and per episode (success; synthetic success with
    a real failure is reward hacking). Prints the report as JSON and logs it as judge/* metrics to MLflow.

    The env is built as `eval` builds it; an experience model that retrieves (k > 0) reads the replay buffer
    (params.yaml buffer:)."""
    from dreamgym.envs import make_env
    from dreamgym.envs.base import check_split
    from dreamgym.envs.registry import get_env_class
    from dreamgym.experience.gap import judge as sim_to_real_gap
    from dreamgym.policy.checkpoint import load_policy
    from dreamgym.policy.core import horizon_at
    from dreamgym.tracking import tracker_for

    get_env_class(env)
    check_split(split)
    cfg = _cfg(params, preset, overrides)
    kwargs = cfg.policy_env_kwargs() if env == cfg.policy.env else cfg.env_kwargs(env)
    h = horizon or cfg.policy.eval.horizon or horizon_at(10**9, cfg.policy.rl.horizon.stages, cfg.policy.rl.horizon.every)
    uri = resolve_tracking_uri(cfg.tracking.tracking_uri, Path.cwd())
    xm = _experience_model(cfg, model, env)
    agent = load_policy(policy, tracking_uri=uri, cfg=cfg.policy)
    with make_env(env, **kwargs) as e:
        tasks_ = e.list_tasks(split, n=n, start=start)
        if not tasks_:
            raise _out_of_range("--start", start, env, split, _split_size(e, split, start))
    report = sim_to_real_gap(agent, xm, lambda: make_env(env, **kwargs), tasks_, horizon=h, greedy=greedy,
                             env_kwargs=kwargs, parallel=parallel)
    run = {"env": env, "split": split, "start": start, "model": model, "policy": policy, "horizon": h,
           "acting": "greedy" if greedy else "sampled"}
    tracker = tracker_for(cfg, Path.cwd())
    with tracker.run(f"judge-{env}", tags={"command": "judge", "env": env}):
        tracker.log_config(cfg.model_dump())
        tracker.log_params({f"judge.{k}": v for k, v in run.items()})
        tracker.log_metrics(report.metrics("judge/"))
    typer.echo(json.dumps({**run, **_plain(report.metrics(""))}, indent=2))


@app.command()
def ui(params: ParamsOpt = Path("params.yaml"),
       port: Annotated[int | None, typer.Option(min=1, max=65535, help="port (default: tracking.ui_port)")] = None) -> None:
    """Start the MLflow UI on 127.0.0.1 over the local store (mlflow/)."""
    cfg = _cfg(params, None, [])
    uri = resolve_tracking_uri(cfg.tracking.tracking_uri, Path.cwd())
    cmd = [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri, "--host", cfg.tracking.ui_host,
           "--port", str(port or cfg.tracking.ui_port)]
    typer.echo(f"MLflow UI on http://{cfg.tracking.ui_host}:{port or cfg.tracking.ui_port}  (Ctrl-C stops it)")
    raise typer.Exit(subprocess.call(cmd))


@app.command()
def deploy(root: Annotated[Path, typer.Option("--root", help="the project checkout holding prefect.yaml and flows/ (runs execute there)")] = Path("."),
           pool: Annotated[str, typer.Option("--pool", help="the process work pool the deployments use (created when missing)")] = "dreamgym",
           api_url: Annotated[str | None, typer.Option("--api-url", help="the Prefect server's API (default: PREFECT_API_URL)")] = None) -> None:
    """Register prefect.yaml's deployments (pipeline/nightly, scheduled; pipeline/tiny and eval/on-demand, run on
    demand) with a Prefect server, creating the process work pool when missing. Then start a worker
    (`prefect worker start --pool dreamgym`) to run them. Runs execute in ROOT (the deployments' pull step)."""
    root = root.resolve()
    url = api_url or os.environ.get("PREFECT_API_URL")
    if not url:
        raise DreamGymError("no Prefect server: set PREFECT_API_URL (e.g. http://127.0.0.1:4200/api, after "
                            "`prefect server start`) or pass --api-url")
    if not (root / "prefect.yaml").is_file() or not (root / "flows").is_dir():
        raise DreamGymError(f"--root {root}: no prefect.yaml and flows/ there (the project checkout)")
    prefect = str(Path(sys.executable).with_name("prefect"))
    env = {**os.environ, "PREFECT_API_URL": url, "DREAMGYM_CODE_DIR": str(root)}

    def call(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([prefect, "--no-prompt", *args], cwd=root, env=env, capture_output=True, text=True)

    if call("work-pool", "inspect", pool).returncode != 0:
        made = call("work-pool", "create", pool, "--type", "process")
        if made.returncode != 0:
            raise DreamGymError(f"could not create work pool '{pool}' on {url}: {_last_line(made)}")
    done = call("deploy", "--all", "--prefect-file", str(root / "prefect.yaml"), "--pool", pool)
    if done.returncode != 0:
        raise DreamGymError(f"prefect deploy failed against {url}: {_last_line(done)}")
    typer.echo(done.stdout.strip())
    typer.echo(f"registered on {url}; run them with a worker: prefect worker start --pool {pool}")


def _last_line(p: subprocess.CompletedProcess) -> str:
    lines = [ln.strip() for ln in (p.stderr + "\n" + p.stdout).splitlines() if ln.strip()]
    return lines[-1] if lines else f"exit {p.returncode}"


def main(argv: list[str] | None = None) -> int:
    """The console script: run one command; its exit status is the return value (0 only on success)."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    try:
        # standalone_mode=False: click returns a command's exit code (typer.Exit / raise typer.Exit(rc)) instead
        # of calling sys.exit; anything else a command returns means success
        rc = app(args=argv, standalone_mode=False)
    except typer.Exit as e:
        return e.exit_code
    except typer.Abort:
        return 130
    except typer.TyperException as e:  # usage errors: bad option values, missing arguments
        msg = e.format_message() if hasattr(e, "format_message") else str(e)
        typer.echo(f"error: {' '.join(msg.split())}", err=True)
        return 2
    except DreamGymError as e:
        typer.echo(f"error: {e}", err=True)
        return 2
    except KeyboardInterrupt:
        return 130
    return rc if isinstance(rc, int) and not isinstance(rc, bool) else 0


if __name__ == "__main__":
    sys.exit(main())
