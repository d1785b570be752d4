"""Critic stage 3's offline rules, measured where they can be, on a reward that passed stages 1 and 2.

- goal: some part of the code reads `state.success` or names the task's goal (its target or item);
- farming: the reward is run, in the probe's sandbox, on scripted play in the real environment (walk next to
  each thing the task is about, then step back and forth between two cells, stand still, repeat one action);
  reward that keeps coming in without progress is farmable (an error, with the measured numbers);
- last step: a failed episode's last step should not pay anything but outcomes (a warning);
- scale: one component orders of magnitude larger than the rest on the probe transitions (a warning);
- constant: a component 0 on every probe transition is a milestone random play does not reach (a note, `info`);
  a constant nonzero one is the probe's warning.
"""

from __future__ import annotations

import ast
import math
import random
import re
from dataclasses import dataclass, field
from typing import Any

from autoreward.env.registry import card_for
from autoreward.env.state import State
from autoreward.reward.probe import run_probe
from autoreward.reward.static import check_static
from autoreward.reward.syntax import parse_code

FARM_PER_STEP = 0.002  # reward per step still coming in while nothing progresses: farmable above this
OSCILLATION_STEPS = 24  # steps back and forth; the second half is measured (the first may pay novelty once)
WALK_LIMIT = 30
IMBALANCE = 100.0  # one component this many times the next (per-step RMS on the probe): a warning
LARGE = 50.0  # a single reward this large dwarfs the task's own reward of about 1
_MOVES = {(0, -1): "north", (1, 0): "east", (0, 1): "south", (-1, 0): "west", (1, -1): "northeast",
          (1, 1): "southeast", (-1, 1): "southwest", (-1, -1): "northwest"}
_UNSAFE = ("lava", "water", "trap")
_REPEATED_ACTIONS = ("pickup", "apply", "wait", "search", "eat", "wear", "wield", "puton", "pray", "kick",
                     "toggle", "left", "forward")  # the last three: MiniGrid's (turning in place, bumping)


@dataclass
class Findings:
    """What the rules found: errors (measured defects), warnings, notes (`info`) and the checks that passed."""

    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    info: list[str] = field(default_factory=list)
    passed: list[str] = field(default_factory=list)

    def text(self) -> str:
        lines = [f"- ERROR: {e}" for e in self.errors] + [f"- warning: {w}" for w in self.warnings]
        lines += [f"- note: {i}" for i in self.info] + [f"- passed: {p}" for p in self.passed]
        return "\n".join(lines) or "- (no checks ran)"



def rule_review(code: str, task: str, task_text: str, probe_stats: dict, seed: int = 0) -> Findings:
    """All offline checks of one reward for one task."""
    findings = Findings()
    static_errors = [str(i) for i in check_static(code, card_for(task).state_api) if i.severity == "error"]
    if static_errors:
        findings.errors.append("the code does not pass the static rules (stage 1): " + "; ".join(static_errors[:3]))
        return findings
    _check_goal(code, task_text, findings)
    _check_scale(probe_stats, findings)
    _check_constant(probe_stats, findings)
    check_farming(code, task, seed, findings)
    return findings


def goal_words(task_text: str) -> set[str]:
    """Strings that name the task's goal: its target (name and map character) and the items it is about."""
    text = task_text.lower()
    words: set[str] = set()
    if "stairs" in text:
        words |= {"stairs down", "stairs", ">"}
    for noun, name, char in re.findall(r"(?:(\w+)\s+)?\('([a-z ]+)',\s*'(.{1,2}?)'\)", text):
        if name not in ("key", "closed door", "wall", "floor", "corridor", "lava", "water", "boulder", "trap"):
            words |= {name, char.replace("\\", "")} | ({noun} if noun not in ("", "the", "a", "an") else set())
    for verb in ("eat", "wear", "wield", "put on", "zap", "read", "pray", "quaff", "drink"):
        if re.search(rf"\b{verb}\b", text):
            words.add(verb)
    return words


def _check_goal(code: str, task_text: str, findings: Findings) -> None:
    tree = parse_code(code)
    if any(isinstance(n, ast.Attribute) and n.attr == "success" for n in ast.walk(tree)):
        findings.passed.append("goal: the reward reads state.success")
        return
    docstrings = {id(n.body[0].value) for n in ast.walk(tree)
                  if isinstance(n, (ast.Module, ast.FunctionDef)) and n.body and isinstance(n.body[0], ast.Expr)}
    strings = {n.value.lower() for n in ast.walk(tree)
               if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docstrings}
    words = goal_words(task_text)
    named = sorted(w for w in words if any(w == s or (len(w) > 2 and w in s) for s in strings))
    if named:
        findings.passed.append(f"goal: the reward refers to the goal ({', '.join(repr(w) for w in named)})")
        return
    wanted = ", ".join(repr(w) for w in sorted(words)) or "its target"
    findings.errors.append(f"no component pays for the task's goal: the code neither reads state.success nor refers to "
                           f"the goal ({wanted}); add a term for reaching it (a potential on the distance to the "
                           "goal, or a bonus when state.success)")


