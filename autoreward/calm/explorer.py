"""A scripted data-collection policy: an epsilon-greedy "oracle-ish" explorer that walks to the task's objects.

A random policy almost never completes KeyRoom's subgoals (pick up the key, open the locked door), so a
dataset made only from random play has next to no positives. This explorer reads the full State (map,
messages, inventory: more than a learner sees) and heads for the next thing the task needs: the key, a cell
beside the locked door, the stairs, the object of a skill task, answering the game's questions with the right
inventory letter. With probability `epsilon` it takes a random action instead, so its episodes also hold
detours, bumps and idle commands. It is a way to collect labelled transitions, not a solution of the tasks.
"""

from __future__ import annotations

import collections
import re
from collections.abc import Callable, Sequence

import numpy as np

from autoreward.calm.subgoals import task_kind
from autoreward.env.state import Point, State
from autoreward.env.vocabulary import MOVE_NAMES, MOVES

_PASSABLE = frozenset({
    "floor", "corridor", "doorway", "open door", "stairs up", "stairs down", "key", "food", "armor", "weapon",
    "amulet", "ring", "tool", "wand", "scroll", "spellbook", "potion", "item", "gold", "gem", "corpse", "altar",
    "sink", "fountain", "throne", "grave", "ice", "trap", "boulder", "other",
})
_DOORS = frozenset({"doorway", "open door", "closed door"})
_SKILLS: dict[str, tuple[str, str]] = {  # task family -> (object category, command)
    "eat": ("food", "eat"),
    "wear": ("armor", "wear"),
    "wield": ("weapon", "wield"),
    "puton": ("amulet", "puton"),
    "zap": ("wand", "zap"),
    "read": ("scroll", "read"),
}
_LETTER_OF_PICKUP = re.compile(r"^([a-zA-Z]) - ")
_QUESTION = re.compile(r"\[([- a-zA-Z]+?)(?: or [^\]]*)?\]")


