"""Custom MiniHack levels: a des-file level and a description in words become a task of its own card.

`autoreward iterate --des-file LEVEL.des --description "..."` (and train, eval, check, envs show, calm) play
the level through MiniHack's des-file envs (`MiniHack-Navigation-Custom-v0`, MiniHack's KeyRoom env class, or
`MiniHack-Skill-Custom-v0`, by `--actions`). Success is the level's own criterion, as for every des-file level
of MiniHack: the agent reaches the staircase down. The card is an `EnvCard` of the MiniHack family, whose
single task has an id of its own (the file's name and a hash of the level), registered with gymnasium.

The level's text, not its path, is what runs record (`level_source`): resuming, the env workers and Ray nodes
rebuild the same level even when the file has changed or is not there. A level NetHack's level compiler
refuses is a UsageError naming the line it complains about, before anything is trained (`check_level`).
"""

from __future__ import annotations

import hashlib
import re
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import gymnasium as gym
from nle.nethack import nethack

from autoreward.env.card import EnvCard, TaskInfo, cards
from autoreward.errors import UsageError

LEVEL_KIND = "level"
FAMILY = "minihack-custom"
#: --actions: the gymnasium entry point of each action set, and the built-in family whose notes apply.
ACTION_SETS: dict[str, tuple[str, str, str]] = {
    "nav": ("minihack.navigation:MiniHackNavigation", "minihack-navigation",
            "the 8 compass moves; objects are picked up by walking onto them (autopickup)"),
    "keyroom": ("minihack.envs.keyroom:MiniHackKeyDoor", "minihack-navigation",
                "the 8 compass moves, PICKUP and APPLY (APPLY next to a locked door, with a key, opens it)"),
    "full": ("minihack.skills:MiniHackSkill", "minihack-skills",
             "NetHack's full command set (no autopickup: PICKUP picks up)"),
}
_STAIRS_DOWN = re.compile(r"^\s*STAIR\s*:.*\bdown\b", re.IGNORECASE | re.MULTILINE)
_COMPILER_ERROR = re.compile(r"line (\d+)(?:, pos \d+)?: (.*)")


def level_source(text: str, name: str, description: str, max_steps: int | None = None,
                 actions: str = "nav") -> dict[str, Any]:
    """The record of a custom level that configs keep (autoreward.env.registry rebuilds the card from it)."""
    if actions not in ACTION_SETS:
        raise UsageError(f"--actions must be one of {', '.join(ACTION_SETS)}, not {actions!r}")
    if max_steps is not None and max_steps < 1:
        raise UsageError("--max-steps must be at least 1")
    if not description or not description.strip():
        raise UsageError("a custom level needs --description: the task in words (what the designer is told)")
    return {"kind": LEVEL_KIND, "name": _slug(name), "level": text, "description": description.strip(),
            "max_steps": max_steps, "actions": actions}


def level_task_id(source: dict[str, Any]) -> str:
    """The level's task id: its name and a hash of what makes the game (level text, actions, step limit)."""
    digest = hashlib.sha256(json_key(source).encode()).hexdigest()[:8]
    return f"MiniHack-Custom-{source['name']}-{digest}-v0"


def json_key(source: dict[str, Any]) -> str:
    return "\0".join([source["level"], source["actions"], str(source.get("max_steps"))])


def level_card(source: dict[str, Any]) -> EnvCard:
    """The card of a custom level (registered with gymnasium under its task id); no compiling yet."""
    entry_point, family, actions_text = ACTION_SETS[source["actions"]]
    task_id = level_task_id(source)
    kwargs: dict[str, Any] = {"des_file": source["level"]}
    if source.get("max_steps"):
        kwargs["max_episode_steps"] = int(source["max_steps"])
    if task_id not in gym.registry:
        gym.register(task_id, entry_point=entry_point, kwargs=kwargs)
    base = next(card for card in cards() if card.family == family)
    summary = (f"A custom MiniHack level ({source['name']}.des). Success is the level's own criterion, as for "
               "every des-file level of MiniHack: the agent stands on the staircase down ('>', map name 'stairs "
               "down'); the episode ends then, when the agent dies, or at the step limit. Actions: "
               f"{actions_text}.")
    task = TaskInfo(id=task_id, family=FAMILY, goal=source["description"])
    return EnvCard(family=FAMILY, title="MiniHack custom level", summary=summary, notes=base.notes,
                   observation_keys=base.observation_keys, tasks=(task,))


def check_level(text: str, name: str) -> None:
    """A UsageError when NetHack's level compiler refuses the level (naming the line and showing it) or when the
    level has no staircase down (MiniHack's success for a des-file level is reaching it)."""
    if not text.strip():
        raise UsageError(f"{name}: the des file is empty")
    hackdir = Path(nethack.HACKDIR)  # NLE's nethack folder: lev_comp, the compiler MiniHack's patch script runs
    with tempfile.TemporaryDirectory(prefix="autoreward-des-") as tmp:
        (Path(tmp) / "mylevel.des").write_text(text, encoding="latin-1", errors="replace")
        done = subprocess.run([str(hackdir / "lev_comp"), "mylevel.des"], cwd=tmp, capture_output=True,
                              text=True, errors="replace", timeout=60, check=False)
    said = (done.stdout + done.stderr).strip()
    if done.returncode != 0 or "error" in said.lower():
        raise UsageError(f"{name}: NetHack's level compiler refuses it: {_compiler_message(said, text)}")
    if not _STAIRS_DOWN.search(text):
        raise UsageError(f"{name}: the level has no staircase down (`STAIR: ..., down`): a des-file level's "
                         "success is reaching it")


def check_level_plays(card: EnvCard, name: str) -> None:
    """Make the level's env once and reset it: a UsageError naming the level when NetHack cannot play it."""
    task_id = card.tasks[0].id
    try:
        env = card.make(task_id, seed=0)
        try:
            env.reset()
        finally:
            env.close()
    except Exception as exc:
        raise UsageError(f"{name}: MiniHack cannot play this level: {type(exc).__name__}: {exc}") from exc


def _compiler_message(said: str, text: str) -> str:
    """lev_comp's complaint ('line 6, pos 0: syntax error at "."') with the line it names quoted."""
    first = next((line for line in said.splitlines() if _COMPILER_ERROR.search(line)), said.splitlines()[0]
                 if said else "it failed without a message")
    found = _COMPILER_ERROR.search(first)
    if found is None:
        return first
    number = int(found.group(1))
    lines = text.splitlines()
    shown = f": `{lines[number - 1].strip()}`" if 0 < number <= len(lines) else ""
    return f"line {number}{shown}: {found.group(2).strip()}"


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", Path(name).stem).strip("_")[:40] or "level"
