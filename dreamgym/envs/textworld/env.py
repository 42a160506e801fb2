"""TextWorld cooking games (the `tw-cooking` challenge of TextWorld 1.7, the family ALFWorld builds on).

One task = one generated game: difficulty settings (recipe size, ingredients to fetch, rooms, whether things
must be opened / cooked / cut) + a seed. Seeds come from disjoint ranges per split (train 1_000_000+i,
val 2_000_000+i, test 3_000_000+i), so splits are disjoint by construction. Games are generated offline on
first use into `game_dir` (see `games`), keyed by settings + seed, so a task always maps to the
same game file.

Observations are compact: the first one is the objective and the starting room; later ones are the game's
reply to the command (a move shows the new room). The ASCII banner, the prompt / status line ("-= Kitchen
=-3/7") and the "Would you like to RESTART ..." tail are removed, lines are stripped and blank lines dropped:

    You are hungry! Let's cook a delicious meal. Check the cookbook in the kitchen for the recipe. ...
    -= Kitchen =-
    You've just shown up in a kitchen. ...

Actions are TextWorld commands ("go north", "open fridge", "take red potato from counter", "examine
cookbook", "cook red potato with stove", "slice red potato with knife", "prepare meal", "eat meal", ...);
`available_actions()` is TextWorld's admissible-command list of the current state.

Validity. Every command is sent to the game (its reply is the observation), except interpreter meta-commands
(quit, restart, save, restore, undo, script, tw-* debug commands), which would desynchronise TextWorld's state
tracker and are answered with a fixed refusal instead. `valid_action` is True iff the command is in the
admissible list of the state it was issued in (case/whitespace-insensitive) OR TextWorld's state tracker
recognised it as a game action (e.g. "take knife" for the admissible "take knife from counter"). So a command
the parser rejects ("That's not a verb I recognise."), or that fails ("You can't go that way.", "That's
already open.") is invalid and leaves the world unchanged.

Outcome: success = the game is won (meal eaten). A lost game (burned / wrongly cut / eaten ingredient) ends the
episode with `terminal=True` (info["lost"] = True). env_score = the game's points (info["max_score"] = max).

Expert: TextWorld's winning policy (`policy_commands`) recomputed from the current state after every step, so
it replans after off-policy actions. With `expert_reads_cookbook` (default) the expert first walks to the
cookbook and examines it (as a player must, to learn the recipe) unless the recipe has already been shown in
this episode; it gives None only when the game can no longer be won.
"""

from __future__ import annotations

import re
import unicodedata
import warnings
from collections import deque
from pathlib import Path
from typing import Any

from dreamgym.data.schema import Task
from dreamgym.envs.base import TextEnv, check_split
from dreamgym.envs.textworld import games
from dreamgym.errors import ConfigError, DreamGymError

#: the tw-cooking objective (identical for every game; TextWorld hard-codes it)
OBJECTIVE = ("You are hungry! Let's cook a delicious meal. Check the cookbook in the kitchen for the recipe."
             " Once done, enjoy your meal!")
SEED_BASE = {"train": 1_000_000, "val": 2_000_000, "test": 3_000_000}
MAX_SPLIT_SIZE = 1_000_000
MAX_COMMAND_CHARS = 190
JERICHO_SEED = 1234  # the Z-machine's RNG seed (jericho treats 0 as "random")
REFUSAL = "That command is not available in this game."
_META_COMMANDS = {"quit", "q", "restart", "restore", "save", "undo", "script", "unscript", "transcript",
                  "noscript", "recording", "replay", "verify", "version"}
_DIRECTIONS = ("north", "south", "east", "west")

_STATUS_RE = re.compile(r"\s*>?\s*-= [^\n]*? =-\s*-?\d+/\d+\s*$")
_ENDING_RE = re.compile(r"Would you like to RESTART.*\Z", re.S)
_SPACES_RE = re.compile(r"[ \t]+")


