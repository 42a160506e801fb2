"""SFT examples for the experience model from real trajectories, and which transitions the context determines.

    ex = build_examples(steps, tasks, env="textcraft", annotator="textcraft", retriever=None, k=0)
    ex.columns -> prompt, completion, episode_id, task_id, t, split, determined, state, action, valid,
                  next_state, reward, done, reasoning

One example per real Step: the prompt (format.build_prompt: task block, retrieved transitions, the last
`history_window` steps, the current state and action) and the target (format.format_target: rationale,
validity, next state, reward, done). States everywhere are abstract states (format.abstract_state), so the
target's next state is exactly what a prediction is compared with. The split is the Step's `split` column;
a task in two splits is an error, so val examples never share a task with train ones. `retriever(state,
action, exclude_episode, split) -> list[dict]` is injected by the caller (the flow wraps ReplayBuffer.search,
restricted to train rows): None or k=0 means no reference block.

Context-determined transitions (`context_determined`, one rule per env in `CONTEXT_RULES`): a transition is
context-determined when its real next state is a function of what the prompt's context shows (the task block,
the history window, the current state and the action); only those can be predicted exactly, so fidelity is
reported on both subsets. Rules:
- babyai: a context-only simulator of BabyAI's egocentric geometry (babyai_predict) reproduces the next state:
  objects and walls shift / rotate with move forward and the turns, leave the 7x7 view, pick up / drop / toggle
  act on the cell ahead. It takes cells the agent never saw as empty and walls as straight, and does not model
  occlusion; a turn never shows what was behind. Multi-step macro actions (go to, go through, pick up from afar)
  are not determined: their path is the planner's. So an unseen object or wall coming into view, a door in a
  side wall or an occluded cell makes a transition not determined.
- textcraft: a context-only simulator of the game's rules reproduces the real next state and validity. It reads
  the recipes from the task block and the inventory from the state, and applies get / craft / inventory with
  counts and the inventory order; an item that is only a recipe ingredient is taken as a base item (gettable),
  and a recipe input matches an action input of the same name or one ending with it ("planks" <- "oak planks").
  Inputs that match none of the item's listed recipes give "no valid recipe". It breaks where the game needs
  what the context does not show: `get` of an ingredient that is craftable through an unlisted recipe
  ("stick") or is a tag ("planks"), `get` of an item no recipe names, crafts of an item whose recipe is not
  listed (or whose unlisted recipe takes these inputs), a name suffix that is not a tag member.
- textworld, scienceworld: every entity (noun phrase after an article, room header, "called X") and every
  number in the next state appears in the context. Opening a container, entering or looking around a room
  never seen, reading the cookbook, a thermometer reading: not determined.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pandas as pd

from dreamgym.errors import DreamGymError
from dreamgym.experience.annotators import Annotator, annotate_rows, make_annotator, tc_inventory
from dreamgym.experience.format import (
    DEFAULT_PROMPT_BUDGET,
    DEFAULT_STATE_BUDGET,
    abstract_state,
    build_prompt,
    format_target,
    task_context,
)
from dreamgym.registry import Registry

#: abstract states are read with this budget by the rules (large: a rule should see everything)
_READ = 4000

CONTEXT_RULES = Registry("context rule")
#: decorator: `@register_context_rule("myenv")` on `fn(history_states, state, action, next_state, valid) -> bool`
register_context_rule = CONTEXT_RULES.register

Retriever = Callable[[str, str, str, str], Sequence[Mapping[str, Any]]]


def retrieve_many(retriever: Retriever | None, queries: Sequence[tuple[str, str, str | None, str]],
                  k: int) -> list[list[Mapping[str, Any]]]:
    """The first k results of `retriever` for each (state, action, exclude_episode, split) query: one call to its
    `many` method when it has one (e.g. retrieval.BufferRetriever: one embedding batch), else one call each."""
    if retriever is None or k <= 0:
        return [[] for _ in queries]
    many = getattr(retriever, "many", None)
    got = many(list(queries)) if callable(many) else [retriever(*q) for q in queries]
    return [list(r)[:k] for r in got]


def _squeeze(text: str) -> str:
    return " ".join(str(text).split())


def context_determined(env: str, history_states: Sequence[str], state: str, action: str, next_state: str,
                       valid: bool) -> bool:
    """Whether the real `next_state` (and validity) follows from the context (see the module docstring).

    history_states: the context texts besides the current state, i.e. the task block (textcraft's recipes are
    there) and the states of the history window; raw or abstract texts.
    """
    return bool(CONTEXT_RULES.get(env)(list(history_states), state, action, next_state, bool(valid)))


# ---- babyai ---------------------------------------------------------------------------------------------------
#: BabyAI's six colour names (minigrid.core.constants.COLOR_NAMES, kept here: no env import in this module)
BABYAI_COLORS = ("red", "green", "blue", "purple", "yellow", "grey")
_COLORS = "|".join(BABYAI_COLORS)
_BA_LABEL = re.compile(rf"\b({_COLORS}) (ball|box|key|door) (\d+)\b")
_BA_CARRIED = re.compile(rf"\bcarrying (?:an? )?({_COLORS}) (ball|box|key)\b")
_BA_ITEM = re.compile(rf"((?:open |closed |locked )?(?:{_COLORS}) (?:ball|box|key|door) \d+): (.+)")
_BA_POS = re.compile(r"(?:(\d+) ahead)?(?: ?(\d+) (left|right))?")
_BA_WALL = re.compile(r"(\d+) (ahead|left|right)")
_BA_VIEW, _BA_SIDE = 6, 3  # the agent sees 6 cells ahead and 3 to each side (minigrid's 7x7 view)


def _ba_parse_state(text: str) -> tuple[list[tuple[str, int, int]], dict[str, int], str] | None:
    """Abstract babyai state -> ([(object, front, right)], {direction: wall distance}, carrying part), or None
    when a part is not one of the describer's (e.g. an invalid-action message)."""
    objs: list[tuple[str, int, int]] = []
    walls: dict[str, int] = {}
    carrying = ""
    for part in (p.strip() for p in text.split(";")):
        m = _BA_ITEM.fullmatch(part)
        if m:
            pos = _BA_POS.fullmatch(m.group(2))
            if not pos or not (pos.group(1) or pos.group(2)):
                return None
            right = int(pos.group(2) or 0) * (-1 if pos.group(3) == "left" else 1)
            objs.append((m.group(1), int(pos.group(1) or 0), right))
        elif part.startswith("wall: "):
            for w in part[6:].split(", "):
                mw = _BA_WALL.fullmatch(w)
                if not mw:
                    return None
                walls[mw.group(2)] = int(mw.group(1))
        elif part.startswith("carrying "):
            carrying = part
        elif part != "no objects":
            return None
    return objs, walls, carrying


