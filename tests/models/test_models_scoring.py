"""Packing with agent masks, one-pass token log-probs, shared-prefix candidate scoring (equal to scoring every
(prompt, candidate) row on its own), and the value head."""

from __future__ import annotations

import pytest
import torch

from dreamgym.errors import DreamGymError
from dreamgym.models.scoring import ValueHead, pack_rows, shared_prefix_scores, token_hits, token_logprobs

PROMPTS = ["You are in the kitchen. You see a fridge", "Inventory: [minecraft:oak_log] (2)", "go north"]
CANDIDATES = [[" open fridge\n", " go north\n", " take apple from fridge\n"], [" craft 1 chest\n", " look\n"],
              [" inventory\n"]]


def _ids(tok, texts):
    return [tok(t, add_special_tokens=False)["input_ids"] for t in texts]


def test_agent_mask_excludes_environment_tokens():
    # two turns: env tokens (task + observations + earlier actions) are the prompt, agent tokens the completion
    env1, agent1 = [11, 12, 13, 14], [21, 22]
    env2, agent2 = [11, 12, 15], [23, 24, 25]
    p = pack_rows([(env1, agent1), (env2, agent2)], pad_id=0)
    assert p.input_ids.tolist() == [env1 + agent1, env2 + agent2]
    assert p.agent_mask.tolist() == [[0, 0, 0, 0, 1, 1], [0, 0, 0, 1, 1, 1]]
    assert p.attention_mask.tolist() == [[1] * 6, [1] * 6]
    q = pack_rows([(env1, agent1), (env2, [23])], pad_id=0)
    assert q.agent_mask[1].tolist() == [0, 0, 0, 1, 0, 0] and q.attention_mask[1].tolist() == [1, 1, 1, 1, 0, 0]
    assert q.prompt_last.tolist() == [3, 2]
    trained = q.input_ids[q.agent_mask.bool()].tolist()
    assert trained == [21, 22, 23] and not set(trained) & set(env1 + env2)


def test_shared_prefix_scores_equal_full_sequences(model, tok):
    prompts, cands = _ids(tok, PROMPTS), [_ids(tok, cs) for cs in CANDIDATES]
    with torch.no_grad():
        got, h = shared_prefix_scores(model, prompts, cands, tok.pad_token_id, hidden=True)
        packed = pack_rows([(p, c) for p, cs in zip(prompts, cands, strict=True) for c in cs], tok.pad_token_id)
        logp, _, hh = token_logprobs(model, packed, hidden=True)
    assert got.shape == (6,) and h.shape == (3, model.config.hidden_size)
    assert torch.allclose(got, (logp * packed.agent_mask).sum(-1), atol=1e-4)
    assert torch.allclose(h, hh[[0, 3, 5]], atol=1e-4)


def test_shared_prefix_scores_equal_a_loop_over_rows(model, tok):
    prompts, cands = _ids(tok, PROMPTS), [_ids(tok, cs) for cs in CANDIDATES]
    with torch.no_grad():
        total, _ = shared_prefix_scores(model, prompts, cands, tok.pad_token_id)
        mean, _ = shared_prefix_scores(model, prompts, cands, tok.pad_token_id, mean=True)
        loop = []
        for p, cs in zip(prompts, cands, strict=True):
            for c in cs:  # one unpadded row at a time
                row = pack_rows([(p, c)], tok.pad_token_id)
                logp, _, _ = token_logprobs(model, row)
                loop.append((logp * row.agent_mask).sum().item())
    lengths = torch.tensor([len(c) for cs in cands for c in cs], dtype=torch.float32)
    assert torch.allclose(total, torch.tensor(loop), atol=1e-4)
    assert torch.allclose(mean, torch.tensor(loop) / lengths, atol=1e-4)


def test_token_logprobs_entropy_is_that_of_each_position(model, tok):
    packed = pack_rows([(_ids(tok, PROMPTS[:1])[0], [5, 6])], tok.pad_token_id)
    with torch.no_grad():
        logp, ent, h = token_logprobs(model, packed, entropy=True)
        full = torch.log_softmax(model(input_ids=packed.input_ids).logits[0].float(), dim=-1)
    n = packed.input_ids.shape[1]
    assert h is None and logp.shape == ent.shape == (1, n) and logp[0, 0] == 0 and ent[0, 0] == 0
    assert torch.allclose(ent[0, 1:], -(full.exp() * full).sum(-1)[:-1], atol=1e-5)


def test_token_hits_are_the_greedy_choice_at_each_real_position(model, tok):
    rows = [(tok("<obs>red ball 1").input_ids, tok(" turn left").input_ids), (tok("<obs>x").input_ids, [])]
    packed = pack_rows(rows, tok.pad_token_id)
    hits = token_hits(model, packed)
    with torch.no_grad():
        best = model(input_ids=packed.input_ids, attention_mask=packed.attention_mask).logits.argmax(-1)
    for b, (p, c) in enumerate(rows):
        ids = list(p) + list(c)
        want = [False] + [bool(best[b, i - 1] == ids[i]) for i in range(1, len(ids))]
        assert hits[b, :len(ids)].tolist() == want and not hits[b, len(ids):].any()  # padding never hits


def test_value_head_starts_at_zero_and_errors(model):
    head = ValueHead(8)
    assert head(torch.randn(3, 8, dtype=torch.bfloat16)).tolist() == [0.0, 0.0, 0.0]
    with pytest.raises(DreamGymError, match="no rows"):
        pack_rows([], 0)
    with pytest.raises(DreamGymError, match="row 1 has an empty prompt"):
        pack_rows([([1], [2]), ([], [3])], 0)
    with torch.no_grad(), pytest.raises(DreamGymError, match="prompt 1 is empty"):
        shared_prefix_scores(model, [[5], []], [[[6]], [[7]]], 0)
    with torch.no_grad(), pytest.raises(DreamGymError, match="every decision needs candidates"):
        shared_prefix_scores(model, [[5], [6]], [[[6]], []], 0)  # a decision without candidates
    with torch.no_grad(), pytest.raises(DreamGymError, match="each at least one token"):
        shared_prefix_scores(model, [[5], [6]], [[[6]], [[]]], 0)
