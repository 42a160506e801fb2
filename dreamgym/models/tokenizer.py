"""Train a small byte-level BPE tokenizer locally (the `tokenizers` library), wrapped as a HF fast tokenizer.

    tok = train_tokenizer(texts, vocab_size=2048, special_tokens=["<think>", "</think>", "<next>", "</next>"])
    tok.save_pretrained(out_dir); AutoTokenizer.from_pretrained(out_dir)   # round-trips

- Byte-level BPE (GPT-2 pre-tokenisation, all 256 bytes in the base alphabet): any text encodes and decodes
  back exactly, unicode included; there is no unknown token.
- Ids 0, 1, 2 are "<pad>", "</s>" (eos), "<s>" (bos); the caller's `special_tokens` (markup tags such as
  "<think>") take the last ids, in the given order, each always one id. Markup tags are added as *non-special*
  tokens: they are never split and `decode(..., skip_special_tokens=True)` keeps them (they are content the model
  writes); pad/eos/bos are special. Markup tags are cut out of the training texts, so BPE spends no merges on
  pieces of them. As in any HF tokenizer, the literal texts "<pad>", "</s>", "<s>" encode to the special ids
  (TRL appends eos to completions as text).
- Simplifications: no normaliser, no automatic bos/eos on encode (callers add them where they want them, e.g.
  TRL appends eos to completions); padding side is left (for batched generation).
- Deterministic: the same texts and arguments give the same vocabulary and merges (checked across processes).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence

from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

from dreamgym.errors import DreamGymError

PAD, EOS, BOS = "<pad>", "</s>", "<s>"
_BASE_ALPHABET = 256


def _split_out(texts: Iterable[str], tags: Sequence[str]) -> Iterator[str]:
    """Yield the pieces of each text between occurrences of `tags` (the tags themselves are dropped)."""
    if not tags:
        yield from (str(t) for t in texts)
        return
    pattern = re.compile("|".join(re.escape(t) for t in sorted(tags, key=len, reverse=True)))
    for text in texts:
        for piece in pattern.split(str(text)):
            if piece:
                yield piece


def train_tokenizer(texts: Iterable[str], vocab_size: int = 2048, special_tokens: Sequence[str] = (),
                    model_max_length: int = 2048) -> PreTrainedTokenizerFast:
    """Train a byte-level BPE tokenizer on `texts`; return a left-padding HF fast tokenizer.

    `vocab_size` is the total size (base bytes + merges + pad/eos/bos + `special_tokens`); a small corpus may
    yield fewer merges, so `len(tok) <= vocab_size`. pad=0, eos=1, bos=2; each string of `special_tokens` becomes
    one token id (the last ids, in the given order). `model_max_length` is recorded on the tokenizer only.
    """
    tags = list(dict.fromkeys(str(t) for t in special_tokens))  # unique, order kept
    bad = [t for t in tags if not t or t in (PAD, EOS, BOS)]
    if bad:
        raise DreamGymError(f"train_tokenizer: special_tokens must be non-empty and not {PAD}/{EOS}/{BOS}: {bad}")
    minimum = _BASE_ALPHABET + 3 + len(tags)
    if vocab_size < minimum:
        raise DreamGymError(f"train_tokenizer: vocab_size={vocab_size} is below the minimum {minimum} "
                            f"(256 bytes + pad/eos/bos + {len(tags)} special tokens)")
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    # pad/eos/bos take ids 0-2 (trainer special tokens); the tags are re-appended after the learned vocabulary
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in (PAD, EOS, BOS)])
    tok.add_tokens([AddedToken(t, special=False, normalized=False) for t in tags])
    trainer = trainers.BpeTrainer(vocab_size=vocab_size - len(tags), special_tokens=[PAD, EOS, BOS],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(_split_out(texts, tags), trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token=PAD, eos_token=EOS, bos_token=BOS,
                                   padding_side="left", model_max_length=model_max_length)
    for t in tags:
        if len(fast.encode(t, add_special_tokens=False)) != 1:  # pragma: no cover - guards a library change
            raise DreamGymError(f"train_tokenizer: special token {t!r} did not become a single id")
    return fast
