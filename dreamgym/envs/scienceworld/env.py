"""ScienceWorld (scienceworld 1.2.3): elementary-science tasks (boil a substance, build a circuit, grow a fruit,
measure friction, ...) in a simulated house, run by the package's Scala simulator in a JVM reached via py4j.

Tasks. One task = (task name, variation). The package splits every task name's variations into train / dev /
test; ours are train / val (= dev) / test, so splits are disjoint by construction. Within a split, tasks are
interleaved across `task_names` (in the given order): task i takes task name i % n_names and that name's next
variation (names whose variations run out drop out of the rotation), so the first 50 val tasks cover every task
type. task_id = "scienceworld/<task name>/<variation>"; spec = {"task_name", "variation"};
instruction = the simulator's task description. Listing loads each listed task once for its description
(~30 ms a task; the whole train split, 3592 tasks, takes ~2 min); calling list_tasks() mid-episode is safe
(the episode is reloaded and replayed before its next step).

Default task names: all 30. The mendelian-genetics ones are the costly ones (~30 ms per step, 5-10 s to make
their gold path, which plays for ~140 steps).

Observations are the simulator's reply with whitespace compacted (tabs/indentation and blank lines dropped);
the first one is "look around". With `obs_context` (default) each observation ends with a line
"[Location: kitchen. Inventory: a thermometer, an orange]" (two free simulator queries, < 1 ms), so the agent's
place and belongings are always in the state text; the simulator's own replies ("You move to the hallway.")
often omit them.

Determinism. The JVM runs with a constant identity hash code (see `jvm`), which makes object
listings and bee/pollination behaviour reproducible; a reset is `load(task, variation)` + "look around".

Actions are ScienceWorld commands ("open door to kitchen", "go to kitchen", "pick up thermometer",
"move metal pot to stove", "activate stove", "use thermometer in inventory on water", "focus on ice cream",
"wait1", ...). `available_actions()` is the simulator's list of valid action-object combinations (typically
300-1500 strings, ~40-80 ms to fetch; listed sorted). An action the parser rejects ("No known action matches
that input.") is valid_action=False; "" and commands over 300 characters are rejected without reaching the
simulator. Ambiguous commands (the simulator asks "Ambiguous request: Please enter the number ...") are resolved
at once: with the gold path's choice when the command is the expert's, else option 0; the observation is the
outcome and info["ambiguity_resolved"] names the chosen option. So a numeric reply is never needed (a bare
number is invalid). The package's own meta-commands ("inventory", "task", "reset task", which clears goal
progress and focus but not the world) are passed through as ordinary actions.

Outcome: success = the simulator reports the task completed with score 100. A negative score (e.g. focusing
on the wrong object) or completion below 100 ends the episode with terminal=True (info["failed"]).
env_score = the package's score, 0-100 (-100 on failure); info["raw_score"] is the simulator's 0-1 value.

Expert: the simulator's gold action sequence (`generateGoldPath`), computed lazily on the first
`expert_action()` of a task (then cached per task; computing it reloads the task and replays the episode's
commands). ScienceWorld cannot replan, so the expert is a pointer into the gold path: it advances when the
agent issues the next gold action (case/whitespace-insensitive); after an off-policy action it keeps proposing
the remaining gold path, which often still succeeds (most off-policy actions do not disturb the plan) but can
fail (e.g. a random "focus on X" fails the task). It gives None once the gold path is used up.
"""

from __future__ import annotations

import re
from typing import Any

from py4j.protocol import Py4JJavaError

from dreamgym.data.schema import Task
from dreamgym.envs.base import EnvNotResetError, TextEnv, check_split
from dreamgym.envs.scienceworld.jvm import SciWorldJVM
from dreamgym.envs.scienceworld.observation import ALL_TASK_NAMES, INVALID_REPLY
from dreamgym.errors import DreamGymError, UnknownNameError

#: the task names listed by default: all 30 (ALL_TASK_NAMES, in the package's task-id order)
DEFAULT_TASK_NAMES = ALL_TASK_NAMES

MAX_ACTION_CHARS = 300
_AMBIGUOUS = "Ambiguous request"
_ROOM_RE = re.compile(r"This room is called the (.+?)\.")
_OPTION_RE = re.compile(r"^(\d+):\s*(.*)$")


def _norm(cmd: str) -> str:
    return " ".join(cmd.lower().split())


def compact(raw: str) -> str:
    """Collapse runs of whitespace inside lines, strip lines and drop blank ones."""
    lines = (" ".join(line.split()) for line in (raw or "").splitlines())
    return "\n".join(line for line in lines if line)


def _is_choice(cmd: str) -> bool:
    return cmd.strip().isdigit()