def _rms(stats: dict[str, float]) -> float:
    return math.sqrt(stats.get("mean", 0.0) ** 2 + stats.get("std", 0.0) ** 2)


def _check_scale(probe_stats: dict, findings: Findings) -> None:
    components = probe_stats.get("components") or {}
    for name, stats in components.items():
        peak = max(abs(stats.get("min", 0.0)), abs(stats.get("max", 0.0)))
        if peak > LARGE:
            findings.warnings.append(f"component {name!r} reaches {peak:.3g} on one step, far larger than the task's "
                                     "own reward (about 1): rescale it")
    sizes = sorted(((_rms(s), n) for n, s in components.items() if _rms(s) > 0), reverse=True)
    if len(sizes) >= 2 and sizes[0][0] >= IMBALANCE * sizes[1][0]:
        (big, big_name), (next_size, next_name) = sizes[0], sizes[1]
        findings.warnings.append(
            f"component {big_name!r} is {big / next_size:.0f}x larger per step (RMS {big:.3g}) than the next largest, "
            f"{next_name!r} (RMS {next_size:.3g}), on the probe transitions: the others will barely matter")
    elif len(sizes) >= 2:
        findings.passed.append(f"scale: the largest component is {sizes[0][0] / sizes[1][0]:.0f}x the next")


def _check_constant(probe_stats: dict, findings: Findings) -> None:
    """A component 0 on every random-play step is a milestone not reached: a note, so that no one drops it.

    A nonzero constant is a warning the probe has already made (it is in the verdict, and marked in the statistics
    the LLM reads); it is not repeated here.
    """
    for name, stats in (probe_stats.get("components") or {}).items():
        if stats and stats.get("min") == stats.get("max") == 0.0:
            findings.info.append(f"component {name!r} is 0 on every random-play probe transition: a milestone that "
                                 "random play does not reach, not a constant; keep it")


# ----- scripted play for the farming check ------------------------------------------------------------------------
@dataclass
class _Script:
    """One scripted episode: its States, actions, and the steps to measure (where nothing progresses)."""

    what: str
    states: list[State]
    actions: list[int]
    measure_from: int  # the measured window is actions[measure_from:]
    kind: str = "idle"  # "idle": nothing progresses in the window; "end": the window is the episode's last step


class _Player:
    """Steps a real environment and records the States, as the trainer would hand them to the reward."""

    def __init__(self, env: Any, card: Any) -> None:
        self.env, self.card = env, card
        self.names = card.action_names(env)
        self.index = {name: i for i, name in enumerate(self.names)}
        obs, info = env.reset()
        self.states, self.actions = [card.state(obs, info=info)], []

    @property
    def state(self) -> State:
        return self.states[-1]

    def step(self, action: int) -> bool:
        """Take one action; False once the episode is over."""
        if self.state.done:
            return False
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.states.append(self.card.state(obs, reward, terminated, truncated, info, len(self.actions) + 1))
        self.actions.append(action)
        return not self.state.done

    def move(self, delta: tuple[int, int]) -> bool:
        """Move one cell if that cell is safe and the move works; False otherwise."""
        x, y = self.state.pos
        name = _MOVES[delta]
        if name not in self.index or self.state.at(x + delta[0], y + delta[1]) in _UNSAFE:
            return False
        return self.step(self.index[name]) and self.state.pos != (x, y)

    def walk_to(self, target: tuple[int, int]) -> None:
        """Greedy walk until next to `target` (never onto it), giving up on a wall."""
        for _ in range(WALK_LIMIT):
            x, y = self.state.pos
            dx, dy = target[0] - x, target[1] - y
            if max(abs(dx), abs(dy)) <= 1 or self.state.done:
                return
            sx, sy = (dx > 0) - (dx < 0), (dy > 0) - (dy < 0)
            for delta in dict.fromkeys([(sx, sy), (sx, 0), (0, sy)]):
                if delta != (0, 0) and self.move(delta):
                    break
            else:
                return

    def oscillate(self, avoid: tuple[int, int] | None) -> int | None:
        """Step back and forth between two cells; the index where the measured half starts, or None."""
        x, y = self.state.pos
        for delta, name in _MOVES.items():
            cell = (x + delta[0], y + delta[1])
            if cell == avoid or self.state.at(*cell) not in ("floor", "corridor", "doorway", "open door"):
                continue
            back = _MOVES[(-delta[0], -delta[1])]
            if name not in self.index or back not in self.index or not self.step(self.index[name]):
                return None
            if self.state.pos != cell:
                continue
            start = len(self.actions)
            for i in range(OSCILLATION_STEPS - 1):
                if not self.step(self.index[back if i % 2 == 0 else name]):
                    return None
            return start + OSCILLATION_STEPS // 2 - 1
        return None

    def repeat(self, action: int) -> int | None:
        start = len(self.actions)
        for _ in range(OSCILLATION_STEPS):
            if not self.step(action):
                return None
        return start + OSCILLATION_STEPS // 2


