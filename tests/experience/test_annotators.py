"""Annotators: make_annotator (the env's rule-based one, plug-ins, unknown names), clean_reasoning, the
OpenAI-compatible LLM annotator against a real local HTTP server, and the HF annotator (injected generate_fn and
a real tiny model). Each env's rule-based rationales are tested in tests/envs/<name>/."""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from envutil import SW_ROWS, TW_ROWS

from dreamgym.envs import get_spec
from dreamgym.envs.text import MAX_WORDS
from dreamgym.errors import UnknownNameError
from dreamgym.experience.annotators import (
    ANNOTATORS,
    AnnotatorError,
    HFAnnotator,
    LLMAnnotator,
    annotate_rows,
    clean_reasoning,
    make_annotator,
    register_annotator,
)
from dreamgym.experience.format import format_target, has_tag, parse_target


def test_make_annotator_picks_the_env_rule_or_a_plug_in():
    spec = get_spec("textcraft")
    assert make_annotator(None, spec) is spec.annotate
    assert make_annotator("rule", spec) is spec.annotate
    assert make_annotator(None, get_spec("babyai")) is get_spec("babyai").annotate

    @register_annotator("test-annotators-echo")
    def echo(state, action, next_state, reward, done, valid_action, info=None):
        return f"{action} -> {next_state}"

    assert make_annotator("test-annotators-echo", spec) is echo
    assert "test-annotators-echo" in ANNOTATORS.names()
    assert annotate_rows(make_annotator("test-annotators-echo", spec), [dict(TW_ROWS[0], info=None)]) == \
        ["dance -> That's not a verb I recognise."]
    with pytest.raises(UnknownNameError, match="unknown annotator 'nope'.*test-annotators-echo"):
        make_annotator("nope", spec)


def test_clean_reasoning():
    assert clean_reasoning("a <think> b\n\n c</done>") == "a b c"
    long = clean_reasoning(" ".join(f"w{i}" for i in range(100)), max_words=5)
    assert long == "w0 w1 w2 w3 w4 …"
    assert len(clean_reasoning(" ".join(["w"] * 100)).split()) == MAX_WORDS + 1
    note = clean_reasoning("moved <next>x</next> on")
    assert not has_tag(note) and parse_target(format_target(note, True, "s", 0.0, False)).reasoning == note


# ---- LLM annotator against a real local server -------------------------------------------------------------------


class _ChatServer:
    """An OpenAI-compatible chat endpoint on 127.0.0.1 in a thread; `mode` picks the behaviour."""

    def __init__(self):
        self.requests: list[tuple[str, dict, dict]] = []
        self.mode = "ok"
        self.reply = "Valid: the <think>door opens</think> so the room beyond shows; reward 0."
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                return

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.requests.append((self.path, dict(self.headers), body))
                if outer.mode == "sleep":
                    time.sleep(0.5)
                if outer.mode == "500":
                    data, code = b'{"error": "model overloaded"}', 500
                elif outer.mode == "garbage":
                    data, code = b'{"unexpected": true}', 200
                else:
                    data, code = json.dumps({"id": "x", "object": "chat.completion", "choices": [
                        {"index": 0, "message": {"role": "assistant", "content": outer.reply},
                         "finish_reason": "stop"}]}).encode(), 200
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                try:
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def chat_server():
    srv = _ChatServer()
    yield srv
    srv.close()


def test_llm_annotator_speaks_openai_chat(chat_server):
    ann = LLMAnnotator(chat_server.url, "teacher-7b", api_key="k-123", timeout=5, env="textworld")
    row = TW_ROWS[1]
    note = ann(**row, info={"instruction": "cook a meal"})
    assert note == "Valid: the door opens so the room beyond shows; reward 0."
    path, headers, body = chat_server.requests[0]
    assert path == "/v1/chat/completions" and headers["Authorization"] == "Bearer k-123"
    assert body["model"] == "teacher-7b" and body["messages"][0]["role"] == "user"
    content = body["messages"][0]["content"]
    for piece in ("textworld", "cook a meal", "open fridge", "revealing a yellow onion", "Action valid: yes",
                  "Reward: 0", f"at most {MAX_WORDS} words"):
        assert piece in content
    chat_server.reply = " ".join(["word"] * 90)
    assert len(annotate_rows(ann, [dict(row, info=None)])[0].split()) == MAX_WORDS + 1  # cut, "…" appended
    no_key = LLMAnnotator(chat_server.url + "/", "m", timeout=5)
    no_key(**row)
    assert "Authorization" not in chat_server.requests[-1][1]


