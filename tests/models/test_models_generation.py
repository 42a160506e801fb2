"""Generator: batched == one-by-one under left padding, stop strings, finish reasons, behaviour log-probs,
reproducible sampling, score, truncation, training mode, and finished rows leaving the batch."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from modelutil import RECITED, reference_logprobs, tiny_model

from dreamgym.errors import DreamGymError
from dreamgym.models import Generation, Generator

PROMPTS = ["You are in the kitchen.", "go", "", "<think>The apple is in the fridge</think><next>",
           "Inventory: 8 acacia planks, 1 stick and a very long list of other things ünï 😀", "craft 1 chest"]
FULL = RECITED.removeprefix("alpha beta")  # what the reciter writes after "alpha beta" (then eos)


def _ids(tok, text):
    return tok(text, add_special_tokens=False)["input_ids"]


def test_empty_prompt_list(model, tok):
    g = Generator(model, tok, max_new_tokens=8)
    assert g.generate([]) == [] and g.score([], []) == []


def test_batched_greedy_equals_one_by_one(model, tok):
    g = Generator(model, tok, max_new_tokens=12, batch_size=4)
    batched = g.generate(PROMPTS)
    for prompt, b in zip(PROMPTS, batched, strict=True):
        single = g.generate([prompt])[0]
        assert b.token_ids == single.token_ids and b.text == single.text
        assert b.logprobs == pytest.approx(single.logprobs, abs=1e-4)
        assert b.prompt_tokens == max(1, len(_ids(tok, prompt))) and b.finish_reason == "length"
        assert len(b.token_ids) == 12


def test_greedy_matches_transformers_generate(model, tok):
    prompt = PROMPTS[0]
    ours = Generator(model, tok, max_new_tokens=10).generate([prompt])[0]
    ids = torch.tensor([_ids(tok, prompt)])
    ref = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=10, do_sample=False,
                         eos_token_id=None, pad_token_id=tok.pad_token_id)
    assert ours.token_ids == ref[0, ids.shape[1]:].tolist()


def test_logprobs_equal_full_forward(model, tok):
    outs = Generator(model, tok, max_new_tokens=8, temperature=1.0, seed=3, batch_size=8).generate(PROMPTS)
    for prompt, out in zip(PROMPTS, outs, strict=True):
        prompt_ids = _ids(tok, prompt) or [tok.bos_token_id]
        assert out.logprobs == pytest.approx(reference_logprobs(model, prompt_ids, out.token_ids), abs=1e-4)


def test_finish_reasons(reciter, tok):
    eos = Generator(reciter, tok, max_new_tokens=40).generate(["alpha beta"])[0]
    assert (eos.finish_reason, eos.text, eos.stop) == ("eos", FULL, None)
    assert eos.token_ids[-1] == tok.eos_token_id and len(eos.logprobs) == len(eos.token_ids)
    assert sum(eos.logprobs) > -1.0  # the reciter is confident
    stop = Generator(reciter, tok, max_new_tokens=40, stop_strings=["</next>"]).generate(["alpha beta"])[0]
    assert (stop.finish_reason, stop.text, stop.stop) == ("stop", " gamma <next>delta</next>", "</next>")
    assert stop.token_ids == eos.token_ids[:len(stop.token_ids)] and stop.token_ids[-1] == tok.convert_tokens_to_ids(
        "</next>")
    length = Generator(reciter, tok, max_new_tokens=3).generate(["alpha beta"])[0]
    assert length.finish_reason == "length" and length.token_ids == eos.token_ids[:3]
    assert length.text == tok.decode(eos.token_ids[:3])


def test_first_completed_stop_string_wins(reciter, tok):
    g = Generator(reciter, tok, max_new_tokens=40, stop_strings=["epsilon", "delta", "<next>"])
    out = g.generate(["alpha beta"])[0]
    assert (out.text, out.stop) == (" gamma <next>", "<next>")


@settings(max_examples=40, deadline=None)
@given(st.integers(0, len(FULL) - 1), st.integers(1, 6))
def test_stop_string_cuts_text_right_after_it(reciter, tok, start, size):
    stop = FULL[start:start + size]
    out = Generator(reciter, tok, max_new_tokens=40, stop_strings=[stop]).generate(["alpha beta"])[0]
    end = FULL.find(stop) + len(stop)
    assert out.finish_reason == "stop" and out.stop == stop and out.text == FULL[:end]
    # the token list is the shortest prefix whose text contains the stop string (its last token may run past it)
    assert stop in tok.decode(out.token_ids) and stop not in tok.decode(out.token_ids[:-1])


def test_batch_with_mixed_finishes_equals_singles_and_drops_finished_rows(reciter, tok):
    prompts = ["alpha beta gamma <next>delta</next>", "alpha beta", "zzz qqq", "alpha"]
    g = Generator(reciter, tok, max_new_tokens=30, stop_strings=["</next>"], batch_size=4)
    widths: list[int] = []
    hook = reciter.register_forward_pre_hook(lambda mod, args, kw: widths.append(kw["input_ids"].shape[0]),
                                             with_kwargs=True)
    try:
        batched = g.generate(prompts)
    finally:
        hook.remove()
    assert widths[0] == 4 and widths[-1] < 4 and widths == sorted(widths, reverse=True)
    assert len(widths) == max(len(o.token_ids) for o in batched)  # prefill + one step per extra token
    assert {o.finish_reason for o in batched} >= {"eos", "stop"}
    for prompt, b in zip(prompts, batched, strict=True):
        s = g.generate([prompt])[0]
        assert (b.token_ids, b.text, b.finish_reason) == (s.token_ids, s.text, s.finish_reason)


def test_sampling_reproducible(model, tok):
    kw = dict(max_new_tokens=10, temperature=1.0)
    a1 = Generator(model, tok, seed=5, **kw)
    first, second = a1.generate(PROMPTS), a1.generate(PROMPTS)
    a2 = Generator(model, tok, seed=5, batch_size=2, **kw)  # another batch size: the same samples
    assert [o.token_ids for o in a2.generate(PROMPTS)] == [o.token_ids for o in first]
    assert [o.token_ids for o in a2.generate(PROMPTS)] == [o.token_ids for o in second]
    assert [o.token_ids for o in first] != [o.token_ids for o in second]  # each call draws anew
    other = Generator(model, tok, seed=6, **kw).generate(PROMPTS)
    assert [o.token_ids for o in other] != [o.token_ids for o in first]
    pinned = [Generator(model, tok, seed=s, **kw).generate(PROMPTS, seed=11) for s in (1, 2)]
    assert [o.token_ids for o in pinned[0]] == [o.token_ids for o in pinned[1]]
    same = Generator(model, tok, seed=5, **kw).generate(["go"] * 4)  # identical prompts get distinct samples
    assert len({tuple(o.token_ids) for o in same}) > 1


def test_tiny_top_p_is_greedy_and_hot_sampling_differs(model, tok):
    greedy = Generator(model, tok, max_new_tokens=10).generate(PROMPTS)
    nucleus = Generator(model, tok, max_new_tokens=10, temperature=1.0, top_p=1e-6).generate(PROMPTS)
    assert [o.token_ids for o in nucleus] == [o.token_ids for o in greedy]
    hot = Generator(model, tok, max_new_tokens=10, temperature=5.0).generate(PROMPTS)
    assert [o.token_ids for o in hot] != [o.token_ids for o in greedy]


def test_score_equals_manual_sum(model, tok):
    prompts = ["You are in the kitchen.", "go", "", "craft 1 chest", "go"]
    conts = [" open the fridge", " north", "take apple", "", "<next>a room</next>"]
    scores = Generator(model, tok, batch_size=2, max_new_tokens=8).score(prompts, conts)
    for p, c, s in zip(prompts, conts, scores, strict=True):
        manual = sum(reference_logprobs(model, _ids(tok, p) or [tok.bos_token_id], _ids(tok, c)))
        assert s == pytest.approx(manual, abs=1e-3)
    assert scores[3] == 0.0
    with pytest.raises(DreamGymError, match="2 prompts but 1 continuations"):
        Generator(model, tok, max_new_tokens=8).score(["a", "b"], ["c"])


def test_score_of_a_generation_is_its_logprob_sum(reciter, tok):
    g = Generator(reciter, tok, max_new_tokens=40, stop_strings=["</next>"])
    out = g.generate(["alpha beta"])[0]
    assert _ids(tok, out.text) == out.token_ids  # the text re-tokenizes to the generated ids
    assert g.score(["alpha beta"], [out.text])[0] == pytest.approx(sum(out.logprobs), abs=1e-4)


def test_left_truncation(model, tok):
    long = " ".join(["go north"] * 40)
    g = Generator(model, tok, max_new_tokens=5, max_prompt_tokens=6)
    out = g.generate([long, "go"])
    assert out[0].prompt_tokens == 6 and out[0].prompt_truncated and not out[1].prompt_truncated
    kept = _ids(tok, long)[-6:]
    assert out[0].logprobs == pytest.approx(reference_logprobs(model, kept, out[0].token_ids), abs=1e-4)
    default = Generator(model, tok, max_new_tokens=100)  # model max positions 128 -> prompt budget 28
    assert default.max_prompt_tokens == 28 and default.generate([long])[0].prompt_tokens == 28
    with pytest.raises(DreamGymError, match="leaves no room"):
        Generator(model, tok, max_new_tokens=128)


def test_restores_training_mode_and_no_grad(tok):
    m = tiny_model(tok)
    m.train()
    g = Generator(m, tok, max_new_tokens=3)
    g.generate(["go"])
    g.score(["go"], [" north"])
    assert m.training
    m.eval()
    g.generate(["go"])
    assert not m.training
    assert all(p.grad is None for p in m.parameters())


def test_argument_errors(model, tok):
    with pytest.raises(DreamGymError, match="stop_strings"):
        Generator(model, tok, max_new_tokens=8, stop_strings="</next>")
    with pytest.raises(DreamGymError, match="top_p"):
        Generator(model, tok, max_new_tokens=8, top_p=0.0)
    with pytest.raises(DreamGymError, match="single string"):
        Generator(model, tok, max_new_tokens=8).generate("go")
    assert isinstance(Generator(model, tok, max_new_tokens=1).generate(["go"])[0], Generation)