def _ba_render(objs: list[tuple[str, int, int]], walls: dict[str, int], carrying: str) -> str:
    """The describer's order and wording (see envs/_babyai_view.py): objects nearest first, then walls."""
    parts = []
    for name, f, r in sorted(objs, key=lambda o: (abs(o[1]) + abs(o[2]), o[1], o[2])):
        side = f"{abs(r)} {'right' if r > 0 else 'left'}" if r else ""
        parts.append(f"{name}: " + " ".join(x for x in (f"{f} ahead" if f else "", side) if x))
    out = "; ".join(parts) or "no objects"
    ws = [f"{walls[d]} {d}" for d in ("ahead", "left", "right") if walls.get(d)]
    if ws:
        out += "; wall: " + ", ".join(ws)
    return out + (f"; {carrying}" if carrying else "")


def babyai_predict(context: Sequence[str], state: str, action: str) -> str | None:
    """The abstract next state BabyAI's egocentric geometry gives from the context alone, or None when the action
    is a multi-step macro (go to / go through / pick up from afar: the path is the planner's) or a part of the
    state is not the describer's. Assumptions: cells the agent never saw are empty and walls are straight (a
    side wall keeps its distance when the agent moves along it); no occlusion. A transition where the real next
    state differs (an unseen object or wall came into view, a door in a wall, occlusion) is not determined."""
    parsed = _ba_parse_state(state)
    if parsed is None:
        return None
    objs, walls, carrying = parsed
    act = _squeeze(action).lower()
    if act == "move forward":
        if walls.get("ahead") == 1 or any(f == 1 and r == 0 for _, f, r in objs):
            return None  # blocked: the env would not list it as valid
        objs = [(n, f - 1, r) for n, f, r in objs]
        walls = {**walls, "ahead": walls["ahead"] - 1} if "ahead" in walls else dict(walls)
    elif act in ("turn left", "turn right"):
        sign = 1 if act == "turn right" else -1
        # turning right: what was to the right is now ahead, what was ahead is now to the left
        objs = [(n, sign * r, -sign * f) for n, f, r in objs]
        old, walls = walls, {}
        if (old.get("right") if sign > 0 else old.get("left")):
            walls["ahead"] = old["right" if sign > 0 else "left"]
        if old.get("ahead", 0) and old["ahead"] <= _BA_SIDE:
            walls["left" if sign > 0 else "right"] = old["ahead"]
    elif act == "toggle":
        objs = [((n.replace("closed ", "open ", 1) if n.startswith("closed ") else
                  n.replace("open ", "closed ", 1) if n.startswith("open ") else
                  n.replace("locked ", "open ", 1)) if (f, r) == (1, 0) else n, f, r) for n, f, r in objs]
    elif act.startswith("pick up "):
        target = act[len("pick up "):]
        hit = [o for o in objs if o[0] == target and (o[1], o[2]) == (1, 0)]
        if not hit or carrying != "carrying nothing":
            return None
        objs = [o for o in objs if o is not hit[0]]
        carrying = "carrying " + " ".join(target.split()[:2])
    elif act == "drop":
        kind = carrying[len("carrying "):]
        labels = {f"{c} {t} {n}" for c, t, n in _BA_LABEL.findall(" ".join([*context, state]))
                  if f"{c} {t}" == kind}
        if len(labels) != 1 or any((f, r) == (1, 0) for _, f, r in objs):
            return None  # which of several same-kind objects is carried is not in the context
        objs = [*objs, (labels.pop(), 1, 0)]
        walls = {d: v for d, v in walls.items() if d != "ahead"}  # the dropped object blocks the view ahead
        carrying = "carrying nothing"
    else:
        return None
    objs = [(n, f, r) for n, f, r in objs if 0 <= f <= _BA_VIEW and abs(r) <= _BA_SIDE and (f, r) != (0, 0)]
    return _ba_render(objs, walls, carrying)


