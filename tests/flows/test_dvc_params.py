"""Every dvc.yaml stage declares the params it reads, so `dvc repro` reruns a stage whenever one of them changes.

What a stage reads is found in its code: every `cfg.<section>[.<key>...]` of the stage's flow module, the library
module it calls (dreamgym/stages/<name>.py) and the shared flow helpers, with DreamGymConfig's derived readers
mapped to the sections behind them. `cfg.model_dump()` (the config logged to MLflow) and `cfg.model_copy()` are not
reads.
"""

from __future__ import annotations

import ast
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
#: dvc.yaml stage -> the modules its command runs (besides flows/common.py and dreamgym/tracking.py)
STAGE_MODULES = {
    "validate_seed": ["flows/seed.py", "dreamgym/stages/seed.py"],
    "seed_buffer": ["flows/buffer.py", "dreamgym/stages/buffer.py"],
    "train_experience_model": ["flows/experience.py", "dreamgym/stages/experience.py"],
    "train_policy": ["flows/policy.py", "dreamgym/stages/policy.py"],
    "dreamgym_loop": ["flows/dreamgym_loop.py", "dreamgym/stages/loop.py", "dreamgym/stages/policy.py"],
    "sim_to_real": ["flows/sim_to_real.py", "dreamgym/stages/sim_to_real.py", "dreamgym/stages/policy.py"],
}
#: DreamGymConfig members that read other sections
DERIVED = {"env_kwargs": ["envs"], "policy_env_kwargs": ["policy", "envs"], "experiment_name": ["project.name", "tracking.experiment"]}
NOT_READS = {"model_dump", "model_copy"}


def config_reads(path: Path) -> set[str]:
    """The dotted config paths `cfg.a.b...` read in a module (derived readers expanded), up to two levels deep."""
    reads: set[str] = set()
    tree = ast.parse(path.read_text())
    inner = {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute) or id(node) in inner:  # the outermost attribute of a chain only
            continue
        chain, cur = [], node
        while isinstance(cur, ast.Attribute):
            chain.append(cur.attr)
            cur = cur.value
        if not (isinstance(cur, ast.Name) and cur.id == "cfg") or not chain:
            continue
        chain.reverse()
        if chain[0] in NOT_READS:
            continue
        reads.update(DERIVED.get(chain[0], [".".join(chain[:2])]))
    return reads


def covered(read: str, declared: list[str]) -> bool:
    return any(read == d or read.startswith(d + ".") for d in declared)


def test_every_stage_declares_the_params_it_reads():
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    assert set(stages) == set(STAGE_MODULES), "a new dvc.yaml stage needs its modules listed here"
    shared = config_reads(ROOT / "flows/common.py") | config_reads(ROOT / "dreamgym/tracking.py")  # tracker_for
    for name, modules in STAGE_MODULES.items():
        reads = shared.union(*(config_reads(ROOT / m) for m in modules))
        if name == "validate_seed":  # --validate-only: no collection, no DVC push
            reads -= {r for r in reads if r.split(".")[0] in ("seed_data", "dvc", "envs") or r == "project.seed"}
        declared = [p if isinstance(p, str) else next(iter(p)) for p in stages[name].get("params", [])]
        missing = sorted(r for r in reads if not covered(r, declared))
        assert not missing, f"dvc.yaml stage {name} reads {missing} but does not declare them in its params"


def test_config_reads_finds_nested_and_derived_reads(tmp_path):
    f = tmp_path / "m.py"
    f.write_text("def g(cfg):\n    cfg.model_dump()\n    x = cfg.quality.max_reward + cfg.env_kwargs('e')\n"
                 "    return cfg.experience.gate.thresholds('e'), cfg.experiment_name\n")
    assert config_reads(f) == {"quality.max_reward", "envs", "experience.gate", "project.name",
                               "tracking.experiment"}
