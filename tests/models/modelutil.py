"""Helpers of the model tests (imported by name; conftest.py holds the fixtures): a small fixed corpus, a tiny
tokenizer and model, a model trained to recite one string, and a reference forward pass."""

from __future__ import annotations

import torch

from dreamgym.models import build_tiny_model, train_tokenizer

TAGS = ["<think>", "</think>", "<next>", "</next>", "<reward>", "</reward>", "<done>", "</done>", "<valid>",
        "</valid>", "<ctx>"]

CORPUS = [
    "You are in the kitchen. You see a fridge, a table and a closed door to the north.",
    "<think>The apple is in the fridge, so I open it.</think><next>The fridge is open. Inside: an apple.</next>",
    "<reward>0</reward><done>false</done><valid>true</valid>",
    "Crafted 4 minecraft:acacia_planks\nInventory: 8 acacia planks, 1 stick",
    "craft 1 chest using 8 acacia planks",
    "Inventory: [minecraft:oak_log] (2), [minecraft:stick] (4)",
    "go north | go south | take apple from fridge | open door | inventory | look",
    "The thermometer reads 23 degrees. You move to the hallway. ünïcödé ✓ 温度",
] * 5

#: what the memorising model learns to recite (then eos)
RECITED = "alpha beta gamma <next>delta</next> epsilon"


def tiny_tokenizer(vocab_size: int = 400):
    return train_tokenizer(CORPUS, vocab_size=vocab_size, special_tokens=TAGS, model_max_length=128)


def tiny_model(tokenizer, seed: int = 0, hidden_size: int = 32, max_position_embeddings: int = 128):
    return build_tiny_model(tokenizer, hidden_size=hidden_size, num_layers=2, num_heads=2,
                            max_position_embeddings=max_position_embeddings, seed=seed)


def memorising_model(tokenizer, text: str = RECITED, steps: int = 80):
    """A tiny model trained (full-batch Adam, a few dozen steps) to recite `text` followed by eos."""
    model = tiny_model(tokenizer, seed=1, hidden_size=64)
    ids = torch.tensor([tokenizer(text, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]])
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.train()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        for _ in range(steps):
            loss = model(input_ids=ids, labels=ids).loss
            opt.zero_grad()
            loss.backward()
            opt.step()
    return model.eval()


def reference_logprobs(model, prompt_ids: list[int], gen_ids: list[int]) -> list[float]:
    """log P(gen_ids[i] | prompt_ids + gen_ids[:i]) from one unpadded full forward pass."""
    ids = torch.tensor([prompt_ids + gen_ids])
    with torch.no_grad():
        lp = torch.log_softmax(model(input_ids=ids).logits[0].float(), dim=-1)
    start = len(prompt_ids) - 1
    return [lp[start + i, t].item() for i, t in enumerate(gen_ids)]