def clean_text(raw: str) -> str:
    """Compact a raw Z-machine reply: no status line, prompt, restart question, blank lines or padding."""
    text = _ENDING_RE.sub("", raw or "")
    text = _STATUS_RE.sub("", text)
    lines = (_SPACES_RE.sub(" ", line).strip() for line in text.splitlines())
    return "\n".join(line for line in lines if line and line != ">")


def _norm(cmd: str) -> str:
    return " ".join(cmd.lower().split())


class TextWorldEnv(TextEnv):
    """TextWorld cooking games, generated offline and cached (see the module docstring).

    Kwargs:
        max_steps: step limit per episode.
        recipe: number of ingredients in the recipe (1-5).
        take: how many of them must be fetched in the house (0..recipe; the rest start in the inventory).
        go: number of rooms (1, 6, 9 or 12).
        open: containers and doors start closed and must be opened.
        cook: ingredients must be cooked (stove / oven / BBQ) as the recipe says.
        cut: ingredients must be cut (slice / dice / chop, with the knife) as the recipe says.
        food_split: use TextWorld's own food splits (val/test use foods held out of train).
        game_dir: cache directory of generated game files (relative to the working directory).
        train_size: number of train tasks listed.
        val_size: number of val tasks listed.
        test_size: number of test tasks listed.
        expert_reads_cookbook: the expert examines the cookbook before following TextWorld's winning policy.
    """

    name = "textworld"
    has_action_list = True

    def __init__(self, max_steps: int = 50, recipe: int = 1, take: int = 1, go: int = 6, open: bool = True,
                 cook: bool = True, cut: bool = True, food_split: bool = False,
                 game_dir: str = "artifacts/cache/textworld", train_size: int = 2000, val_size: int = 200,
                 test_size: int = 200, expert_reads_cookbook: bool = True):
        super().__init__(max_steps=max_steps)
        self.settings = {"recipe": int(recipe), "take": int(take), "go": int(go), "open": bool(open),
                         "cook": bool(cook), "cut": bool(cut), "food_split": bool(food_split)}
        games.check_settings(self.settings)
        self.sizes = {"train": int(train_size), "val": int(val_size), "test": int(test_size)}
        for split, size in self.sizes.items():
            if not 0 <= size <= MAX_SPLIT_SIZE:
                raise ConfigError(f"{split}_size must be in 0..{MAX_SPLIT_SIZE}, got {size}")
        self.game_dir = str(game_dir)
        self.expert_reads_cookbook = bool(expert_reads_cookbook)
        self.tag = games.settings_tag(self.settings)
        self.last_generation_s = 0.0  # seconds the last reset spent generating its game (0 if cached)
        self._tw = None  # the running TextWorld environment
        self._tw_path: Path | None = None
        self._i7 = None  # Inform7Game of the loaded game (turns actions into commands)
        self._names: dict[str, str] = {}  # entity id -> name
        self._rooms: set[str] = set()  # ids of rooms
        self._gs = None  # TextWorld GameState of the current state
        self._admissible: list[str] | None = None
        self._recipe_seen = False

    # ---- tasks --------------------------------------------------------------------------------------
    def list_tasks(self, split: str, n: int | None = None, start: int = 0) -> list[Task]:
        check_split(split)
        size = self.sizes[split]
        start = max(0, int(start))
        stop = size if n is None else min(size, start + max(0, int(n)))
        settings = {k: v for k, v in self.settings.items()}
        out = []
        for i in range(start, stop):
            seed = SEED_BASE[split] + i
            out.append(Task(task_id=f"textworld-{self.tag}-{split}-{seed}", env=self.name, instruction=OBJECTIVE,
                            split=split, spec={"seed": seed, "split": split, "settings": dict(settings)}))
        return out

    # ---- episode ------------------------------------------------------------------------------------
    def _settings_of(self, task: Task) -> dict[str, Any]:
        settings = dict(self.settings)
        settings.update(task.spec.get("settings") or {})
        games.check_settings(settings)
        return settings

    def _load(self, path: Path) -> None:
        import textworld

        if self._tw is not None and self._tw_path == path:
            return
        self._close_tw()
        infos = textworld.EnvInfos(feedback=True, won=True, lost=True, score=True, max_score=True, moves=True,
                                   policy_commands=True, game=True)
        with warnings.catch_warnings():  # TextWorld games are "not fully supported" by jericho: expected
            warnings.simplefilter("ignore")
            env = textworld.start(str(path), request_infos=infos)
        self._tw, self._tw_path = env, path
        self._i7 = None  # built from the loaded Game at the first reset (TextWorld has already parsed it)

    def _reset(self, task: Task) -> str:
        spec = task.spec or {}
        if "seed" not in spec:
            raise DreamGymError(f"textworld: task '{task.task_id}' has no seed in its spec")
        split = spec.get("split", task.split)
        check_split(split)
        settings = self._settings_of(task)
        self._set_state(None)
        try:
            path, self.last_generation_s = games.ensure_game(self.game_dir, settings, int(spec["seed"]), split)
            self._load(path)
            self._tw.seed(JERICHO_SEED)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self._set_state(self._tw.reset())
        except BaseException:
            self.done = True  # no episode to step in
            raise
        if self._i7 is None:
            from textworld.generator.inform7 import Inform7Game

            game = self._gs["game"]
            self._i7 = Inform7Game(game)
            self._names = {k: v.name for k, v in game.infos.items()}
            self._rooms = {k for k, v in game.infos.items() if v.type == "r"}
        self._recipe_seen = False
        raw = self._gs["feedback"] or ""
        objective = self._gs.get("objective") or OBJECTIVE
        idx = raw.find(objective)
        return clean_text(raw[idx:] if idx >= 0 else raw)

    def _set_state(self, gs) -> None:
        self._gs = gs
        self._admissible = None

    def _step(self, action: str) -> tuple[str, bool, bool, float, dict[str, Any]]:
        # The Z-machine reads ASCII lines of < 198 bytes: fold accents, drop other non-ASCII and control chars.
        ascii_ = unicodedata.normalize("NFKD", action).encode("ascii", "ignore").decode("ascii")
        cmd = " ".join("".join(ch if ch.isprintable() else " " for ch in ascii_).split())[:MAX_COMMAND_CHARS]
        words = cmd.lower().split()
        prev = self._gs
        if not words or words[0] in _META_COMMANDS or words[0].startswith("tw-"):
            return ((REFUSAL if words else "I beg your pardon?"), False, False, float(prev["score"] or 0),
                    self._extra(prev, generated=False))
        admissible_before = self._admissible  # None unless available_actions() was asked in this state
        moves_before = prev["moves"] or 0
        try:
            gs, _score, _done = self._tw.step(cmd)
        except Exception as exc:  # not expected; the game state is unknown now, so end the episode
            extra = self._extra(prev, generated=True)
            extra["terminal"] = True
            return (f"The game could not process that command ({type(exc).__name__}).", False, False,
                    float(prev["score"] or 0), extra)
        # valid: the state tracker recognised a game action, or the command was admissible before the step
        valid = (gs["moves"] or 0) > moves_before
        if not valid:
            before = admissible_before if admissible_before is not None else self._admissible_of(prev)
            valid = _norm(cmd) in {_norm(c) for c in before}
        self._set_state(gs)
        raw = gs["feedback"] or ""
        if "Ingredients:" in raw and "Directions:" in raw:
            self._recipe_seen = True
        won, lost = bool(gs["won"]), bool(gs["lost"]) and not gs["won"]
        extra = self._extra(gs, generated=True)
        if lost:
            extra["terminal"] = True
        return clean_text(raw), won, valid, float(gs["score"] or 0), extra

    def _extra(self, gs, generated: bool) -> dict[str, Any]:
        return {"raw_score": int(gs["score"] or 0), "max_score": int(gs["max_score"] or 0),
                "lost": bool(gs["lost"]) and not gs["won"], "sent_to_game": generated}

    # ---- actions ------------------------------------------------------------------------------------
    def _admissible_of(self, gs) -> list[str]:
        acts = gs.get("_valid_actions") if gs is not None else None
        if not acts:
            return []
        return sorted(set(self._i7.gen_commands_from_actions(acts)))

    def available_actions(self) -> list[str] | None:
        """TextWorld's admissible commands of the current state (computed on demand, cached per state)."""
        if self._gs is None or self.done:
            return []
        if self._admissible is None:
            self._admissible = self._admissible_of(self._gs)
        return list(self._admissible)

    def expert_action(self) -> str | None:
        if self._gs is None or self.done:
            return None
        policy = list(self._gs.get("policy_commands") or [])
        if not policy:
            return None  # the game can no longer be won (or is over)
        if self.expert_reads_cookbook and not self._recipe_seen:
            step = self._cookbook_step()
            if step:
                return step
        return policy[0]

    def _cookbook_step(self) -> str | None:
        """Next command towards reading the cookbook: 'examine cookbook' when it is reachable, else a move or
        door opening along the shortest path to its room; None when that is not possible."""
        facts = [(p.name, [a.name for a in p.arguments]) for p in self._gs.get("_facts") or []]
        name = self._names.get
        parent: dict[str, str] = {}
        closed: set[str] = set()
        player_room = None
        cookbook = next((k for k, v in self._names.items() if v == "cookbook"), None)
        for pred, args in facts:
            if pred in ("at", "on", "in") and len(args) == 2:
                if args[0] == "P" and pred == "at":
                    player_room = args[1]
                else:
                    parent[args[0]] = args[1]
            elif pred == "closed" and args:
                closed.add(args[0])
        if cookbook is None or player_room is None or cookbook not in parent:
            return None
        node, holder_room = cookbook, None
        for _ in range(10):
            up = parent.get(node)
            if up is None:
                return None
            if up == "I":
                holder_room = player_room
                break
            if up in closed:
                return None  # put away in a closed container: skip reading
            if up in self._rooms:
                holder_room = up
                break
            node = up
        if holder_room is None:
            return None
        if holder_room == player_room:
            return "examine cookbook"
        # Shortest path over the room graph; closed doors are opened on the way.
        edges: dict[str, list[tuple[str, str]]] = {}
        doors: dict[tuple[str, str], str] = {}
        for pred, args in facts:
            if pred.endswith("_of") and pred[:-3] in _DIRECTIONS and len(args) == 2:
                # north_of(A, B): A is north of B, so from B one goes north to A
                edges.setdefault(args[1], []).append((pred[:-3], args[0]))
            elif pred == "link" and len(args) == 3:
                doors[(args[0], args[2])] = args[1]
        prev: dict[str, tuple[str, str] | None] = {player_room: None}
        queue = deque([player_room])
        while queue:
            room = queue.popleft()
            if room == holder_room:
                break
            for direction, nxt in sorted(edges.get(room, [])):
                if nxt not in prev:
                    prev[nxt] = (room, direction)
                    queue.append(nxt)
        if holder_room not in prev:
            return None
        room = holder_room
        while prev[room] is not None and prev[room][0] != player_room:
            room = prev[room][0]
        direction = prev[room][1]
        door = doors.get((player_room, room))
        if door is not None and door in closed:
            if any(pred == "locked" and args == [door] for pred, args in facts):
                return None
            return f"open {name(door)}"
        return f"go {direction}"

    # ---- cleanup ------------------------------------------------------------------------------------
    def _close_tw(self) -> None:
        env, self._tw, self._tw_path = self._tw, None, None
        if env is not None:
            try:
                env.close()
            except Exception:
                pass

    def close(self) -> None:
        self._close_tw()
        self.done = True  # step() now raises EnvNotResetError until the next reset()
        self._gs = None
        self._admissible = None