@register_context_rule("babyai")
def babyai_determined(history_states: Sequence[str], state: str, action: str, next_state: str, valid: bool) -> bool:
    """BabyAI's geometry applied to the context (babyai_predict) reproduces the real next state exactly."""
    if not valid:
        return False
    pred = babyai_predict(history_states, abstract_state("babyai", state, _READ), action)
    real = abstract_state("babyai", next_state, _READ)
    # success appends "task completed": the task block decides it (and reward/done are scored on their own)
    return pred is not None and pred == real.removesuffix("; task completed")


# ---- textcraft ------------------------------------------------------------------------------------------------
_TC_RECIPE = re.compile(r"craft (\d+) (.+?) using (.+)")
_TC_COUNT = re.compile(r"([0-9]+) (.*)")


def _tc_recipes(texts: Sequence[str]) -> list[tuple[int, str, list[tuple[int, str]]]]:
    out = []
    for text in texts:
        for line in str(text).splitlines():
            m = _TC_RECIPE.fullmatch(_squeeze(line))
            if not m:
                continue
            ins = [_TC_COUNT.fullmatch(p.strip()) for p in m.group(3).split(",")]
            if all(ins):
                out.append((int(m.group(1)), m.group(2), [(int(i.group(1)), i.group(2)) for i in ins]))
    return out


def _tc_inv_line(inv: Mapping[str, int]) -> str:
    return "Inventory: " + (", ".join(f"{n} {k}" for k, n in inv.items() if n > 0) or "empty")