class ScienceWorldEnv(TextEnv):
    """ScienceWorld behind TextEnv; one JVM per instance (started on first use, stopped by close()).

    Args:
        max_steps: step limit per episode (the expert needs <= 137 steps on the first 50 val tasks; a few gold paths reach ~200).
        task_names: ScienceWorld task names to list tasks from, interleaved in this order (None = all 30).
        jvm_heap: the JVM's maximum heap (-Xmx), e.g. "512m"; None = the JVM default (1/4 of RAM).
        obs_context: append "[Location: ... Inventory: ...]" to every observation.
    """

    name = "scienceworld"
    has_action_list = True

    def __init__(self, max_steps: int = 200, task_names: list[str] | None = None, jvm_heap: str | None = "512m",
                 obs_context: bool = True):
        super().__init__(max_steps)
        names = list(task_names) if task_names else list(DEFAULT_TASK_NAMES)
        unknown = [n for n in names if n not in ALL_TASK_NAMES]
        if unknown:
            raise UnknownNameError(f"unknown ScienceWorld task name(s) {unknown}; choose from: "
                                   f"{', '.join(ALL_TASK_NAMES)}")
        if len(set(names)) != len(names):
            raise DreamGymError(f"scienceworld: duplicate task names in {names}")
        if jvm_heap is not None and not re.fullmatch(r"\d+[kKmMgG]?", str(jvm_heap)):
            raise DreamGymError(f"scienceworld: jvm_heap must look like '512m' or '2g', got {jvm_heap!r}")
        self.task_names = names
        self.jvm_heap = jvm_heap
        self.obs_context = obs_context
        self._jvm: SciWorldJVM | None = None
        self._closed = False
        self._split_vars: dict[str, dict[str, list[int]]] = {}
        self._descriptions: dict[tuple[str, int], str] = {}
        self._gold_cache: dict[tuple[str, int], list[str]] = {}
        self._order_cache: dict[str, list[tuple[str, int]]] = {}
        self._new_episode_state()

    def _new_episode_state(self) -> None:
        self._key: tuple[str, int] | None = None
        self._sent: list[str] = []  # every command sent to the simulator after "look around" (replayable)
        self._actions: list[str] = []  # the agent's (normalised) actions, for the expert pointer
        self._gold: list[str] | None = None
        self._gold_ptr = 0
        self._in_sync = False  # does the JVM hold this episode's state? (list_tasks loads other tasks)
        self._valid_cache: tuple[int, list[str]] | None = None

    # ---- JVM -----------------------------------------------------------------------------------------
    @property
    def _server(self):
        if self._closed:
            raise DreamGymError("scienceworld: env is closed")
        if self._jvm is None:
            self._jvm = SciWorldJVM(self.jvm_heap)
        return self._jvm.server

    @property
    def jvm_pid(self) -> int | None:
        """PID of this instance's java process (None before first use / after close())."""
        return self._jvm.pid if self._jvm is not None else None

    def jvm_peak_rss_mb(self) -> float | None:
        """Peak RSS of this instance's java process in MB (None if not running)."""
        return self._jvm.peak_rss_mb() if self._jvm is not None else None

    def close(self) -> None:
        jvm, self._jvm = self._jvm, None
        self._closed = True
        self.done = True
        if jvm is not None:
            jvm.close()

    def __del__(self):
        try:
            self.close()
        except Exception:  # interpreter shutdown
            pass

    # ---- task listing --------------------------------------------------------------------------------
    def _variations(self, name: str) -> dict[str, list[int]]:
        if name not in self._split_vars:
            srv = self._server
            self._in_sync = False
            srv.load(name, 0, "", False)
            self._split_vars[name] = {
                "train": [int(v) for v in srv.getVariationsTrain()],
                "val": [int(v) for v in srv.getVariationsDev()],
                "test": [int(v) for v in srv.getVariationsTest()],
            }
        return self._split_vars[name]

    def _order(self, split: str) -> list[tuple[str, int]]:
        if split not in self._order_cache:
            per_name = [(n, self._variations(n)[split]) for n in self.task_names]
            order: list[tuple[str, int]] = []
            depth = 0
            while any(depth < len(vs) for _, vs in per_name):
                order.extend((n, vs[depth]) for n, vs in per_name if depth < len(vs))
                depth += 1
            self._order_cache[split] = order
        return self._order_cache[split]

    def _description(self, name: str, variation: int) -> str:
        key = (name, variation)
        if key not in self._descriptions:
            srv = self._server
            self._in_sync = False
            srv.load(name, variation, "", False)
            self._descriptions[key] = compact(srv.getTaskDescription())
        return self._descriptions[key]

    def list_tasks(self, split: str, n: int | None = None, start: int = 0) -> list[Task]:
        check_split(split)
        order = self._order(split)
        chosen = order[start:] if n is None else order[start:start + n]
        return [Task(task_id=f"scienceworld/{name}/{var}", env=self.name,
                     instruction=self._description(name, var), split=split,
                     spec={"task_name": name, "variation": var})
                for name, var in chosen]

    # ---- episode -------------------------------------------------------------------------------------
    def _reset(self, task: Task) -> str:
        name, var = task.spec.get("task_name"), task.spec.get("variation")
        if name not in ALL_TASK_NAMES or not isinstance(var, int):
            raise DreamGymError(f"scienceworld: bad task spec {task.spec!r} (need task_name, int variation)")
        self._new_episode_state()
        self._key = (name, var)
        self._gold = self._gold_cache.get(self._key)
        srv = self._server
        srv.load(name, var, "", False)
        raw = srv.step("look around")
        self._in_sync = True
        return self._format(raw)

    def _replay(self, gold_path: bool = False) -> None:
        """Reload the episode's task and replay its commands (after list_tasks() loaded other tasks, or to get
        the gold path, which the simulator only makes at load time). Deterministic, so the state is the same."""
        srv = self._server
        name, var = self._key
        srv.load(name, var, "", gold_path)
        srv.step("look around")
        for cmd in self._sent:
            srv.step(cmd)
        self._in_sync = True

    def _sync(self) -> None:
        if self.task is None or self._key is None:
            raise EnvNotResetError(f"{self.name}: call reset(task) first")
        if not self._in_sync:
            self._replay()

    def _format(self, raw: str) -> str:
        text = compact(raw)
        if not self.obs_context:
            return text
        srv = self._server
        m = _ROOM_RE.search(srv.freeActionLook() or "")
        inv_lines = [" ".join(line.split()) for line in (srv.freeActionInventory() or "").splitlines()[1:]]
        inv = ", ".join(line for line in inv_lines if line) or "nothing"
        return f"{text}\n[Location: {m.group(1) if m else 'unknown'}. Inventory: {inv}]"

    def _next_gold_index(self) -> int:
        i = self._gold_ptr
        while i < len(self._gold) and _is_choice(self._gold[i]):
            i += 1
        return i

    def _advance_gold(self, norm_action: str) -> bool:
        """Move the gold pointer past `norm_action` if it is the expert's next action; True if it was."""
        i = self._next_gold_index()
        if i < len(self._gold) and _norm(self._gold[i]) == norm_action:
            self._gold_ptr = i + 1
            return True
        return False

    def _step(self, action: str) -> tuple[str, bool, bool, float, dict[str, Any]]:
        self._sync()
        self._valid_cache = None
        norm = _norm(action)
        extra: dict[str, Any] = {"ambiguity_resolved": None}
        if not norm or len(action) > MAX_ACTION_CHARS:
            self._actions.append(norm)
            score = self._score()
            return (self._format(INVALID_REPLY), False, False, float(score),
                    {**extra, "raw_score": score / 100, "failed": False})
        srv = self._server
        gold_choice = None
        if self._gold is not None:
            i = self._next_gold_index()
            is_expert = self._advance_gold(norm)
            if is_expert and i + 1 < len(self._gold) and _is_choice(self._gold[i + 1]):
                gold_choice = self._gold[i + 1].strip()
        self._actions.append(norm)
        try:
            raw = srv.step(action)
            self._sent.append(action)
        except Py4JJavaError:  # a Java-side exception on odd input: treat as unparseable
            raw = INVALID_REPLY
        if raw.startswith(_AMBIGUOUS):
            options = dict(m.groups() for m in map(_OPTION_RE.match, raw.splitlines()) if m)
            choice = gold_choice if gold_choice in options else "0"
            raw = srv.step(choice)
            self._sent.append(choice)
            extra["ambiguity_resolved"] = options.get(choice)
        valid = raw.strip() != INVALID_REPLY
        raw_score = float(srv.getScore())
        score = int(round(100 * raw_score))
        completed = bool(srv.getCompleted())
        success = completed and score >= 100
        failed = score < 0 or (completed and not success)
        extra.update(raw_score=raw_score, failed=failed, terminal=failed)
        return self._format(raw), success, valid, float(score), extra

    def _score(self) -> int:
        return int(round(100 * float(self._server.getScore())))

    # ---- actions and expert --------------------------------------------------------------------------
    def available_actions(self) -> list[str] | None:
        if self.task is None or self._key is None:
            return None
        self._sync()
        if self._valid_cache is None or self._valid_cache[0] != len(self._sent):
            acts = sorted(set(self._server.getValidActionObjectCombinations()))
            self._valid_cache = (len(self._sent), acts)
        return list(self._valid_cache[1])

    def gold_path(self) -> list[str]:
        """The simulator's gold action sequence of the current task, from its start (numbers = choices at
        ambiguity prompts, which this env answers itself)."""
        if self.task is None or self._key is None:
            raise EnvNotResetError(f"{self.name}: call reset(task) first")
        if self._gold is None:
            if self._key not in self._gold_cache:
                self._replay(gold_path=True)
                self._gold_cache[self._key] = [str(a) for a in self._server.getGoldActionSequence()]
            self._gold = self._gold_cache[self._key]
            self._gold_ptr = 0
            for norm in self._actions:  # catch the pointer up with the actions taken so far
                self._advance_gold(norm)
        return list(self._gold)

    def expert_action(self) -> str | None:
        if self.task is None or self.done:
            raise EnvNotResetError(f"{self.name}: call reset(task) before expert_action()")
        self.gold_path()
        i = self._next_gold_index()
        return self._gold[i] if i < len(self._gold) else None
