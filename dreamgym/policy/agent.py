"""The LLM agent: contexts in, actions out, with the behaviour log-probs and token ids an RL update needs.

    agent = Agent(model, tokenizer, mode="score", history_window=2)
    ctx = Context("go to the red ball", history=[], observation=obs, actions=env.available_actions())
    [d] = agent.act([ctx])                    # d.action, d.logprob, d.candidates, d.choice ...
    agent.act(contexts, greedy=True)          # evaluation: the most likely action (no sampling)

Score mode (default where the env lists valid actions): every candidate ` <action>\\n` is scored as a
continuation of the prompt (`score_norm`: the mean of its token log-probs, or their sum), the policy is
softmax(score / temperature) over the candidates, one is sampled. The mean is the default: summed log-probs
favour short actions by orders of magnitude in an untrained model, which leaves RL nothing to explore.
Generate mode: the agent writes `Thought: … / Action: …` with the project's Generator (batched, KV-cached,
sampling at `temperature`); a malformed reply becomes the empty action (an invalid step in every env).

The differentiable side (`decision_logprobs`) recomputes exactly what `act` sampled from: the same token rows,
packed right-padded with an agent mask that is 1 on the agent's tokens only (the prompt, which holds the task,
the observations and the earlier actions, is environment text and is never trained on). Score mode uses the
same forward function in `act` and in the update, so the importance ratio is 1 (to float rounding) before the
first step.

Simplifications: prompts longer than the model's positions minus the longest completion are left-truncated
(the task line can be lost on very long histories; the character budget of the prompt keeps this rare); score
mode's scores are per-candidate (no joint normalisation over the action strings).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from dreamgym.errors import DreamGymError
from dreamgym.policy.core import segment_log_softmax
from dreamgym.policy.format import MODES, agent_prompt, candidate_text, parse_reply


@dataclass
class Context:
    """What the agent sees at one step: the task, earlier (observation, action) pairs, the observation, and the
    env's valid actions (None where the env has no list)."""

    instruction: str
    history: Sequence[tuple[str, str]]
    observation: str
    actions: Sequence[str] | None = None


@dataclass
class Decision:
    """One action taken. `logprob` is the behaviour log-prob of the whole decision (score: log pi(choice);
    generate: the sum over the reply's tokens); `token_logprobs` per reply token (score: [logprob])."""

    prompt: str
    prompt_ids: list[int]
    action: str
    reply: str
    malformed: bool
    completion_ids: list[int]
    logprob: float
    token_logprobs: list[float]
    candidates: list[str] | None = None
    candidate_ids: list[list[int]] | None = None
    choice: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Packed:
    """Right-padded token rows: input_ids/attention_mask/agent_mask (B, L); agent_mask is 1 on agent tokens;
    prompt_last (B,) is the index of each row's last prompt token (where the value head reads the state)."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    agent_mask: torch.Tensor
    prompt_last: torch.Tensor


def pack_rows(rows: Sequence[tuple[Sequence[int], Sequence[int]]], pad_id: int) -> Packed:
    """(prompt_ids, completion_ids) pairs -> a Packed batch; each row is prompt + completion, right-padded."""
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


def shared_prefix_scores(model, prompt_ids: Sequence[Sequence[int]], cand_ids: Sequence[Sequence[Sequence[int]]],
                         pad_id: int, *, hidden: bool = False, mean: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
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
    if not cands or any(not c for c in cands):
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
    policy's body). Starts at 0."""

    def __init__(self, hidden_size: int):
        super().__init__()
        self.linear = torch.nn.Linear(hidden_size, 1)
        torch.nn.init.zeros_(self.linear.weight)
        torch.nn.init.zeros_(self.linear.bias)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.linear(h.float())[..., 0]