def _scripts(task: str, seed: int) -> list[_Script]:
    """Walk next to each interesting thing in sight and idle there; plus idling at the start."""
    card = card_for(task)
    env = card.make(task, seed=seed)
    scripts: list[_Script] = []
    try:
        first = _Player(env, card)
        targets = sorted({name for name in ("stairs down", "key", "closed door", "door", "item", "altar", "sink",
                                            "fountain", "boulder") if _count(first.state, name)})
        plans: list[tuple[str, str | None, str]] = [("start", None, "oscillate")]
        plans += [(f"next to the {name}", name, "oscillate") for name in targets]
        plans += [(f"repeating {name}", None, name) for name in _REPEATED_ACTIONS if name in first.index]
        player = first
        for what, target, how in plans:
            spot = None
            for _ in range(3):  # layouts are random: the target may be hidden under the agent, or absent
                player = player or _Player(env, card)
                spot = player.state.nearest(target) if target else None
                if spot is not None or not target:
                    break
                player = None
            if player is None:
                continue
            if spot is not None:
                player.walk_to(spot)
            if how == "oscillate":
                start = player.oscillate(avoid=spot)
                label = f"{what}: stepping back and forth between two cells"
            else:
                start = player.repeat(player.index[how])
                label = f"{what} {OSCILLATION_STEPS} times in place"
            if start is not None:
                scripts.append(_Script(label, player.states, player.actions, start))
            player = None
        scripts.append(_play_to_the_end(_Player(env, card), seed))
    finally:
        env.close()
    return scripts


def _count(state: Any, name: str) -> int:
    """How many cells of `name` the State shows; 0 for a name the card's State does not know (MiniGrid's)."""
    try:
        return state.count(name)
    except ValueError:
        return 0


def _play_to_the_end(player: _Player, seed: int, limit: int = 600) -> _Script:
    """Random moves (any action, for a card without compass moves) until the episode ends (usually by the step
    limit): its last step is checked."""
    rng = random.Random(seed)
    moves = [player.index[name] for name in _MOVES.values() if name in player.index] or list(range(len(player.names)))
    while len(player.actions) < limit and player.step(rng.choice(moves)):
        pass
    return _Script("playing until the episode ends", player.states, player.actions, len(player.actions) - 1, "end")


def check_farming(code: str, task: str, seed: int, findings: Findings) -> None:
    """Run the reward over the scripted episodes in the probe's sandbox and measure what it pays while idling."""
    scripts = _scripts(task, seed)
    probe = run_probe(code, [(script.states, script.actions) for script in scripts], state_api=card_for(task).state_api)
    if not probe.ok:
        findings.errors.append("on scripted play (walking next to things, stepping back and forth, repeating "
                               f"actions): {probe.errors[0]}")
        return
    totals, components = probe.values["total"], probe.values["components"]
    worst = 0.0
    farms: list[tuple[float, str]] = []
    offset = 0
    for script in scripts:
        window = range(offset + script.measure_from, offset + len(script.actions))
        offset += len(script.actions)
        total = sum(totals[i] for i in window)
        measured = {name: sum(values[i] for i in window) for name, values in components.items()}
        if script.kind == "end":
            _check_last_step(script, total, measured, findings)
            continue
        steps = len(script.actions) - script.measure_from
        per_step = total / max(1, steps)
        worst = max(worst, per_step)
        if per_step > FARM_PER_STEP:
            paying = ", ".join(f"{n} {v:+.3g}" for n, v in sorted(measured.items(), key=lambda kv: -kv[1]) if v > 0)
            farms.append((per_step, f"{script.what}, the reward paid {total:+.3g} over {steps} steps "
                                    f"({per_step:+.3g} per step; {paying})"))
    if farms:
        farms.sort(key=lambda farm: -farm[0])
        more = f"; and in {len(farms) - 2} more scripted situations" if len(farms) > 2 else ""
        findings.errors.append("farmable: reward keeps coming without progress: " + "; ".join(f for _, f in farms[:2])
                               + more + ". Pay changes (a potential's difference, milestones once), not states")
    elif worst <= FARM_PER_STEP:
        findings.passed.append(f"farming: scripted idling (walk next to things, step back and forth, repeat actions) "
                               f"earns at most {worst:+.3g} per step")


def _check_last_step(script: _Script, total: float, parts: dict[str, float], findings: Findings) -> None:
    """A failed episode's last step should not pay anything but outcomes (no bonus for timing out or dying)."""
    last = script.states[-1]
    if not last.done or last.success:
        return
    if total > 0.05:
        paying = ", ".join(f"{n} {v:+.3g}" for n, v in parts.items() if v > 0)
        findings.warnings.append(
            f"on the last step of a failed episode ({'death' if last.died else 'step limit'}) the reward paid "
            f"{total:+.3g} ({paying}): a failed episode should not end on a bonus; "
            "when state.done, judge only state.success and state.died")
    else:
        findings.passed.append(f"last step: a failed episode's final step pays {total:+.3g}")
