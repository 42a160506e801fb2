"""The LLM agent: contexts in, actions out, with the behaviour log-probs and token ids an RL update needs.

    agent = Agent(model, tokenizer, AgentSettings.from_config(cfg.policy))   # the config is the only source of settings
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
first step. The packing, log-prob and shared-prefix maths live in dreamgym.models.scoring.

AgentSettings has no defaults: `AgentSettings.from_config(PolicyConfig)` is the one mapping from the config, so
an agent cannot act with a value the config does not hold.

Simplifications: prompts longer than the model's positions minus the longest completion are left-truncated
(the task line can be lost on very long histories; the character budget of the prompt keeps this rare); score
mode's scores are per-candidate (no joint normalisation over the action strings).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
import torch

from dreamgym.errors import DreamGymError
from dreamgym.models.scoring import ValueHead, pack_rows, shared_prefix_scores, token_logprobs
from dreamgym.policy.config import PolicyConfig
from dreamgym.policy.core import segment_log_softmax
from dreamgym.policy.format import MODES, agent_prompt, candidate_text, parse_reply

#: the settings a checkpoint carries (Agent.settings()); batch_size and seed are the acting process's own
CHECKPOINT_SETTINGS = ("mode", "history_window", "prompt_budget", "max_new_tokens", "temperature", "score_norm")


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


@dataclass(frozen=True)
class AgentSettings:
    """How an agent acts: prompt format (`mode`: score or generate), history window and prompt budget (characters),
    reply budget (tokens, generate mode), sampling temperature, candidate score (`score_norm`: mean or sum of its
    token log-probs), decisions per forward pass, and the sampling seed. No defaults: build it with from_config."""

    mode: str
    history_window: int
    prompt_budget: int
    max_new_tokens: int
    temperature: float
    score_norm: str
    batch_size: int
    seed: int

    def __post_init__(self):
        for name, cast in (("history_window", int), ("prompt_budget", int), ("max_new_tokens", int),
                           ("temperature", float), ("batch_size", int), ("seed", int)):
            object.__setattr__(self, name, cast(getattr(self, name)))
        if self.mode not in MODES:
            raise DreamGymError(f"agent mode must be one of {MODES}, got '{self.mode}'")
        if self.temperature <= 0:
            raise DreamGymError(f"agent temperature must be > 0 (greedy acting is act(..., greedy=True)), got "
                                f"{self.temperature}")
        if self.score_norm not in ("sum", "mean"):
            raise DreamGymError(f"agent score_norm must be 'sum' or 'mean', got '{self.score_norm}'")

    @classmethod
    def from_config(cls, cfg: PolicyConfig) -> AgentSettings:
        """The acting settings of a policy config (the one place that maps config -> settings)."""
        return cls(mode=cfg.mode, history_window=cfg.history_window, prompt_budget=cfg.prompt_budget,
                   max_new_tokens=cfg.max_new_tokens, temperature=cfg.temperature, score_norm=cfg.score_norm,
                   batch_size=cfg.batch_size, seed=cfg.seed)

    @classmethod
    def names(cls) -> list[str]:
        """The setting names, sorted (what a checkpoint's settings may hold)."""
        return sorted(f.name for f in fields(cls))


class Agent:
    """An LLM policy over (model, tokenizer) acting per `acting` (AgentSettings); see the module docstring."""

    def __init__(self, model, tokenizer, acting: AgentSettings):
        if tokenizer.pad_token_id is None:
            raise DreamGymError("agent: the tokenizer needs a pad token (load models with dreamgym.models.load_model)")
        self.model, self.tokenizer, self.acting = model, tokenizer, acting
        self.max_positions = int(getattr(model.config, "max_position_embeddings", 0) or 1 << 30)
        self.pad_id = int(tokenizer.pad_token_id)
        self._rng = np.random.default_rng(acting.seed)

    def rng_state(self) -> dict:
        """The state of the sampler that picks actions (to resume a run exactly)."""
        return self._rng.bit_generator.state

    def set_rng_state(self, state: dict) -> None:
        self._rng.bit_generator.state = state

    @property
    def mode(self) -> str:
        """The prompt and reply format: "score" or "generate"."""
        return self.acting.mode

    # ---- settings that travel with a checkpoint -------------------------------------------------------------
    def settings(self) -> dict[str, Any]:
        """What a saved policy needs to act the same way again (stored in the model config)."""
        return {k: getattr(self.acting, k) for k in CHECKPOINT_SETTINGS}

    # ---- text -> ids --------------------------------------------------------------------------------------
    def prompt(self, ctx: Context) -> str:
        """The prompt text of one context (history window and character budget per the settings)."""
        return agent_prompt(ctx.instruction, ctx.history, ctx.observation, ctx.actions, mode=self.mode,
                            window=self.acting.history_window, budget=self.acting.prompt_budget)

    def encode(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids of each text, without special tokens."""
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
        prompt_ids = [self._fit(p, max(len(x) for x in cs))
                      for p, cs in zip(self.encode(prompts), cand_ids, strict=True)]
        with torch.no_grad():
            scores = self.candidate_scores(prompt_ids, cand_ids)
        out = []
        for i, c in enumerate(contexts):
            s = scores[i].double() / self.acting.temperature
            logpi = torch.log_softmax(s, dim=0).numpy()
            probs = np.exp(logpi)
            k = int(np.argmax(logpi)) if greedy else int(self._rng.choice(len(logpi), p=probs / probs.sum()))
            a = list(c.actions)[k]
            out.append(Decision(prompt=prompts[i], prompt_ids=prompt_ids[i], action=a, reply=a, malformed=False,
                                completion_ids=cand_ids[i][k], logprob=float(logpi[k]),
                                token_logprobs=[float(logpi[k])], candidates=list(c.actions),
                                candidate_ids=cand_ids[i], choice=k))
        return out

    def candidate_scores(self, prompt_ids: Sequence[list[int]], cand_ids: Sequence[Sequence[list[int]]]
                         ) -> list[torch.Tensor]:
        """log P(candidate tokens | prompt), the mean or sum over its tokens per `score_norm`, for each candidate of
        each decision: a list of (n_i,) tensors (shared_prefix_scores, `batch_size` decisions a pass, eval mode)."""
        out: list[torch.Tensor] = []
        n = self.acting.batch_size
        was_training = self.model.training
        self.model.eval()  # no dropout: the scores are the policy itself
        try:
            for s in range(0, len(prompt_ids), n):
                chunk = list(cand_ids[s:s + n])
                flat, _ = shared_prefix_scores(self.model, prompt_ids[s:s + n], chunk, self.pad_id,
                                               mean=self.acting.score_norm == "mean")
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
        gen = Generator(self.model, self.tokenizer, max_new_tokens=self.acting.max_new_tokens,
                        temperature=0.0 if greedy else self.acting.temperature, batch_size=self.acting.batch_size,
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
                                             hidden=value_head is not None, mean=self.acting.score_norm == "mean")
            counts = [len(d.candidate_ids or []) for d in decisions]
            segs = torch.repeat_interleave(torch.arange(len(decisions)), torch.tensor(counts))
            logpi = segment_log_softmax(scores / self.acting.temperature, segs, len(decisions))
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
