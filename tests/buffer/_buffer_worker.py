"""A separate process writing to a buffer table (used by the buffer tests; not a test module).

    python _buffer_worker.py URI TABLE EPISODE N_BATCHES BATCH_SIZE GO_FILE STATE_CHARS [OPTION ...]

Prints "ready", waits until GO_FILE exists, then writes N_BATCHES * BATCH_SIZE rows in one call and prints
"committed <version> <start time> <lock time> <end time>". Options:
- `precomputed`: the vectors are computed before the go signal, so the add is almost all Lance writing (a kill
  then lands mid-write);
- `seed`: the rows are real and written with seed(replace=True) (one commit) instead of add(); the worker
  prints "embedded <time>" when the last batch is embedded, i.e. just before the commit;
- `pad=N`: each row's `reasoning` holds N chars of deterministic noise (bytes to write, nothing to embed);
- `timeout=S`: the buffer's lock_timeout_s (a DreamGymError is printed as "error: ..." with exit 2);
- `hold=S`: hold the writer lock for S seconds after the go signal, before writing.
"""

from __future__ import annotations

import os
import sys
import time

os.environ.setdefault("LANCEDB_LOG", "error")

import numpy as np  # noqa: E402

from dreamgym.buffer import ReplayBuffer, make_embedder  # noqa: E402
from dreamgym.errors import DreamGymError  # noqa: E402


def rows_for(episode: str, n: int, state_chars: int, source: str, pad: int = 0) -> list[dict]:
    """The worker's rows: t = 0..n-1, states of state_chars chars, `pad` chars of noise as reasoning."""
    filler = ("the kitchen has a fridge a table and an oven " * (state_chars // 40 + 1))[:state_chars]
    noise = np.random.default_rng(n).bytes(n * pad // 2 + 1).hex() if pad else ""
    return [dict(episode_id=episode, task_id="toy/0", env="toy", t=i, state=f"{i} {filler}", action=f"act {i}",
                 next_state="n", reward=0.0, done=False, success=False, valid_action=True, source=source,
                 reasoning=noise[i * pad:(i + 1) * pad], policy_version="p", model_version="m", iteration=1,
                 split="train")
            for i in range(n)]


def main() -> int:
    uri, table, episode, n_batches, batch_size, go_file, state_chars = sys.argv[1:8]
    n_batches, batch_size, state_chars = int(n_batches), int(batch_size), int(state_chars)
    opts = dict(o.split("=", 1) if "=" in o else (o, "1") for o in sys.argv[8:])
    buf = ReplayBuffer(uri, table, make_embedder("hashing", dim=64), batch_size=batch_size,
                       lock_timeout_s=float(opts.get("timeout", 60)))
    rows = rows_for(episode, n_batches * batch_size, state_chars, "real" if "seed" in opts else "synthetic",
                    int(opts.get("pad", 0)))

    def progress(done: int, total: int) -> None:
        if done == total:
            print("embedded", time.time(), flush=True)
    vectors = None
    if "precomputed" in opts:
        vectors = np.random.default_rng(0).standard_normal((len(rows), 64)).astype(np.float32)
    print("ready", flush=True)
    while not os.path.exists(go_file):
        time.sleep(0.001)
    t0 = time.time()
    try:
        with buf.writer():
            t_locked = time.time()
            if "hold" in opts:
                print("locked", flush=True)
                time.sleep(float(opts["hold"]))
            if "seed" in opts:
                buf.seed(rows, replace=True, progress=progress)
            else:
                buf.add(rows, vectors=vectors)
    except DreamGymError as e:
        print(f"error: {e}", file=sys.stderr, flush=True)
        return 2
    print("committed", buf.version, t0, t_locked, time.time(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