def test_llm_annotator_errors_are_clear(chat_server):
    ann = LLMAnnotator(chat_server.url, "m", timeout=5)
    chat_server.mode = "500"
    with pytest.raises(AnnotatorError, match=r"POST http://127.0.0.1:\d+/v1/chat/completions returned HTTP 500"):
        ann(**TW_ROWS[0])
    chat_server.mode = "garbage"
    with pytest.raises(AnnotatorError, match="without choices"):
        ann(**TW_ROWS[0])
    chat_server.mode = "ok"
    chat_server.reply = "<think></think>"
    with pytest.raises(AnnotatorError, match="empty rationale"):
        ann(**TW_ROWS[0])
    chat_server.mode = "sleep"
    with pytest.raises(AnnotatorError, match="cannot reach.*timeout=0.1s"):
        LLMAnnotator(chat_server.url, "m", timeout=0.1)(**TW_ROWS[0])
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(AnnotatorError, match=f"cannot reach http://127.0.0.1:{port}/v1/chat/completions"):
        LLMAnnotator(f"http://127.0.0.1:{port}/v1", "m", timeout=2)(**TW_ROWS[0])
    with pytest.raises(AnnotatorError, match="must start with http"):
        LLMAnnotator("127.0.0.1:8000", "m")
    with pytest.raises(AnnotatorError, match="unknown or malformed field"):
        LLMAnnotator(chat_server.url, "m", prompt_template="{nope}")(**TW_ROWS[0])


# ---- HF annotator ------------------------------------------------------------------------------------------------


def test_hf_annotator_batches_through_generate_fn():
    calls = []

    def generate(prompts):
        calls.append(len(prompts))
        return [f"Rationale <done> for {next(ln for ln in p.splitlines() if ln.startswith('Action:'))}"
                for p in prompts]

    ann = HFAnnotator(generate_fn=generate, batch_size=2, env="scienceworld")
    rows = [dict(r, info=None) for r in SW_ROWS] + [dict(SW_ROWS[0], info=None)]
    notes = ann.annotate_many(rows)
    assert calls == [2, 2, 1] and len(notes) == 5
    assert notes[1] == "Rationale for Action: go to kitchen" and not any(has_tag(n) for n in notes)
    assert ann(**SW_ROWS[2]) == "Rationale for Action: pick up thermometer"
    assert annotate_rows(ann, rows[:2]) == notes[:2]
    with pytest.raises(AnnotatorError, match="returned 1 texts for 2 prompts"):
        HFAnnotator(generate_fn=lambda ps: ["x"], batch_size=2).annotate_many(rows[:2])
    with pytest.raises(AnnotatorError, match="needs generate_fn"):
        HFAnnotator()


def test_hf_annotator_with_a_real_tiny_model():
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    raw = Tokenizer(models.BPE(unk_token="<unk>"))
    raw.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    corpus = [r["state"] + " " + r["next_state"] + " " + r["action"] for r in SW_ROWS + TW_ROWS] * 3
    raw.train_from_iterator(corpus, trainers.BpeTrainer(vocab_size=400, special_tokens=["<pad>", "</s>", "<unk>"],
                                                        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tok = PreTrainedTokenizerFast(tokenizer_object=raw, pad_token="<pad>", eos_token="</s>", unk_token="<unk>")
    import torch

    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=len(tok), n_positions=1024, n_embd=16, n_layer=1, n_head=2,
                                       pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id)).eval()
    side = tok.padding_side
    ann = HFAnnotator(model, tok, env="scienceworld", batch_size=3, max_new_tokens=6, max_words=4)
    notes = ann.annotate_many([dict(r, info=None) for r in SW_ROWS])
    assert len(notes) == len(SW_ROWS)
    assert all(isinstance(n, str) and len(n.split()) <= 5 and not has_tag(n) for n in notes)
    assert notes == ann.annotate_many([dict(r, info=None) for r in SW_ROWS])  # greedy: deterministic
    assert tok.padding_side == side  # restored after left-padded generation