class ScriptedExplorer:
    """Epsilon-greedy scripted policy for data collection; `act(state)` returns an action index."""

    def __init__(self, task: str, action_names: Sequence[str], action_codes: Sequence[int], seed: int = 0,
                 epsilon: float = 0.25) -> None:
        self.kind = task_kind(task)
        self.names = list(action_names)
        self.epsilon = epsilon
        self.rng = np.random.default_rng(seed)
        self._index = {name: i for i, name in enumerate(self.names)}
        # the action typed by each printable key: how the explorer answers 'y' or an inventory letter
        self._keys = {chr(code): name for code, name in zip(action_codes, self.names, strict=True) if 32 <= code < 127}
        self.reset()

    def reset(self) -> None:
        """Forget the last episode (visited cells, the letter of the picked-up object)."""
        self.visited: set[Point] = set()
        self.letter: str | None = None
        self.seen: dict[Point, str] = {}  # category of the cells next to the agent when last seen (not hidden)

    def act(self, state: State) -> int:
        """The next action: a random one with probability epsilon, else the scripted one (random if stuck)."""
        self.visited.add(state.pos)
        x, y = state.pos
        for dx, dy in MOVES.values():
            self.seen[(x + dx, y + dy)] = state.at(x + dx, y + dy)
        if self.rng.random() >= self.epsilon:
            name = self._scripted(state)
            if name is not None and name in self._index:
                return self._index[name]
        return int(self.rng.integers(len(self.names)))

    # ----- the script --------------------------------------------------------------------------------
    def _scripted(self, state: State) -> str | None:
        match = _LETTER_OF_PICKUP.match(state.message)
        if match:
            self.letter = match.group(1)
        answer = self._answer(state.message)
        if answer is not None:
            return answer
        if "door is locked" in state.message and self.kind != "keyroom":
            return "kick"  # then the direction question is answered by the move toward the door
        if self.kind == "keyroom":
            return self._keyroom(state)
        if self.kind in _SKILLS:
            return self._skill(state, *_SKILLS[self.kind])
        if self.kind in ("pray", "sink"):
            feature = "altar" if self.kind == "pray" else "sink"
            if self.seen.get(state.pos) == feature:  # the agent's cell, as seen before it stepped on it
                return "pray" if self.kind == "pray" else "quaff"
            return self._walk_to(state, lambda p: state.at(*p) == feature) or self._explore(state)
        return self._go_stairs(state)

    def _answer(self, message: str) -> str | None:
        """The answer to a question on the message line: y to a yes/no, the object's letter to 'which item?'."""
        if "[yn" in message:
            return self._letter("y")
        if "direction" in message.lower():
            return None
        match = _QUESTION.search(message) if "?" in message else None
        if match:
            letters = match.group(1).replace("-", "").replace(" ", "") or "-"
            choice = self.letter if self.letter and self.letter in letters else letters[-1]
            return self._letter(choice)
        return None

    def _letter(self, letter: str) -> str | None:
        """The action whose key is `letter` ('y' is northwest, 'f' is fire, ...), None when the task lacks it."""
        return self._keys.get(letter)

    def _keyroom(self, state: State) -> str | None:
        if not state.has_item("key named") and not state.has_item("skeleton key"):
            if "see here" in state.message and "key" in state.message:
                return "pickup"
            return self._walk_to(state, lambda p: state.at(*p) == "key") or self._explore(state)
        door = state.nearest("closed door")
        if door is not None:
            if _orthogonal(state.pos, door):
                return "apply"
            return self._walk_to(state, lambda p: _orthogonal(p, door) and state.at(*p) in _PASSABLE)
        return self._go_stairs(state)

    def _skill(self, state: State, category: str, command: str) -> str | None:
        if self.letter is not None:
            return command
        if "see here" in state.message:
            return "pickup"
        return self._walk_to(state, lambda p: state.at(*p) == category) or self._explore(state)

    def _go_stairs(self, state: State) -> str | None:
        stairs = state.find("stairs down")
        if stairs:
            return self._walk_to(state, lambda p: p in stairs) or self._explore(state)
        return self._explore(state)

    def _explore(self, state: State) -> str | None:
        """Walk to the nearest closed door or unvisited passable cell next to unexplored space (a frontier)."""
        def frontier(p: Point) -> bool:
            if state.at(*p) == "closed door":
                return True  # walking into a closed door opens it
            return p not in self.visited and state.at(*p) in _PASSABLE and any(
                state.at(p[0] + dx, p[1] + dy) == "unexplored" for dx, dy in MOVES.values())
        return self._walk_to(state, frontier)

    def _walk_to(self, state: State, goal: Callable[[Point], bool]) -> str | None:
        """The first move of a shortest path to a cell satisfying `goal` (None when none is reachable)."""
        start = state.pos
        parent: dict[Point, Point | None] = {start: None}
        queue = collections.deque([start])
        while queue:
            cell = queue.popleft()
            if cell != start and goal(cell):
                while parent[cell] != start:
                    cell = parent[cell]  # type: ignore[assignment]
                step = (cell[0] - start[0], cell[1] - start[1])
                return MOVE_NAMES[step]
            for dx, dy in MOVES.values():
                nxt = (cell[0] + dx, cell[1] + dy)
                if nxt in parent or not self._can_step(state, cell, nxt, goal):
                    continue
                parent[nxt] = cell
                queue.append(nxt)
        return None

    def _can_step(self, state: State, cell: Point, nxt: Point, goal: Callable[[Point], bool]) -> bool:
        """Whether a move from `cell` to `nxt` can work (no walls; doors are entered and left orthogonally)."""
        kind = state.at(*nxt)
        if kind not in _PASSABLE and kind != "closed door" and not goal(nxt):
            return False
        here = self.seen.get(cell, "floor") if cell == state.pos else state.at(*cell)  # the agent hides its cell
        diagonal = cell[0] != nxt[0] and cell[1] != nxt[1]
        return not (diagonal and (kind in _DOORS or here in _DOORS))


def _orthogonal(a: Point, b: Point) -> bool:
    return abs(a[0] - b[0]) + abs(a[1] - b[1]) == 1
