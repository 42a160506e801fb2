"""The buffer flow: the DVC-versioned seed data -> buffer gate -> LanceDB buffer -> snapshot logged to MLflow."""

import mlflow
import pyarrow.parquet as pq
from flowutil import runs

from dreamgym.buffer import ReplayBuffer
from flows import _dvc
from flows.buffer import buffer_flow


def test_buffer_seeded_snapshotted_and_logged(seeded):
    tmp, repo, cfg, _ = seeded
    n_real = sum(pq.read_table(p).num_rows for p in (repo / "data").glob("*/steps.parquet"))
    before = len(runs(tmp))
    record = buffer_flow(cfg, root=str(repo))
    md5 = _dvc.tracked_md5(repo).removesuffix(".dir")
    assert record["rows"] == n_real and record["rows_by_source"] == {"real": n_real}
    assert record["tag"] == f"seed-{md5[:12]}"
    buf = ReplayBuffer.from_config(cfg.buffer, root=repo)
    assert len(buf) == n_real and buf.tags()[record["tag"]] == record["version"]
    hits = buf.search("Crafting commands", "craft 1 stick using 2 planks", k=3, env="textcraft")
    assert len(hits) == 3 and all(h["env"] == "textcraft" for h in hits)
    new = runs(tmp)[: len(runs(tmp)) - before]
    (run,) = new
    assert run.info.status == "FINISHED" and run.info.run_name == "seed_buffer"
    assert run.data.tags["buffer.version"] == str(record["version"]) and run.data.tags["buffer.digest"] == record["digest"]
    assert run.data.metrics["buffer/rows/real"] == n_real
    arts = {a.path for a in mlflow.MlflowClient().list_artifacts(run.info.run_id, "buffer")}
    assert f"buffer/snapshot-{record['tag']}.json" in arts
    # a rerun on the same data reuses the snapshot instead of writing a new version
    again = buffer_flow(cfg, root=str(repo))
    assert again["version"] == record["version"] and again["digest"] == record["digest"]
