"""Log-probs of token rows under a causal LM: packing with agent masks, one-pass token log-probs, shared-prefix
candidate scoring, and a value head on the same hidden states.

    packed = pack_rows([(prompt_ids, completion_ids), ...], pad_id)         # right-padded, agent mask on completions
    logp, ent, h = token_logprobs(model, packed, entropy=True, hidden=True)  # (B, L), (B, L), (B, H)
    hits = token_hits(model, packed)                                          # (B, L): greedy next token right
    scores, h = shared_prefix_scores(model, prompts, candidates, pad_id)     # (M,): log P(candidate | prompt)
    values = ValueHead(model.config.hidden_size)(h)                          # (B,)

shared_prefix_scores equals token_logprobs summed over each (prompt, candidate) row's agent tokens, but runs every
prompt once and its candidates on top of its KV cache.

Simplifications: rows must fit the model's positions (callers truncate prompts); the value head reads one hidden
state per row (the prompt's last token) and is a single linear layer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from dreamgym.errors import DreamGymError


@dataclass
class Packed:
    """Right-padded token rows: input_ids/attention_mask/agent_mask (B, L); agent_mask is 1 on agent tokens;
    prompt_last (B,) is the index of each row's last prompt token (where the value head reads the state)."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    agent_mask: torch.Tensor
    prompt_last: torch.Tensor


def pack_rows(rows: Sequence[tuple[Sequence[int], Sequence[int]]], pad_id: int) -> Packed:
    """(prompt_ids, completion_ids) pairs -> a Packed batch; each row is prompt + completion, right-padded to the
    longest row (B rows, L = the longest prompt + completion)."""
    if not rows:
        raise DreamGymError("pack_rows: no rows")
    width = max(len(p) + len(c) for p, c in rows)
    ids = torch.full((len(rows), width), int(pad_id), dtype=torch.long)
    attn = torch.zeros((len(rows), width), dtype=torch.long)
    agent = torch.zeros((len(rows), width), dtype=torch.float32)
    last = torch.zeros(len(rows), dtype=torch.long)
    for i, (p, c) in enumerate(rows):
        if not p:
            raise DreamGymError(f"pack_rows: row {i} has an empty prompt")
        n = len(p) + len(c)
        ids[i, :n] = torch.tensor(list(p) + list(c), dtype=torch.long)
        attn[i, :n] = 1
        agent[i, len(p):n] = 1.0
        last[i] = len(p) - 1
    return Packed(ids, attn, agent, last)


