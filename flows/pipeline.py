"""The whole pipeline as one Prefect flow: seed data -> gate -> replay buffer -> experience model SFT -> gate ->
DreamGym loop -> sim-to-real -> real test evaluation, each stage a subflow with its gate, one pydantic config.

    python -m flows.pipeline                     # params.yaml
    python -m flows.pipeline --preset tiny       # seconds-long budgets (tests, CI, the deployment test)

Each subflow is the stage's own flow (flows/<stage>.py), so a stage does here what `python -m flows.<stage>` and
`dvc repro` do: the seed stage reuses data/ when it matches data.dvc, a failed gate stops the pipeline with one
`error:` line (the loop takes only a registered, gate-passed experience model unless loop.require_gate is false).
It ends with the results (dreamgym/stages/pipeline.py): real test success of the BC start, DreamGym and
DreamGym-S2R with the real steps each used, beside random and the expert, the time per stage and the MLflow UI.
Simplification: the stages run one after the other in this process; `dvc repro` is the cached, stage-by-stage way.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from prefect import flow

from dreamgym.config import DreamGymConfig, load_config
from dreamgym.stages import pipeline as stage
from flows.buffer import buffer_flow
from flows.common import load_env_data, stage_main, write_record
from flows.dreamgym_loop import loop_flow
from flows.experience import experience_flow
from flows.seed import seed_flow
from flows.sim_to_real import s2r_flow


@flow(name="pipeline", log_prints=False)
def pipeline_flow(cfg: DreamGymConfig | None = None, root: str = ".", params: str = "params.yaml",
                  preset: str | None = None, overrides: list[str] | None = None) -> dict:
    """Every stage in order; returns the stage records, the results and the seconds per stage. `cfg` None (the
    deployments): root/`params` with `preset` and `overrides` (key.path=value) over it."""
    rootp, records, times = Path(root).resolve(), {}, {}
    cfg = cfg or load_config(rootp / params, preset, overrides or [])
    for name, fn in zip(stage.STAGES, (seed_flow, buffer_flow, experience_flow, loop_flow, s2r_flow), strict=True):
        print(f"== stage {name} ==", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        records[name] = fn(cfg, root=str(rootp))
        times[name] = time.perf_counter() - t0
    steps, _ = load_env_data(str(rootp / cfg.paths.data_dir), cfg.policy.env)
    res = stage.results(cfg, records["loop"], records["s2r"], len(steps))
    out = {"results": res, "seconds": times, "records": records}
    write_record(rootp / cfg.paths.artifacts_dir / "pipeline" / "results.json", {"results": res, "seconds": times})
    return out


def _summary(cfg: DreamGymConfig, r: dict) -> str:
    ui = f"{Path(sys.executable).parent / 'dreamgym'} ui (http://{cfg.tracking.ui_host}:{cfg.tracking.ui_port})"
    return "done\n" + stage.summary_text(cfg, r["results"], r["seconds"], ui)


main = stage_main(__doc__, pipeline_flow, "pipeline", _summary)


if __name__ == "__main__":
    sys.exit(main())
