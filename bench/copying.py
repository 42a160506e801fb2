"""Can the experience model's tiny LM learn to copy from its context within a CPU budget? A probe, not a speed figure.

The fidelity measurement found the default tiny model guessing the labels (BabyAI colour names) of the next state
at chance, even where the next state is a verbatim copy of the state. This script asks the architecture alone,
without the env's rules. A fresh model of the params.yaml `experience.model` shape (its BPE trained on the seed
states and actions of `--env`, with the markup tags) is trained from scratch, with AdamW at
`experience.sft.learning_rate`, on sequences `segment + filler + segment`, the loss on the second segment (and on
the first for real text). Its teacher-forced greedy accuracy (models.scoring.token_hits) on that copy, first 4
tokens left out, is measured on fresh batches beside the accuracy on the same positions of the first segment,
where there is nothing to copy (`prior_acc`: what the text's own statistics give; the gap between the two is what
copying adds). Curves are [step, copy accuracy, prior accuracy]. Three probes, each a fresh model:

* `fixed_offset`: random tokens, no filler, one segment length: the copy sits a constant distance back, so a
  positional attention head solves it;
* `random_offset`: random tokens, random segment and filler lengths per batch: only content-based copying (an
  induction head: find the earlier occurrence of the current token, emit what followed it) solves it;
* `state_text`: as `random_offset`, with the segment a real state text of `--env` (its prior helps, copying
  still decides the labels).

Chance is 1 / (vocabulary) for random tokens. Simplifications: no padding (one length per batch), no schedule.

    python bench/copying.py                  # 1000 steps of 32 sequences per probe (~30 minutes on 1 thread)
    python bench/copying.py --quick          # same keys: 100 steps of 16, about a minute
    OMP_NUM_THREADS=1 python bench/copying.py --steps 700 --lr 1e-3

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SKIP = 4  # copied tokens left out of the accuracy: the first ones cannot be known before the copy starts


def copy_batch(gen, plain, batch: int, seg_len: int, gap: int, segments=None):
    """(input_ids, labels) of shape (batch, 2 * seg_len + gap): segment, `gap` random filler tokens, segment;
    labels are -100 except on the second segment (and, for real `segments`, on the first too: there the model
    learns the text's prior, against which the copy is compared). `segments`: a list of token-id lists to draw segments from
    (each at least seg_len long); None: uniform draws from `plain` (a 1-D tensor of ids); filler always is."""
    import torch

    if segments is None:
        seg = plain[torch.randint(0, len(plain), (batch, seg_len), generator=gen)]
    else:
        pick = torch.randint(0, len(segments), (batch,), generator=gen).tolist()
        seg = torch.tensor([segments[i][:seg_len] for i in pick])
    fill = plain[torch.randint(0, len(plain), (batch, gap), generator=gen)]
    ids = torch.cat([seg, fill, seg], dim=1)
    labels = ids.clone()
    labels[:, seg_len if segments is not None else 0:seg_len + gap] = -100  # real text: its first copy is learned too
    return ids, labels


def accuracies(model, ids, seg_len: int, gap: int, pad_id: int) -> tuple[float, float]:
    """(copy, prior): greedy teacher-forced accuracy on the second segment and on the same positions of the first,
    past their first SKIP tokens; ids (B, 2 * seg_len + gap)."""
    from dreamgym.models.scoring import pack_rows, token_hits

    cut = seg_len + gap
    hits = token_hits(model, pack_rows([(row[:cut], row[cut:]) for row in ids.tolist()], pad_id)).float()
    return float(hits[:, cut + SKIP:].mean()), float(hits[:, SKIP:seg_len].mean())


def plain_ids(tok):
    """The vocabulary's ids less pad/eos/bos and the markup tags, as a 1-D tensor: what random tokens draw from."""
    import torch

    from dreamgym.experience.format import SPECIAL_TOKENS

    special = {*tok.all_special_ids, *tok.convert_tokens_to_ids(list(SPECIAL_TOKENS))}
    return torch.tensor([i for i in range(len(tok)) if i not in special])


def probe(name: str, tok, cfg, args, segments) -> dict:
    import torch

    from dreamgym.models.tiny import build_tiny_model

    m = cfg.experience.model
    model = build_tiny_model(tok, m.hidden_size, m.num_layers, m.num_heads, max_position_embeddings=m.max_positions,
                             seed=args.seed)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr or cfg.experience.sft.learning_rate)
    gen = torch.Generator().manual_seed(args.seed)
    plain = plain_ids(tok)
    max_seg = args.max_len if segments is None else min(args.max_len, min(len(s) for s in segments))

    def shape():
        if name == "fixed_offset":
            return max_seg, 0
        return (int(torch.randint(SKIP + 8, max_seg + 1, (1,), generator=gen)),
                int(torch.randint(0, args.max_len + 1, (1,), generator=gen)))

    curve, t0 = [], time.time()
    for step in range(1, args.steps + 1):
        seg_len, gap = shape()
        ids, labels = copy_batch(gen, plain, args.batch, seg_len, gap, segments)
        model(input_ids=ids, labels=labels).loss.backward()
        opt.step()
        opt.zero_grad()
        if step % args.eval_every == 0 or step == args.steps:
            with torch.no_grad():
                accs, priors = [], []
                for _ in range(args.eval_batches):
                    seg_len, gap = shape()
                    ids, _ = copy_batch(gen, plain, args.batch, seg_len, gap, segments)
                    copied, prior = accuracies(model, ids, seg_len, gap, tok.pad_token_id)
                    accs.append(copied)
                    priors.append(prior)
            curve.append([step, round(sum(accs) / len(accs), 4), round(sum(priors) / len(priors), 4)])
    return {"curve": curve, "final_acc": curve[-1][1], "final_prior_acc": curve[-1][2],
            "chance": round(1 / len(plain), 5),
            "seconds": round(time.time() - t0, 1), "seconds_per_step": round((time.time() - t0) / args.steps, 3)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="100 steps of 16 sequences, segments up to 48 tokens")
    ap.add_argument("--env", default="babyai", help="whose seed text trains the tokenizer and gives state_text")
    ap.add_argument("--steps", type=int, default=None, help="training steps per probe (default 1000, quick 100)")
    ap.add_argument("--batch", type=int, default=None, help="sequences per step (default 32, quick 16)")
    ap.add_argument("--max-len", type=int, default=None, help="longest segment and filler (default 96, quick 48)")
    ap.add_argument("--lr", type=float, default=None, help="AdamW learning rate (default experience.sft.learning_rate)")
    ap.add_argument("--eval-every", type=int, default=None, help="steps between accuracy checks")
    ap.add_argument("--eval-batches", type=int, default=2, help="fresh batches per accuracy check")
    ap.add_argument("--probes", nargs="+", default=["fixed_offset", "random_offset", "state_text"])
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    def pick(given, quick, full):
        return given if given is not None else (quick if args.quick else full)

    args.steps = pick(args.steps, 100, 1000)
    args.batch = pick(args.batch, 16, 32)
    args.max_len = pick(args.max_len, 48, 96)
    args.eval_every = pick(args.eval_every, max(1, args.steps // 10), max(1, args.steps // 10))
    bad = sorted(set(args.probes) - {"fixed_offset", "random_offset", "state_text"})
    if bad or min(args.steps, args.batch, args.eval_batches, args.eval_every) < 1 or args.max_len < SKIP + 8 \
            or (args.lr is not None and args.lr <= 0):
        why = ", ".join(f"unknown probe {b}" for b in bad) or \
            "steps, batch, eval-every and eval-batches must be >= 1, max-len >= 12, lr > 0"
        print(f"error: bench/copying.py: bad arguments ({why})", file=sys.stderr)
        sys.exit(2)

    import torch

    from dreamgym.config import load_config
    from dreamgym.data.io import read_env_data
    from dreamgym.errors import DreamGymError
    from dreamgym.experience.format import SPECIAL_TOKENS
    from dreamgym.models.tokenizer import train_tokenizer

    try:
        cfg = load_config(ROOT / "params.yaml")
        steps, _ = read_env_data(ROOT / "data", args.env)
    except DreamGymError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
    texts = (steps["state"].astype(str) + "\n" + steps["action"].astype(str)).tolist()
    tok = train_tokenizer(texts, vocab_size=cfg.experience.model.vocab_size, special_tokens=list(SPECIAL_TOKENS))
    segments = [ids for ids in (tok(s, add_special_tokens=False)["input_ids"]
                                for s in steps["state"].astype(str).drop_duplicates().tolist())
                if len(ids) >= SKIP + 24]
    if "state_text" in args.probes and not segments:
        print(f"error: bench/copying.py: no state of {args.env}'s seed data is {SKIP + 24} tokens long (state_text)",
              file=sys.stderr)
        sys.exit(1)
    out = {"env": args.env, "threads": torch.get_num_threads(), "vocab": len(tok), "steps": args.steps,
           "batch": args.batch, "max_len": args.max_len, "lr": args.lr or cfg.experience.sft.learning_rate,
           "model": {"hidden_size": cfg.experience.model.hidden_size, "num_layers": cfg.experience.model.num_layers,
                     "num_heads": cfg.experience.model.num_heads}, "probes": {}}
    for name in args.probes:
        out["probes"][name] = probe(name, tok, cfg, args, segments if name == "state_text" else None)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