def token_logprobs(model, packed: Packed, *, entropy: bool = False, hidden: bool = False
                   ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """One forward pass: logp (B, L) with logp[b, i] = log P(token i | tokens < i) (0 at i = 0), the per-position
    entropy of that distribution (B, L) if asked, and the last hidden state at `prompt_last` (B, H) if asked."""
    out = model(input_ids=packed.input_ids, attention_mask=packed.attention_mask, output_hidden_states=hidden,
                use_cache=False)
    logits = out.logits[:, :-1].float()
    logp_all = torch.log_softmax(logits, dim=-1)
    tgt = packed.input_ids[:, 1:]
    lp = logp_all.gather(-1, tgt[..., None])[..., 0]
    logp = torch.nn.functional.pad(lp, (1, 0))
    ent = None
    if entropy:
        ent = torch.nn.functional.pad(-(logp_all.exp() * logp_all).sum(-1), (1, 0))
    h = None
    if hidden:
        last_h = out.hidden_states[-1]
        h = last_h[torch.arange(last_h.shape[0]), packed.prompt_last]
    return logp, ent, h


def token_hits(model, packed: Packed) -> torch.Tensor:
    """One forward pass: hits (B, L) bool with hits[b, i] = (argmax P(. | tokens < i) == token i), False at i = 0
    and on padding: where greedy decoding under teacher forcing writes the real token."""
    out = model(input_ids=packed.input_ids, attention_mask=packed.attention_mask, use_cache=False)
    hit = out.logits[:, :-1].argmax(-1) == packed.input_ids[:, 1:]
    return torch.nn.functional.pad(hit, (1, 0), value=False) & packed.attention_mask.bool()


def shared_prefix_scores(model, prompt_ids: Sequence[Sequence[int]], cand_ids: Sequence[Sequence[Sequence[int]]],
                         pad_id: int, *, hidden: bool = False, mean: bool = False
                         ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Sum of log P(candidate | prompt) for every candidate of every decision, each prompt run once.

    prompt_ids: D prompts; cand_ids[j]: the candidates of prompt j (M in all). The prompts go through the model
    left-padded (one pass, KV cache kept); the cache rows are repeated for each prompt's candidates, and all
    candidates go through in a second pass on top of it. Compute is D x prompt + M x candidate tokens instead of
    M x (prompt + candidate). Returns scores (M,) in candidate order (differentiable unless under no_grad; the
    mean over the candidate's tokens when `mean`) and, if asked, the last hidden state at each prompt's end (D, H).
    """
    D = len(prompt_ids)
    width = max(len(p) for p in prompt_ids)
    ids = torch.full((D, width), int(pad_id), dtype=torch.long)
    mask = torch.zeros((D, width), dtype=torch.long)
    for j, p in enumerate(prompt_ids):
        if not p:
            raise DreamGymError(f"shared_prefix_scores: prompt {j} is empty")
        ids[j, width - len(p):] = torch.tensor(list(p), dtype=torch.long)
        mask[j, width - len(p):] = 1
    pos = (mask.cumsum(-1) - 1).clamp(min=0)
    out = model(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=True, logits_to_keep=1,
                output_hidden_states=hidden)
    first = out.logits[:, -1].float()  # (D, V): predicts each candidate's first token
    h = out.hidden_states[-1][:, -1] if hidden else None
    rows = [j for j, cs in enumerate(cand_ids) for _ in cs]
    cands = [list(c) for cs in cand_ids for c in cs]
    if len(cand_ids) != D or any(not cs for cs in cand_ids) or any(not c for c in cands):
        raise DreamGymError("shared_prefix_scores: every decision needs candidates, each at least one token")
    sel = torch.tensor(rows, dtype=torch.long)
    cache = out.past_key_values
    if cache is None:
        raise DreamGymError("shared_prefix_scores: the model returned no KV cache (gradient checkpointing on while "
                            "training?); call model.gradient_checkpointing_disable()")
    cache.batch_select_indices(sel)  # repeat each prompt's cache rows for its candidates
    M, C = len(cands), max(len(c) for c in cands)
    cids = torch.full((M, C), int(pad_id), dtype=torch.long)
    cmask = torch.zeros((M, C), dtype=torch.long)
    for i, c in enumerate(cands):
        cids[i, :len(c)] = torch.tensor(c, dtype=torch.long)
        cmask[i, :len(c)] = 1
    cpos = pos[sel, -1:] + 1 + torch.arange(C)[None, :]
    logits = first[sel][:, None]
    if C > 1:
        out2 = model(input_ids=cids[:, :-1], attention_mask=torch.cat([mask[sel], cmask[:, :-1]], dim=1),
                     position_ids=cpos[:, :-1], past_key_values=cache, use_cache=True)
        logits = torch.cat([logits, out2.logits.float()], dim=1)  # (M, C, V): position i predicts token i
    lp = torch.log_softmax(logits, dim=-1).gather(-1, cids[..., None])[..., 0]
    total = (lp * cmask).sum(-1)
    return (total / cmask.sum(-1) if mean else total), h


class ValueHead(torch.nn.Module):
    """V(state) = w · h + b on the last hidden state at the prompt's last token (PPO's critic, sharing the
    policy's body): hidden states (B, H) -> values (B,). Starts at 0."""

    def __init__(self, hidden_size: int):
        super().__init__()
        self.linear = torch.nn.Linear(hidden_size, 1)
        torch.nn.init.zeros_(self.linear.weight)
        torch.nn.init.zeros_(self.linear.bias)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        """Values (B,) of hidden states h (B, H), computed in float32."""
        return self.linear(h.float())[..., 0]
