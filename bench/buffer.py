"""Replay buffer cost: add throughput, query latency flat vs indexed, index recall and build time, disk size.

What it measures (all on real LanceDB tables in a temporary directory, deleted afterwards):

* add throughput with the "minilm" embedder (embedding included; model load reported apart) on real textcraft
  states (data/textcraft/steps.parquet, else synthetic text), and with precomputed vectors (embedding
  excluded) in commits of buffer.batch_size (1024) rows;
* at each table size (full: 10k, 100k, 1M rows; --quick: 5k, 10k, 20k): query latency p50/p99 of
  `search_vector(k=10)` returning all Step columns, flat (exact) and indexed (the params.yaml index defaults:
  type, nprobes, refine_factor), unfiltered and with the filters of an experience-model retrieval (env, source,
  not the querying episode); recall@10 of the index against flat search (filtered: against flat filtered
  search); the experience model's actual retrieval query (those filters, only the columns a prompt shows:
  `indexed_retrieval`); the index build time (at 1M: sample_rate 64, max_iterations 20, to keep the build in minutes). The
  big tables use synthetic rows generated fast: 384-d unit vectors with low intrinsic dimension, like sentence
  embeddings (a 16-d Gaussian mixture of 100 clusters, projected by a fixed random 16 x 384 matrix, plus
  isotropic noise; isotropic 384-d noise alone has no meaningful nearest neighbours) and short generated Step
  text; queries are fresh draws from the same distribution. Rows grow one table (commits of 1024 rows up to
  100k, then of 100k; indices rebuilt per size);
* an index type (ivf_pq, ivf_hnsw_sq) x nprobes x refine_factor sweep at 100k rows (--quick: 20k, a smaller grid), where the
  targets are set (p99 <= 10 ms, recall@10 >= 0.95), and the lowest-p99 setting meeting both;
* disk size per 100k rows: live data + indices of the current version, and the whole directory (which also
  holds the versions retention has not pruned yet).

Latency is wall time in this process, so anything else running on the machine shows up in p99: measure on a
quiet machine.

    python bench/buffer.py            # full run (~10 minutes on 2 cores)
    python bench/buffer.py --quick    # same keys, about a minute
    python bench/buffer.py --quick --out bench-buffer.json

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("LANCEDB_LOG", "error")  # k-means warns once per iteration on small tables
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402

from dreamgym.buffer import ReplayBuffer, make_embedder  # noqa: E402
from dreamgym.buffer.embedders import Embedder  # noqa: E402
from dreamgym.config import BufferIndexConfig, BufferRetentionConfig  # noqa: E402
from dreamgym.data.schema import STEP_SCHEMA  # noqa: E402
from dreamgym.experience.retrieval import RETRIEVED_COLUMNS  # noqa: E402

DIM = 384
K = 10


class NoEmbedder(Embedder):
    """Stands in for minilm (384-d) on tables filled with precomputed vectors; never called to embed."""

    name = "minilm"
    dim = DIM

    @property
    def signature(self) -> str:
        return "minilm(all-MiniLM-L6-v2,dim=384)"

    def embed(self, texts):
        raise RuntimeError("the benchmark passes vectors; nothing should be embedded")


def mixture(n: int, seed: int, n_clusters: int = 100, latent: int = 16) -> np.ndarray:
    """n unit vectors (n, DIM) float32: a latent-d Gaussian mixture projected to DIM, plus small noise."""
    fixed = np.random.default_rng(7)
    proj = fixed.standard_normal((latent, DIM)).astype(np.float32)
    centres = 2 * fixed.standard_normal((n_clusters, latent)).astype(np.float32)
    rng = np.random.default_rng(seed)
    z = centres[rng.integers(0, n_clusters, n)] + rng.standard_normal((n, latent), dtype=np.float32)
    x = z @ proj + 0.9 * np.sqrt(latent / DIM) * rng.standard_normal((n, DIM), dtype=np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def synthetic_steps(start: int, n: int) -> pa.Table:
    """n Step rows (STEP_SCHEMA) with generated text; episode = 20 steps."""
    idx = np.arange(start, start + n)
    ep = [f"syn-{i // 20:07d}" for i in idx]
    return pa.Table.from_arrays([
        pa.array(ep), pa.array([f"task/{i % 97}" for i in idx]), pa.array(np.where(idx % 4 == 0, "babyai", "textcraft")),
        pa.array(idx % 20, type=pa.int64()), pa.array([f"you are in room {i % 501}; you see item {i % 37}" for i in idx]),
        pa.array([f"go to item {i % 37}" for i in idx]), pa.array([f"room {(i + 1) % 501}" for i in idx]),
        pa.array(np.zeros(n)), pa.array(idx % 20 == 19), pa.array(np.zeros(n, dtype=bool)),
        pa.array(np.ones(n, dtype=bool)), pa.array(["synthetic"] * n), pa.array([""] * n), pa.array(["p0"] * n),
        pa.array(["m0"] * n), pa.array(np.ones(n, dtype=np.int64)), pa.array(["train"] * n), pa.array([""] * n),
    ], schema=STEP_SCHEMA)


def dir_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def retrieval_filter(i: int) -> dict[str, str]:
    """The filters of an experience-model retrieval: its env, one source, not the querying episode."""
    return {"env": "babyai", "source": "synthetic", "exclude_episode": f"syn-{i * 37 % 5000:07d}"}


def latency(buf: ReplayBuffer, queries: np.ndarray, exact: bool, filtered: bool = False,
            columns: list[str] | None = None) -> tuple[dict[str, float], list[set[str]]]:
    """p50/p99 of search_vector(k=10) over `queries` (n, DIM), and the row keys each returned; `filtered`: with
    retrieval_filter(i); `columns`: the columns read (default: all Step columns)."""
    cols = None if columns is None else [*columns, "row_key"]
    for i, q in enumerate(queries[:3]):  # warm caches (index partitions, file handles)
        buf.search_vector(q, K, exact=exact, columns=cols, **(retrieval_filter(i) if filtered else {}))
    ts, found = [], []
    for i, q in enumerate(queries):
        flt = retrieval_filter(i) if filtered else {}
        t0 = time.perf_counter()
        res = buf.search_vector(q, K, exact=exact, columns=cols, **flt)
        ts.append((time.perf_counter() - t0) * 1000)
        found.append({r["row_key"] for r in res})
    return ({"p50_ms": round(float(np.percentile(ts, 50)), 3), "p99_ms": round(float(np.percentile(ts, 99)), 3),
             "n_queries": len(ts)}, found)


def recall(approx: list[set[str]], exact: list[set[str]]) -> float:
    """Mean |approx & exact| / |exact| (rows keys are unique in the synthetic tables)."""
    return round(float(np.mean([len(a & e) / len(e) for a, e in zip(approx, exact, strict=False)])), 4)


def bench_minilm_add(tmp: Path, n: int) -> dict[str, float]:
    path = ROOT / "data" / "textcraft" / "steps.parquet"
    if path.is_file():
        import pyarrow.parquet as pq

        steps = pq.read_table(path).slice(0, n)
    else:
        steps = synthetic_steps(0, n)
    emb = make_embedder("minilm")
    t0 = time.perf_counter()
    emb.embed(["warm up"])
    load_s = time.perf_counter() - t0
    buf = ReplayBuffer(tmp / "minilm", "t", emb, batch_size=1024)
    t0 = time.perf_counter()
    buf.add(steps)
    dt = time.perf_counter() - t0
    return {"rows": steps.num_rows, "rows_per_s": round(steps.num_rows / dt, 1), "model_load_s": round(load_s, 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="smaller sizes, same keys (about a minute)")
    ap.add_argument("--out", help="also write the JSON here")
    args = ap.parse_args()
    quick = args.quick
    sizes = [5_000, 10_000, 20_000] if quick else [10_000, 100_000, 1_000_000]
    sweep_at = 20_000 if quick else 100_000
    grid = ((10, 40), (None, 10)) if quick else ((10, 20, 40), (None, 5, 10))  # nprobes x refine_factor
    n_queries = 100 if quick else 200
    n_minilm = 128 if quick else 1024
    cfg = BufferIndexConfig()  # the params.yaml defaults (nprobes, refine_factor)
    tmp = Path(tempfile.mkdtemp(prefix="dreamgym-bench-buffer-"))
    out: dict = {"quick": quick, "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
                 "dim": DIM, "k": K, "index_defaults": cfg.model_dump(exclude={"threshold_rows"})}
    try:
        out["add_minilm"] = bench_minilm_add(tmp, n_minilm)
        buf = ReplayBuffer(tmp / "big", "t", NoEmbedder(), batch_size=1024, index_cfg=cfg.model_copy(
            update={"threshold_rows": 10**12}), retention=BufferRetentionConfig(compact_every=10**6))
        queries = mixture(n_queries, seed=999)
        rows, per_size = 0, []
        for size in sizes:
            t0 = time.perf_counter()
            while rows < size:
                buf.batch_size = 1024 if rows < 100_000 else 100_000
                n = min(10 * 1024 if rows < 100_000 else 100_000, size - rows)
                buf.add(synthetic_steps(rows, n), vectors=mixture(n, seed=rows))
                rows += n
            dt = time.perf_counter() - t0
            if size == sizes[1]:
                out["add_precomputed"] = {"rows": size - sizes[0], "rows_per_s": round((size - sizes[0]) / dt, 1),
                                          "batch_size": 1024, "note": "Step validation + row keys + commits"}
            buf.apply_retention()  # compact the fragments of the small commits
            flat_q = queries if size < 1_000_000 else queries[:30]
            flat, exact = latency(buf, flat_q, exact=True)
            flat_f, exact_f = latency(buf, flat_q, exact=True, filtered=True)
            entry: dict = {"rows": size, "flat": flat, "flat_filtered": flat_f}
            fast = {"sample_rate": 64, "max_iterations": 20} if size >= 1_000_000 else {}
            t0 = time.perf_counter()
            built = buf.build_index(**fast)
            entry["index_build_s"] = round(time.perf_counter() - t0, 2)
            entry["index"] = {**{k: v for k, v in built.items() if k not in ("rows", "version")}, **fast}
            entry["indexed"], approx = latency(buf, queries, exact=False)
            entry["recall@10"] = recall(approx, exact)
            entry["indexed_filtered"], approx_f = latency(buf, queries, exact=False, filtered=True)
            entry["recall@10_filtered"] = recall(approx_f, exact_f)
            # the experience model's actual query: its filters and only the columns a prompt shows
            entry["indexed_retrieval"], _ = latency(buf, queries, exact=False, filtered=True, columns=RETRIEVED_COLUMNS)
            if size == sweep_at:
                data_b = int(buf._table.stats()["total_bytes"])
                index_b = sum(int(ix.size_bytes or 0) for ix in buf._table.list_indices())
                per = 100_000 / size
                out["disk"] = {"rows": size, "bytes_per_100k_rows": round((data_b + index_b) * per),
                               "data_bytes_per_100k_rows": round(data_b * per),
                               "index_bytes_per_100k_rows": round(index_b * per),
                               "dir_bytes_per_100k_rows_with_history": round(dir_bytes(Path(buf.uri) / "t.lance") * per)}
                sweep, builds, current = [], {cfg.type: entry["index_build_s"]}, cfg.type
                for kind in (cfg.type, *[t for t in ("ivf_pq", "ivf_hnsw_sq") if t != cfg.type]):
                    if kind != current:
                        buf.index_cfg = cfg.model_copy(update={"type": kind})
                        t0 = time.perf_counter()
                        buf.build_index()
                        builds[kind], current = round(time.perf_counter() - t0, 2), kind
                    for nprobes in grid[0]:
                        for refine in grid[1]:
                            buf.index_cfg = cfg.model_copy(update={"type": kind, "nprobes": nprobes,
                                                                   "refine_factor": refine})
                            lat, found = latency(buf, queries, exact=False)
                            sweep.append({"type": kind, "nprobes": nprobes, "refine_factor": refine, **lat,
                                          "recall@10": recall(found, exact)})
                buf.index_cfg = cfg.model_copy(update={"threshold_rows": 10**12})
                ok = [s for s in sweep if s["recall@10"] >= 0.95 and s["p99_ms"] <= 10]
                out["sweep"] = {"rows": size, "build_s": builds, "settings": sweep,
                                "best": min(ok, key=lambda s: s["p99_ms"]) if ok else None}
                met = entry["indexed"]["p99_ms"] <= 10 and entry["recall@10"] >= 0.95
                out["targets"] = {"rows": size, "p99_ms_indexed": entry["indexed"]["p99_ms"], "p99_target_ms": 10,
                                  "p99_ms_indexed_filtered": entry["indexed_filtered"]["p99_ms"],
                                  "p99_ms_indexed_retrieval": entry["indexed_retrieval"]["p99_ms"],
                                  "recall@10": entry["recall@10"], "recall_target": 0.95,
                                  "recall@10_filtered": entry["recall@10_filtered"],
                                  "met_with_defaults": met, "met_with_best": bool(ok)}
            per_size.append(entry)
            print(json.dumps(entry), file=sys.stderr, flush=True)  # progress
        out["query"] = per_size
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    text = json.dumps(out, indent=1)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