class Agent:
    """An LLM policy over (model, tokenizer); see the module docstring."""

    def __init__(self, model, tokenizer, *, mode: str = "score", history_window: int = 2, prompt_budget: int = 2048,
                 max_new_tokens: int = 48, temperature: float = 1.0, score_norm: str = "mean", batch_size: int = 32,
                 seed: int = 0):
        if mode not in MODES:
            raise DreamGymError(f"agent mode must be one of {MODES}, got '{mode}'")
        if temperature <= 0:
            raise DreamGymError(f"agent temperature must be > 0 (greedy acting is act(..., greedy=True)), got {temperature}")
        if score_norm not in ("sum", "mean"):
            raise DreamGymError(f"agent score_norm must be 'sum' or 'mean', got '{score_norm}'")
        if tokenizer.pad_token_id is None:
            raise DreamGymError("agent: the tokenizer needs a pad token (load models with dreamgym.models.load_model)")
        self.model, self.tokenizer = model, tokenizer
        self.mode, self.history_window, self.prompt_budget = mode, int(history_window), int(prompt_budget)
        self.max_new_tokens, self.temperature, self.score_norm = int(max_new_tokens), float(temperature), score_norm
        self.batch_size, self.seed = int(batch_size), int(seed)
        self.max_positions = int(getattr(model.config, "max_position_embeddings", 0) or 1 << 30)
        self.pad_id = int(tokenizer.pad_token_id)
        self._rng = np.random.default_rng(seed)
        self._generator = None

    # ---- settings that travel with a checkpoint -------------------------------------------------------------
    def settings(self) -> dict[str, Any]:
        """What a saved policy needs to act the same way again (stored in the model config)."""
        return {"mode": self.mode, "history_window": self.history_window, "prompt_budget": self.prompt_budget,
                "max_new_tokens": self.max_new_tokens, "temperature": self.temperature, "score_norm": self.score_norm}

    # ---- text -> ids --------------------------------------------------------------------------------------
    def prompt(self, ctx: Context) -> str:
        return agent_prompt(ctx.instruction, ctx.history, ctx.observation, ctx.actions, mode=self.mode,
                            window=self.history_window, budget=self.prompt_budget)

    def encode(self, texts: Sequence[str]) -> list[list[int]]:
        if not texts:
            return []
        return [list(x) for x in self.tokenizer(list(texts), add_special_tokens=False)["input_ids"]]

    def _fit(self, prompt_ids: list[int], longest_completion: int) -> list[int]:
        room = self.max_positions - longest_completion
        if room < 1:
            raise DreamGymError(f"agent: a completion of {longest_completion} tokens leaves no room for the prompt "
                                f"within the model's {self.max_positions} positions")
        if not prompt_ids:
            prompt_ids = [int(self.tokenizer.bos_token_id if self.tokenizer.bos_token_id is not None else self.pad_id)]
        return prompt_ids[-room:]

    # ---- acting ---------------------------------------------------------------------------------------------
    def act(self, contexts: Sequence[Context], *, greedy: bool = False) -> list[Decision]:
        """One decision per context (order kept): sampled, or the most likely one when `greedy`."""
        if not contexts:
            return []
        prompts = [self.prompt(c) for c in contexts]
        if self.mode == "score":
            return self._act_score(contexts, prompts, greedy)
        return self._act_generate(prompts, greedy)

    def _act_score(self, contexts: Sequence[Context], prompts: list[str], greedy: bool) -> list[Decision]:
        for i, c in enumerate(contexts):
            if not c.actions:
                raise DreamGymError(f"score mode needs the env's valid actions, and context {i} has none; use "
                                    f"mode 'generate' for envs without an action list")
        cand_ids = [self.encode([candidate_text(a) for a in c.actions]) for c in contexts]
        prompt_ids = [self._fit(p, max(len(x) for x in cs)) for p, cs in zip(self.encode(prompts), cand_ids, strict=True)]
        with torch.no_grad():
            scores = self.candidate_scores(prompt_ids, cand_ids)
        out = []
        for i, c in enumerate(contexts):
            s = scores[i].double() / self.temperature
            logpi = torch.log_softmax(s, dim=0).numpy()
            k = int(np.argmax(logpi)) if greedy else int(self._rng.choice(len(logpi), p=np.exp(logpi) / np.exp(logpi).sum()))
            a = list(c.actions)[k]
            out.append(Decision(prompt=prompts[i], prompt_ids=prompt_ids[i], action=a, reply=a, malformed=False,
                                completion_ids=cand_ids[i][k], logprob=float(logpi[k]), token_logprobs=[float(logpi[k])],
                                candidates=list(c.actions), candidate_ids=cand_ids[i], choice=k))
        return out

    def candidate_scores(self, prompt_ids: Sequence[list[int]], cand_ids: Sequence[Sequence[list[int]]]
                         ) -> list[torch.Tensor]:
        """Sum of log P(candidate tokens | prompt) for each candidate of each decision: a list of (n_i,) tensors
        (shared_prefix_scores, `batch_size` decisions a pass, eval mode)."""
        out: list[torch.Tensor] = []
        was_training = self.model.training
        self.model.eval()  # no dropout: the scores are the policy itself
        try:
            for s in range(0, len(prompt_ids), self.batch_size):
                chunk = list(cand_ids[s:s + self.batch_size])
                flat, _ = shared_prefix_scores(self.model, prompt_ids[s:s + self.batch_size], chunk, self.pad_id,
                                               mean=self.score_norm == "mean")
                i = 0
                for cs in chunk:
                    out.append(flat[i:i + len(cs)])
                    i += len(cs)
        finally:
            self.model.train(was_training)
        return out

    def _act_generate(self, prompts: list[str], greedy: bool) -> list[Decision]:
        from dreamgym.models import Generator

        eos = self.tokenizer.eos_token_id
        gen = Generator(self.model, self.tokenizer, max_new_tokens=self.max_new_tokens,
                        temperature=0.0 if greedy else self.temperature, batch_size=self.batch_size,
                        seed=int(self._rng.integers(1 << 31)))
        outs = gen.generate(prompts)
        decisions = []
        for p, g in zip(prompts, outs, strict=True):
            action = parse_reply(g.text)
            ids = list(g.token_ids)
            decisions.append(Decision(
                prompt=p, prompt_ids=self._fit(self.encode([p])[0], len(ids)), action=action or "", reply=g.text,
                malformed=action is None, completion_ids=ids, logprob=float(sum(g.logprobs)),
                token_logprobs=[float(x) for x in g.logprobs],
                extra={"finish_reason": g.finish_reason, "ends_with_eos": bool(ids) and ids[-1] == eos}))
        return decisions

    # ---- the differentiable side (updates) ------------------------------------------------------------------
    def decision_logprobs(self, decisions: Sequence[Decision], *, value_head: ValueHead | None = None,
                          model=None) -> dict[str, torch.Tensor]:
        """Recompute, with gradients, what `act` sampled from, for a minibatch of decisions.

        Score mode: `logp` (N,) = log pi(choice) over each decision's candidates, `entropy` (N,) over candidates,
        `mask` (N,) ones. Generate mode: `logp`, `entropy`, `mask` (N, L) per reply token (mask = agent mask
        shifted onto the predicted tokens). `values` (N,) when a value head is given; `model` overrides the
        agent's model (e.g. a frozen reference for the KL term)."""
        model = model if model is not None else self.model
        if self.mode == "score":
            scores, h = shared_prefix_scores(model, [d.prompt_ids for d in decisions],
                                             [d.candidate_ids or [] for d in decisions], self.pad_id,
                                             hidden=value_head is not None, mean=self.score_norm == "mean")
            counts = [len(d.candidate_ids or []) for d in decisions]
            segs = torch.repeat_interleave(torch.arange(len(decisions)), torch.tensor(counts))
            logpi = segment_log_softmax(scores / self.temperature, segs, len(decisions))
            offsets = [sum(counts[:j]) for j in range(len(decisions))]
            chosen = torch.tensor([offsets[j] + d.choice for j, d in enumerate(decisions)], dtype=torch.long)
            ent = torch.zeros(len(decisions)).index_add(0, segs, -(logpi.exp() * logpi))
            out = {"logp": logpi[chosen], "entropy": ent, "mask": torch.ones(len(decisions))}
            if value_head is not None:
                out["values"] = value_head(h)
            return out
        packed = pack_rows([(d.prompt_ids, d.completion_ids) for d in decisions], self.pad_id)
        logp, ent, h = token_logprobs(model, packed, entropy=True, hidden=value_head is not None)
        out = {"logp": logp, "entropy": ent, "mask": packed.agent_mask}
        if value_head is not None:
            out["values"] = value_head(h)
        return out

    def behaviour_logprobs(self, decisions: Sequence[Decision], width: int | None = None) -> torch.Tensor:
        """The behaviour log-probs stored at acting time, laid out like decision_logprobs()['logp']."""
        if self.mode == "score":
            return torch.tensor([d.logprob for d in decisions], dtype=torch.float32)
        width = width or max(len(d.prompt_ids) + len(d.completion_ids) for d in decisions)
        out = torch.zeros((len(decisions), width), dtype=torch.float32)
        for i, d in enumerate(decisions):
            p = len(d.prompt_ids)
            out[i, p:p + len(d.token_logprobs)] = torch.tensor(d.token_logprobs, dtype=torch.float32)
        return out