def textcraft_predict(context: Sequence[str], state: str, action: str) -> tuple[str, bool] | None:
    """(abstract next state, valid) that TextCraft's rules give from the context alone, or None if they need
    what the context does not show (an unlisted recipe, an item of unknown kind, an unknown inventory)."""
    recipes = _tc_recipes(context)
    s = abstract_state("textcraft", state, _READ)
    inv = tc_inventory(s)
    if inv is None:
        if not (s.startswith("Goal:") or "Crafting commands" in state):
            return None
        inv = {}
    inv = dict(inv)
    outputs = {out for _, out, _ in recipes}
    ingredients = {name for _, _, ins in recipes for _, name in ins}
    a = _squeeze(action)
    if (m := re.match(r"craft (.*) using (.*)", a)) is not None:
        out_m = _TC_COUNT.match(m.group(1))
        out_name = out_m.group(2) if out_m else m.group(1)
        ins = []
        for part in m.group(2).split(","):
            pm = _TC_COUNT.match(part.strip())
            if pm is None:
                return f"Wrong item format: {part.strip()}\n{_tc_inv_line(inv)}", False
            ins.append((int(pm.group(1)), pm.group(2)))
        if any(inv.get(name, 0) < n for n, name in ins):
            return f"Could not find enough items to craft {out_name}\n{_tc_inv_line(inv)}", False
        listed = False
        for count, out, rins in recipes:
            if out != out_name:
                continue
            listed = True
            if len(rins) != len(ins):
                continue
            left = list(ins)
            for rn, rname in rins:
                hit = next((x for x in left if x[0] == rn and (x[1] == rname or x[1].endswith(" " + rname))), None)
                if hit is None:
                    break
                left.remove(hit)
            else:
                for n, name in ins:
                    inv[name] -= n
                    if inv[name] == 0:
                        del inv[name]
                inv[out_name] = inv.get(out_name, 0) + count
                return f"Crafted {count} {out_name}\n{_tc_inv_line(inv)}", True
        if listed:  # the listed recipes of the item do not take these inputs
            n_out = int(out_m.group(1)) if out_m else 1
            return f"Could not find a valid recipe for {n_out} {out_name}\n{_tc_inv_line(inv)}", False
        return None
    if (m := re.match(r"get ([0-9]+) (.*)", a)) is not None:
        amount, item = int(m.group(1)), m.group(2)
        if item in outputs:
            return f"Could not find {item}\n{_tc_inv_line(inv)}", False
        if item in ingredients:
            inv[item] = inv.get(item, 0) + amount
            return f"Got {amount} {item}\n{_tc_inv_line(inv)}", True
        return None
    if re.match("inventory", a):
        return _tc_inv_line(inv), True
    return f"Could not execute {a}\n{_tc_inv_line(inv)}", False


@register_context_rule("textcraft")
def textcraft_determined(history_states: Sequence[str], state: str, action: str, next_state: str,
                         valid: bool) -> bool:
    """The context-only TextCraft simulator reproduces the real next state and validity."""
    pred = textcraft_predict(history_states, state, action)
    if pred is None:
        return False
    return pred[1] == bool(valid) and _squeeze(pred[0]) == _squeeze(abstract_state("textcraft", next_state, _READ))


# ---- textworld / scienceworld ----------------------------------------------------------------------------------
_FOLLOW = ("and|or|on|in|into|from|with|is|are|to|of|that|which|here|there|you|containing|called|leading|by|at|"
           "for|as|was|has|have|right|now|reads|currently|measures|i|it|they|we|but|so|then|because|if|when|while|"
           "where|not|can|can't|will|would|should|could|do|does|did|be|been|looks|seems|appears")
_ENTITY = re.compile(rf"\b(?:a|an|the|some) ([a-z][\w'-]*(?: [a-z0-9][\w'-]*){{0,5}}?)"
                     rf"(?=\s*(?:[,.;:!?()\[\]]|$)|\s+(?:{_FOLLOW})\b)", re.M)
_CALLED = re.compile(r"\bcalled ([a-z][\w'-]*(?: [a-z0-9][\w'-]*){0,3}?)(?=\s*(?:[,.;:!?()\[\]]|$)|\s+(?:and|in)\b)",
                     re.M)
