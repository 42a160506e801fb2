"""BabyAI (minigrid) as a text env, in the style of AgentGym's BabyAI.

The observation describes what the agent sees in its 7x7 partial view (agent-relative), e.g.
"There is a red ball 1, 1 steps in front of you and 2 steps to your right. You are facing a wall 3 steps away.
You are not carrying anything." The mission is Task.instruction and is not repeated in observations.

Actions: "turn left", "turn right", "move forward", "toggle", "drop" and, for objects in sight,
"go to <obj> <n>", "pick up <obj> <n>", "go through <door> <n>" (open doors) and
"toggle and go through <door> <n>" (closed doors, or locked ones when carrying the key). A high-level action
runs its primitive minigrid steps internally (planned through visible cells) and counts as one step here.

Generated tasks (tasks.py) keep their parent's level and seed and carry their own mission in `spec["mission"]`:
after the level's reset it replaces the level's mission (minigrid's instruction object, verifier reset), so
success is minigrid's verification and the bot, built from the env's instruction, plans for it; a mission no
object of the grid matches raises DreamGymError at reset.

The expert drives minigrid's BabyAIBot and translates its primitive action into the text above. While the agent
follows the expert the bot keeps its plan; after any other (valid) action a fresh bot is planned from the current
state, seeded with every cell the agent has seen so far.
"""

from __future__ import annotations

import contextlib
import io
from typing import Any

import numpy as np

from dreamgym.data.schema import SPLITS, Task
from dreamgym.envs.babyai.rules import normalized
from dreamgym.envs.babyai.tasks import parse_mission
from dreamgym.envs.babyai.view import (
    DROP,
    FORWARD,
    LEFT,
    PICKUP,
    RIGHT,
    TOGGLE,
    Labeler,
    View,
    build_view,
    visible_cells,
)
from dreamgym.envs.base import TextEnv, check_split
from dreamgym.errors import ConfigError, DreamGymError

DEFAULT_LEVELS = (
    "GoToRedBallNoDists",
    "GoToRedBall",
    "GoToObj",
    "GoToLocal",
    "PickupLoc",
    "PutNextLocal",
    "GoToObjMazeS4R2",  # 2x2 rooms of size 4 joined by doors
    "UnlockLocal",  # fetch a key, open a locked door (room grid)
)
#: primitive steps the underlying env may take; our own `max_steps` is the real limit
_INNER_MAX_STEPS = 100_000


def level_id(level: str) -> str:
    """'GoToLocal' or 'BabyAI-GoToLocal-v0' -> 'BabyAI-GoToLocal-v0'."""
    level = level.strip()
    if not level.startswith("BabyAI-"):
        level = "BabyAI-" + level
    if not level.rsplit("-", 1)[-1].startswith("v"):
        level += "-v0"
    return level


def _short(level: str) -> str:
    return level_id(level)[len("BabyAI-"):].rsplit("-", 1)[0]


