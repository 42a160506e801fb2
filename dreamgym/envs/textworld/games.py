"""Offline, cached generation of TextWorld cooking games (the `tw-cooking` challenge) for the textworld env.

A game is fully determined by its settings and its seed. It is generated on first use with TextWorld's own
generator (`textworld.challenges` -> `tw-cooking` make + `textworld.generator.compile_game`, no subprocess) into

    <game_dir>/tw<textworld version>/<settings tag>-s<seed>/game.z8   (+ game.json, which TextWorld needs)

The game is compiled into a private temporary directory next to its final place and that directory is renamed
into place in one step, so a reader sees either no game or a complete one; if two processes generate the same
game at once, the first rename wins and the loser throws its copy away.

Caveat: TextWorld's generator iterates over a few Python sets, so two processes with different PYTHONHASHSEED
write game files that differ in the *order* of some quest fail-events (same world, same text, same walkthrough).
Once a game file exists it is reused, so every later reset of that task is byte-identical.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

GO_CHOICES = (1, 6, 9, 12)  # room counts the tw-cooking generator supports
MAX_RECIPE = 5
_FLAGS = (("open", "o"), ("cook", "c"), ("cut", "x"))
#: DreamGym split -> tw-cooking's own food split (used only with food_split=True)
TW_FOOD_SPLIT = {"train": "train", "val": "valid", "test": "test"}
GAME_FILE = "game.z8"


def _tw_version() -> str:
    import textworld

    return textworld.__version__


def settings_tag(settings: dict[str, Any]) -> str:
    """Short stable name of the difficulty settings, e.g. 'r1t1g6-ocx' (+ '-fs' with food splits)."""
    tag = f"r{settings['recipe']}t{settings['take']}g{settings['go']}"
    flags = "".join(ch for key, ch in _FLAGS if settings.get(key))
    tag += f"-{flags or 'none'}"
    if settings.get("food_split"):
        tag += "-fs"
    return tag


def check_settings(settings: dict[str, Any]) -> None:
    from dreamgym.errors import ConfigError

    recipe, take, go = settings["recipe"], settings["take"], settings["go"]
    if not 1 <= recipe <= MAX_RECIPE:
        raise ConfigError(f"textworld: recipe must be in 1..{MAX_RECIPE}, got {recipe}")
    if not 0 <= take <= recipe:
        raise ConfigError(f"textworld: take must be in 0..recipe ({recipe}), got {take}")
    if go not in GO_CHOICES:
        raise ConfigError(f"textworld: go must be one of {GO_CHOICES}, got {go}")


def game_path(game_dir: str | os.PathLike, settings: dict[str, Any], seed: int) -> Path:
    return Path(game_dir) / f"tw{_tw_version()}" / f"{settings_tag(settings)}-s{seed}" / GAME_FILE


def _generate_into(folder: Path, settings: dict[str, Any], seed: int, split: str) -> None:
    import textworld
    import textworld.challenges
    from textworld.generator import compile_game

    _desc, make, _args = textworld.challenges.CHALLENGES["tw-cooking"]
    tw_settings = {
        "recipe": int(settings["recipe"]),
        "take": int(settings["take"]),
        "go": int(settings["go"]),
        "open": bool(settings["open"]),
        "cook": bool(settings["cook"]),
        "cut": bool(settings["cut"]),
        "drop": False,  # limited inventory: TextWorld then has no winning policy (no expert), so not offered
        "recipe_seed": 0,
        "split": TW_FOOD_SPLIT[split] if settings.get("food_split") else None,
    }
    options = textworld.GameOptions()
    options.seeds = int(seed)
    options.path = str(folder / GAME_FILE)
    options.file_ext = ".z8"
    options.force_recompile = True
    game = make(settings=tw_settings, options=options)
    compile_game(game, options)
    for leftover in folder.glob("*.ni"):  # Inform7 source, not needed to play
        leftover.unlink()


def ensure_game(game_dir: str | os.PathLike, settings: dict[str, Any], seed: int, split: str) -> tuple[Path, float]:
    """Path of the compiled game (generating it if missing) and the seconds spent generating (0 if cached)."""
    path = game_path(game_dir, settings, seed)
    if path.is_file():
        return path, 0.0
    final = path.parent
    final.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{final.name}-", dir=final.parent))
    try:
        with warnings.catch_warnings():  # jericho's "not fully supported" warning while checking walkthroughs
            warnings.simplefilter("ignore")
            _generate_into(tmp, settings, seed, split)
        if not (tmp / GAME_FILE).is_file() or not (tmp / "game.json").is_file():
            raise RuntimeError(f"textworld: generation of {final.name} produced no game file")
        try:
            os.rename(tmp, final)  # atomic; fails if another process already put the game there
        except OSError:
            if not path.is_file():
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return path, time.perf_counter() - t0