_HEADER = re.compile(r"^-= (.+) =-$", re.M)
_NUMBER = re.compile(r"(?<![\w.+])-?\d+(?:\.\d+)?")  # "+1" (TextWorld's "Score +1.") is a constant
_GENERIC = {"exit", "north", "south", "east", "west", "way", "thing", "floor", "ground", "end", "game", "meal",
            "room", "time", "inventory", "agent", "air", "substance", "door", "lid", "wall", "corner", "stuff",
            "recipe", "temperature", "contents", "verb"}
_ADJECTIVES = {"raw", "roasted", "fried", "grilled", "sliced", "diced", "chopped", "burned", "closed", "open",
               "opened", "locked", "unlocked", "empty", "cooked", "uncut"}


def _entities(text: str) -> set[str]:
    low = text.lower()
    found = set(_ENTITY.findall(low)) | set(_CALLED.findall(low)) | set(_HEADER.findall(low))
    out = set()
    for phrase in found:
        words = phrase.split()
        while words and words[0] in _ADJECTIVES:
            words = words[1:]
        core = " ".join(words)
        if core and core not in _GENERIC:
            out.add(core)
    return out


def _entities_determined(env: str, history_states: Sequence[str], state: str, action: str, next_state: str) -> bool:
    ctx = "\n".join(abstract_state(env, t, _READ) for t in [*history_states, state] if str(t).strip())
    ctx = (ctx + "\n" + str(action)).lower()
    nxt = abstract_state(env, next_state, _READ)
    for core in _entities(nxt):
        if re.search(rf"\b{re.escape(core)}\b", ctx) is None:
            return False
    numbers = set(_NUMBER.findall(ctx))
    return all(n in numbers for n in _NUMBER.findall(nxt))


@register_context_rule("textworld")
def textworld_determined(history_states: Sequence[str], state: str, action: str, next_state: str,
                         valid: bool) -> bool:
    """Every entity and number of the next state appears in the context."""
    return _entities_determined("textworld", history_states, state, action, next_state)


@register_context_rule("scienceworld")
def scienceworld_determined(history_states: Sequence[str], state: str, action: str, next_state: str,
                            valid: bool) -> bool:
    """Every entity and number of the next state appears in the context."""
    return _entities_determined("scienceworld", history_states, state, action, next_state)


# ---------------------------------------------------------------------------------------------------------------
# examples

_NEEDED = ("episode_id", "task_id", "t", "state", "action", "next_state", "reward", "done", "valid_action", "split")
EXAMPLE_COLUMNS = ("prompt", "completion", "episode_id", "task_id", "t", "split", "determined", "state", "action",
                   "valid", "next_state", "reward", "done", "reasoning")


def check_task_splits(steps: pd.DataFrame, tasks: pd.DataFrame | None = None) -> None:
    """Raise DreamGymError if a task's steps span two splits, or disagree with the task list's split."""
    per_task = steps.groupby("task_id", sort=True)["split"].unique()
    mixed = [(t, sorted(s)) for t, s in per_task.items() if len(s) > 1]
    if mixed:
        t, s = mixed[0]
        raise DreamGymError(f"task '{t}' has steps in splits {s} ({len(mixed)} such task(s)); "
                            "splits must be disjoint by task")
    if tasks is not None and len(tasks) and "split" in tasks.columns:
        listed = dict(zip(tasks["task_id"], tasks["split"], strict=True))
        for t, s in per_task.items():
            if t in listed and listed[t] != s[0]:
                raise DreamGymError(f"task '{t}' is in split '{s[0]}' in the steps but '{listed[t]}' in the task list")