class BabyAIEnv(TextEnv):
    """BabyAI levels (minigrid) as text.

    Kwargs:
      max_steps: steps (our actions, high-level ones included) before the episode is truncated.
      levels: BabyAI level names ("GoToLocal" or "BabyAI-GoToLocal-v0"); task i of a split uses levels[i % len].
      train_seed_offset: first minigrid seed of the train split (task i gets seed offset + i).
      val_seed_offset: first minigrid seed of the val split.
      test_seed_offset: first minigrid seed of the test split.
      train_size: number of train tasks (the seed ranges of the splits must not overlap).
      val_size: number of val tasks.
      test_size: number of test tasks.
      action_set: "macro" (AgentGym's set: go to / pick up / go through any object in sight, each one step) or
        "primitive" (turn left, turn right, move forward, toggle, drop, pick up the object in front). With macros a
        GoTo task ends in one step once its object is visible, so random solves it; primitives make navigation
        the task.
    """

    name = "babyai"
    has_action_list = True

    def __init__(self, max_steps: int = 64, levels: tuple[str, ...] | list[str] = DEFAULT_LEVELS,
                 train_seed_offset: int = 0, val_seed_offset: int = 1_000_000, test_seed_offset: int = 2_000_000,
                 train_size: int = 10_000, val_size: int = 1_000, test_size: int = 1_000,
                 action_set: str = "macro"):
        super().__init__(max_steps=max_steps)
        if action_set not in ("macro", "primitive"):
            raise ConfigError(f"babyai: action_set must be 'macro' or 'primitive', got '{action_set}'")
        self.action_set = action_set
        if isinstance(levels, str):
            levels = [levels]
        if not levels:
            raise ConfigError("babyai: `levels` must name at least one BabyAI level")
        import gymnasium as gym
        import minigrid  # noqa: F401  (registers the BabyAI-* ids)

        self.levels = [level_id(lv) for lv in levels]
        for lv in self.levels:
            if lv not in gym.registry:
                raise ConfigError(f"babyai: unknown level '{lv}' (see gymnasium ids starting with 'BabyAI-')")
        self._offsets = {"train": int(train_seed_offset), "val": int(val_seed_offset), "test": int(test_seed_offset)}
        self._sizes = {"train": int(train_size), "val": int(val_size), "test": int(test_size)}
        spans = sorted((self._offsets[s], self._offsets[s] + self._sizes[s], s) for s in SPLITS)
        for (_a0, a1, sa), (b0, _b1, sb) in zip(spans, spans[1:], strict=False):
            if b0 < a1:
                raise ConfigError(f"babyai: seed ranges of splits '{sa}' and '{sb}' overlap; fix the offsets/sizes")
        self._envs: dict[tuple[str, str], Any] = {}
        self._missions: dict[tuple[str, int], str] = {}
        self._gym = None
        self._reset_episode_state()

    # ---- helpers ----------------------------------------------------------------------------------------
    def _reset_episode_state(self):
        self._gym = None
        self._labeler = Labeler()
        self._view: View | None = None
        self._seen = None
        self._bot = None
        self._expert: tuple[str, int] | None = None  # (action text, primitive) suggested for the current state

    def _env(self, level: str, purpose: str):
        env = self._envs.get((purpose, level))
        if env is None:
            import gymnasium as gym

            env = gym.make(level, max_steps=_INNER_MAX_STEPS)
            self._envs[(purpose, level)] = env
        return env

    def _reset_inner(self, level: str, seed: int, purpose: str = "play"):
        """Reset a gym env of `level` to `seed`; listing ("list") never touches the env of the episode ("play")."""
        env = self._env(level, purpose)
        with contextlib.redirect_stdout(io.StringIO()):  # minigrid prints "Sampling rejected: ..."
            env.reset(seed=seed)
        return env

    def _task(self, split: str, i: int) -> Task:
        level = self.levels[i % len(self.levels)]
        seed = self._offsets[split] + i
        key = (level, seed)
        if key not in self._missions:
            self._missions[key] = self._reset_inner(level, seed, "list").unwrapped.mission
        return Task(task_id=f"babyai-{_short(level)}-s{seed}", env=self.name, instruction=self._missions[key],
                    split=split, spec={"level": level, "seed": seed})

    def _update_seen(self):
        for x, y in self._view.visible:
            self._seen[x, y] = True

    def _observe(self) -> str:
        self._view = build_view(self._gym.unwrapped, self._labeler, self.action_set == "primitive")
        self._update_seen()
        return self._view.text

    # ---- TextEnv ----------------------------------------------------------------------------------------
    def list_tasks(self, split: str, n: int | None = None, start: int = 0) -> list[Task]:
        check_split(split)
        size = self._sizes[split]
        start = max(0, int(start))
        stop = size if n is None else min(size, start + int(n))
        return [self._task(split, i) for i in range(start, stop)]

    def _reset(self, task: Task) -> str:
        level, seed = level_id(task.spec["level"]), int(task.spec["seed"])
        self._reset_episode_state()
        self._gym = self._reset_inner(level, seed)
        u = self._gym.unwrapped
        if "mission" in task.spec:
            try:
                _set_mission(u, str(task.spec["mission"]), task.task_id)
            except DreamGymError:
                self._reset_episode_state()
                self.done = True  # no episode to step
                raise
        self._seen = np.zeros((u.width, u.height), dtype=bool)
        return self._observe()

    def accepts(self, task: Task) -> bool:
        return task.env == self.name and level_id(str(task.spec.get("level", ""))) in self.levels

    def available_actions(self) -> list[str] | None:
        if self._view is None or self.done:
            return []
        return list(self._view.actions)

    def invalid_action(self, rng) -> str | None:
        """One of the actions the view names with the reason it is not possible now (move forward into a wall,
        drop with empty hands, pick up from afar, ...), chosen uniformly; None when there is none."""
        if self._view is None or self.done:
            return None
        bad = sorted(set(self._view.reasons) - set(self._view.actions))
        return rng.choice(bad) if bad else None

    def _step(self, action: str) -> tuple[str, bool, bool, float, dict[str, Any]]:
        view = self._view
        act = normalized(action)
        prims = view.actions.get(act)
        if prims is None:
            reason = view.reasons.get(act) or (f"'{action[:60]}' is not a valid action now." if action
                                               else "No action given.")
            return f"{reason} {view.text}", False, False, 0.0, {"raw_reward": 0.0, "primitive_steps": 0}

        # the expert keeps its plan only if the agent took exactly the step it suggested
        followed = self._expert is not None and prims == [self._expert[1]]
        if not followed:
            self._bot = None
        self._expert = None

        raw, success, terminal, n = 0.0, False, False, 0
        for a in prims:
            _, r, term, trunc, _ = self._gym.step(a)
            n += 1
            raw += float(r)
            if len(prims) > 1:
                for x, y in visible_cells(self._gym.unwrapped)[0]:
                    self._seen[x, y] = True
            if term or trunc:
                success = float(r) > 0
                terminal = not success
                break
        obs = self._observe()
        if success:
            obs += " The task is completed."
        extra = {"raw_reward": raw, "primitive_steps": n}
        if terminal:
            extra["terminal"] = True
        return obs, success, True, raw, extra

    # ---- expert -----------------------------------------------------------------------------------------
    def expert_action(self) -> str | None:
        if self.task is None or self.done or self._gym is None:
            return None
        if self._expert is None:
            prim = self._bot_replan()
            if prim is None:
                return None
            text = self._to_text(prim)
            if text is None:
                return None
            self._expert = (text, prim)
        return self._expert[0]

    def _bot_replan(self) -> int | None:
        """The bot's primitive for the current state. Tries the running bot, then a fresh bot that knows every
        cell seen so far, then a fresh bot that knows only the current view (the bot asserts when an object it
        remembers is cut off, e.g. behind a door the agent closed)."""
        attempts = ["fresh", "view"] if self._bot is None else ["keep", "fresh", "view"]
        for how in attempts:
            try:
                if how == "keep":
                    self._bot.vis_mask |= self._seen
                else:
                    self._bot = self._new_bot(remember=how == "fresh")
                a = int(self._bot.replan())
            except Exception:  # noqa: BLE001  (the bot raises AssertionError on states it cannot plan for)
                a = None
            if a is not None and a != int(self._gym.unwrapped.actions.done):
                return a
            self._bot = None
        return None

    def _new_bot(self, remember: bool = True):
        from minigrid.envs.babyai.core.verifier import PickupInstr, PutNextInstr
        from minigrid.utils.baby_ai_bot import BabyAIBot, DropSubgoal, GoNextToSubgoal

        u = self._gym.unwrapped
        bot = BabyAIBot(self._gym)
        if remember:
            bot.vis_mask = self._seen.copy()
        carrying = u.carrying
        if carrying is not None:
            instrs = u.instrs
            if isinstance(instrs, PutNextInstr) and any(o is carrying for o in instrs.desc_move.obj_set):
                # already holding the object to move: skip "go to it" and "pick it up"
                bot.stack = bot.stack[:-2]
            elif _has_instr(instrs, (PickupInstr, PutNextInstr)):
                # the bot cannot pick anything up while carrying: put the object down first
                drop_pos = bot._find_drop_pos()
                if drop_pos is not None:
                    bot.stack.append(DropSubgoal(bot))
                    bot.stack.append(GoNextToSubgoal(bot, drop_pos))
        return bot

    def _to_text(self, prim: int) -> str | None:
        view = self._view
        if prim == LEFT:
            text = "turn left"
        elif prim == RIGHT:
            text = "turn right"
        elif prim == FORWARD:
            text = "move forward"
        elif prim == DROP:
            text = "drop"
        elif prim == TOGGLE:
            text = "toggle"
        elif prim == PICKUP:
            front = tuple(int(v) for v in self._gym.unwrapped.front_pos)
            labels = [o.label for o in view.objects if o.pos == front]
            if not labels:
                return None
            text = f"pick up {labels[0]}"
        else:
            return None
        if view.actions.get(text) != [prim]:
            return None
        return text

    def close(self) -> None:
        for env in self._envs.values():
            with contextlib.suppress(Exception):
                env.close()
        self._envs = {}
        self._reset_episode_state()
        self.done = True


def _set_mission(u, mission: str, task_id: str) -> None:
    """Make `mission` (tasks.py's grammar) the mission of the freshly reset level `u` (the unwrapped env): its
    minigrid instruction on this grid, verifier reset, so `step` verifies it and a new bot plans for it;
    DreamGymError when it does not parse or no object of the grid matches it."""
    from minigrid.envs.babyai.core.verifier import GoToInstr, ObjDesc, PickupInstr

    parsed = parse_mission(mission)
    if isinstance(parsed, str):
        raise DreamGymError(f"babyai task '{task_id}': mission '{mission[:80]}' is not of the grammar: {parsed}")
    kind, color, typ, loc = parsed
    desc = ObjDesc(typ, color, loc)
    instrs = PickupInstr(desc) if kind == "pickup" else GoToInstr(desc)
    instrs.reset_verifier(u)
    if not desc.obj_set:
        raise DreamGymError(f"babyai task '{task_id}': no object of its grid matches '{mission}' (infeasible)")
    u.instrs, u.mission = instrs, mission


def _has_instr(instr, kinds) -> bool:
    if isinstance(instr, kinds):
        return True
    return any(_has_instr(getattr(instr, k), kinds) for k in ("instr_a", "instr_b") if hasattr(instr, k))
