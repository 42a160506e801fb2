"""A separate process appending to a buffer table (used by test_buffer_concurrency.py; not a test module).

    python _buffer_worker.py URI TABLE EPISODE N_BATCHES BATCH_SIZE GO_FILE STATE_CHARS [precomputed]

Prints "ready", waits until GO_FILE exists, then add()s N_BATCHES * BATCH_SIZE rows in one call (one commit
per batch) and prints "committed <version> <start time> <end time>". With `precomputed`, the vectors are
computed before the go signal, so the add is almost all Lance writing (a kill then lands mid-write).
"""

from __future__ import annotations

import os
import sys
import time

os.environ.setdefault("LANCEDB_LOG", "error")

import numpy as np  # noqa: E402

from dreamgym.buffer import ReplayBuffer, make_embedder  # noqa: E402


def main() -> None:
    uri, table, episode, n_batches, batch_size, go_file, state_chars = sys.argv[1:8]
    n_batches, batch_size, state_chars = int(n_batches), int(batch_size), int(state_chars)
    buf = ReplayBuffer(uri, table, make_embedder("hashing", dim=64), batch_size=batch_size)
    filler = ("the kitchen has a fridge a table and an oven " * (state_chars // 40 + 1))[:state_chars]
    rows = [dict(episode_id=episode, task_id="toy/0", env="toy", t=i, state=f"{i} {filler}", action=f"act {i}",
                 next_state="n", reward=0.0, done=False, success=False, valid_action=True, source="synthetic",
                 reasoning="", policy_version="p", model_version="m", iteration=1, split="train")
            for i in range(n_batches * batch_size)]
    vectors = None
    if sys.argv[8:9] == ["precomputed"]:
        vectors = np.random.default_rng(0).standard_normal((len(rows), 64)).astype(np.float32)
    print("ready", flush=True)
    while not os.path.exists(go_file):
        time.sleep(0.001)
    t0 = time.time()
    buf.add(rows, vectors=vectors)
    print("committed", buf.version, t0, time.time(), flush=True)


if __name__ == "__main__":
    main()