def build_examples(steps: pd.DataFrame, tasks: pd.DataFrame, *, env: str, annotator: Annotator | str | None = None,
                   retriever: Retriever | None = None, k: int = 4, history_window: int = 2,
                   budget: int = DEFAULT_PROMPT_BUDGET, with_reasoning: bool = True,
                   state_budget: int = DEFAULT_STATE_BUDGET, max_steps: int | None = None) -> pd.DataFrame:
    """SFT examples (one per Step of `env`), sorted by (episode_id, t); columns EXAMPLE_COLUMNS.

    steps: Step rows (DataFrame with the Step columns, `split` included). tasks: the task list (task_id,
    instruction[, split]); every task of the steps must be listed. annotator: a rule-based annotator name, an
    annotate() callable (or an object with annotate_many), or None for `env`'s rule-based one; not called when
    with_reasoning=False. retriever: see the module docstring; it gets the raw state and action, the episode
    to exclude and the example's split; its first k rows are used. budget / state_budget: prompt / state
    char budgets. The real valid/next_state (abstract)/reward/done are kept for evaluation. max_steps: the step
    limit the data was collected with; a failed episode's done at that limit is truncation, not a state of the
    env, so its `done` (target and kept value) is 0: a synthetic env truncates on its own.
    """
    missing = [c for c in _NEEDED if c not in steps.columns]
    if missing:
        raise DreamGymError(f"build_examples: steps lack column(s) {missing}")
    if "task_id" not in tasks.columns or "instruction" not in tasks.columns:
        raise DreamGymError("build_examples: tasks need columns task_id and instruction")
    df = steps[steps["env"] == env] if "env" in steps.columns else steps
    if len(df) == 0:
        raise DreamGymError(f"build_examples: no steps of env '{env}'")
    check_task_splits(df, tasks)
    instructions = dict(zip(tasks["task_id"], tasks["instruction"], strict=True))
    unknown = sorted(set(df["task_id"]) - set(instructions))
    if unknown:
        raise DreamGymError(f"build_examples: {len(unknown)} task(s) of the steps are not in the task list, "
                            f"e.g. '{unknown[0]}'")
    if with_reasoning:
        annotate = make_annotator(env) if annotator is None else (
            make_annotator(annotator) if isinstance(annotator, str) else annotator)
    df = df.sort_values(["episode_id", "t"], kind="stable").reset_index(drop=True)

    def ab(text: str) -> str:
        return abstract_state(env, text, state_budget)

    refs = iter(retrieve_many(retriever, [(str(r.state), str(r.action), str(r.episode_id), str(r.split))
                                          for r in df.itertuples(index=False)], k))
    rows: list[dict[str, Any]] = []
    notes: list[dict[str, Any]] = []
    for episode_id, ep in df.groupby("episode_id", sort=True):
        ep = ep.sort_values("t", kind="stable")
        first = ep.iloc[0]
        instr = str(instructions[first["task_id"]])
        task_text = task_context(env, instr, str(first["state"]) if int(first["t"]) == 0 else None)
        abs_s = [ab(s) for s in ep["state"]]
        abs_n = [ab(s) for s in ep["next_state"]]
        actions = [str(a) for a in ep["action"]]
        for i, row in enumerate(ep.itertuples(index=False)):
            hist = [(abs_s[j], actions[j]) for j in range(max(0, i - history_window), i)] if history_window else []
            retrieved = next(refs)
            prompt = build_prompt(task_text, hist, retrieved, abs_s[i], actions[i], env=env,
                                  history_window=history_window, budget=budget, state_budget=state_budget)
            valid = bool(row.valid_action)
            truncated = (max_steps is not None and bool(row.done) and not bool(getattr(row, "success", row.reward > 0))
                         and int(row.t) + 1 >= max_steps)
            done = bool(row.done) and not truncated
            determined = context_determined(env, [task_text, *(h[0] for h in hist)], abs_s[i], actions[i], abs_n[i],
                                            valid)
            rows.append({"prompt": prompt, "episode_id": str(episode_id), "task_id": str(row.task_id),
                         "t": int(row.t), "split": str(row.split), "determined": bool(determined),
                         "state": abs_s[i], "action": actions[i], "valid": valid, "next_state": abs_n[i],
                         "reward": float(row.reward), "done": done})
            info = {"instruction": instr, "success": bool(getattr(row, "success", row.reward > 0))}
            notes.append({"state": abs_s[i], "action": actions[i], "next_state": abs_n[i],
                          "reward": float(row.reward), "done": done, "valid_action": valid, "info": info})
    reasoning = annotate_rows(annotate, notes) if with_reasoning else [""] * len(rows)
    for r, why in zip(rows, reasoning, strict=True):
        r["reasoning"] = why
        r["completion"] = format_target(why, r["valid"], r["next_state"], r["reward"], r["done"], with_reasoning)
    return pd.DataFrame(rows, columns=list(EXAMPLE_COLUMNS))
