"""The command line: one-line errors for bad input, and a person can play an env from the terminal."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def cli(*args, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dreamgym.cli", *args], input=stdin, capture_output=True,
                          text=True, cwd=ROOT, timeout=300)


@pytest.mark.parametrize("args, message", [
    (["play", "nope"], "error: unknown env 'nope'; available: babyai, scienceworld, textcraft, textworld"),
    (["tasks", "textcraft", "--split", "dev"], "error: unknown split 'dev'; choose one of: train, val, test"),
    (["collect", "textcraft", "--episodes", "abc"], "error: Invalid value for '--episodes'"),
    (["collect", "textcraft", "--episodes", "0"], "error: Invalid value for '--episodes'"),
    (["config", "--preset", "huge"], "error: unknown preset 'huge'"),
    (["config", "-S", "seed_data.noise_eps=7"], "error: invalid config at 'seed_data.noise_eps'"),
    (["bogus"], "error: No such command 'bogus'"),
    (["eval", "--env", "babyai", "--model", "no/such/dir", "-n", "2"], "error: model kind 'hf': no model at no/such/dir"),
    (["eval", "--env", "nope", "--model", "x"], "error: unknown env 'nope'"),
    (["eval", "--env", "babyai", "--model", "x", "--split", "dev"], "error: unknown split 'dev'"),
])
def test_bad_input_is_one_line(args, message):
    r = cli(*args)
    assert r.returncode == 2
    assert r.stderr.strip().startswith(message), r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr


def test_every_command_has_help():
    for cmd in ["config", "envs", "tasks", "collect", "seed", "play", "ui"]:
        r = cli(cmd, "--help")
        assert r.returncode == 0 and "Usage:" in r.stdout, cmd


def test_play_textcraft_with_the_expert_until_success():
    r = cli("play", "textcraft", "--split", "val", stdin="inventory\nfly away\n" + "/expert\n" * 40 + "/quit\n")
    assert r.returncode == 0, r.stderr
    assert "Your goal: craft" in r.stdout and "SUCCESS" in r.stdout
    assert "[invalid action]" in r.stdout  # "fly away" is reported as invalid, not an exception


def test_play_babyai_lists_actions_and_takes_numbers():
    r = cli("play", "babyai", "--task-index", "0", stdin="0\n/expert\n/quit\n")
    assert r.returncode == 0, r.stderr
    assert "Available actions: [0]" in r.stdout and "-- reward" in r.stdout


def test_collect_writes_parquet(tmp_path):
    r = cli("collect", "textcraft", "--episodes", "5", "--out", str(tmp_path), "--preset", "tiny")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "textcraft" / "steps.parquet").is_file() and (tmp_path / "textcraft" / "tasks.parquet").is_file()
