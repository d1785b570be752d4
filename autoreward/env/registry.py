"""Which card serves a task: the built-in cards, plugin cards, and cards registered in this process.

A card comes from one of three places (docs/cards.md):

- built in: `envs/*.toml` (autoreward.env.card.cards);
- a plugin: an entry point of the group `autoreward.cards` in an installed distribution, or a `module:attr`
  reference (`--card`) to a card, a card class or a function that returns a card;
- a custom MiniHack level (`--des-file`, autoreward.env.custom).

Every card that is not built in has a *source*: a small JSON-able dict (`source_of(task)`) that training
configs and run.json record, and from which `use_card(source)` rebuilds the same card in another process:
an env worker (the source travels in each env's builder), the probe sandbox (which only needs the plugin's
State class to be importable: it gets this process's sys.path), a resumed run, a Ray node. A plugin source
keeps its `module:attr` and the sys.path entry the module was imported from, so a process that cannot import
it otherwise (the walled workers start with `python -I`) finds it there.
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import importlib
import importlib.metadata
import json
import os
import sys
from pathlib import Path
from typing import Any

import gymnasium as gym

from autoreward.env.card import Card, card_tables, cards
from autoreward.env.custom import LEVEL_KIND, level_card
from autoreward.env.minigrid import CARD_KIND as MINIGRID_KIND
from autoreward.env.minigrid import load_card as load_minigrid_card
from autoreward.errors import UsageError

ENTRY_POINT_GROUP = "autoreward.cards"
PLUGIN_KIND = "plugin"
_MEMBERS = ("family", "title", "tasks", "state_api", "task", "make", "state", "success", "render", "action_names",
            "describe_state_api", "describe")

#: task id -> (card, its source): the cards registered in this process (plugins, custom levels).
_REGISTERED: dict[str, tuple[Card, dict[str, Any]]] = {}


def card_for(task_id: str) -> Card:
    """The card that supports `task_id`; a UsageError naming close matches when none does."""
    found = _REGISTERED.get(task_id)
    if found is not None:
        return found[0]
    for card in builtin_cards():
        if any(task.id == task_id for task in card.tasks):
            return card
    for card, _ in entry_point_cards():
        if any(task.id == task_id for task in card.tasks):
            return card
    for card in builtin_cards():  # a family that plays ids it does not list (MiniGrid: every MiniGrid-* env)
        serves = getattr(card, "serves", None)
        if serves is not None and serves(task_id):
            return card
    known = [task.id for card, _ in all_cards() for task in card.tasks]
    close = difflib.get_close_matches(task_id, known, n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(close)}?" if close else " Run `autoreward envs` for the list."
    raise UsageError(f"unknown task {task_id!r}.{hint}")


@functools.cache
def builtin_cards() -> tuple[Card, ...]:
    """The built-in cards, in `envs/` file-name order: NetHack-based `EnvCard`s and the tables that name a loader
    of their own (`card = "minigrid"`)."""
    loaders = {MINIGRID_KIND: load_minigrid_card}
    nethack = iter(cards())
    found: list[Card] = []
    for raw in card_tables():
        kind = raw.get("card")
        if kind is None:
            found.append(next(nethack))
        elif kind in loaders:
            found.append(loaders[kind](raw))
        else:
            raise UsageError(f"envs/ has a card of unknown kind {kind!r} (family {raw.get('family')!r})")
    return tuple(found)


def make_env(task_id: str, seed: int | None = None, **kwargs: Any) -> gym.Env:
    """Shortcut: the card's environment for a task."""
    return card_for(task_id).make(task_id, seed=seed, **kwargs)


def source_of(task_id: str) -> dict[str, Any] | None:
    """Where the card of `task_id` comes from, for configs to record (None: a built-in card, found anywhere)."""
    found = _REGISTERED.get(task_id)
    if found is not None:
        return dict(found[1])
    for card, source in entry_point_cards():
        if any(task.id == task_id for task in card.tasks):
            return dict(source)
    return None


def card_fingerprint(task_id: str) -> str:
    """A digest of a plugin card's module file ("" for built-in cards and custom levels, whose task ids already
    name their game): what a cache of trainings keyed by task id must add, so that an edited plugin is retrained."""
    source = source_of(task_id)
    if not source or source.get("kind") != PLUGIN_KIND:
        return ""
    module = sys.modules.get(str(source.get("ref", "")).partition(":")[0])
    digest = hashlib.sha256(str(source.get("ref")).encode())
    file = getattr(module, "__file__", None)
    if file and Path(file).is_file():
        digest.update(Path(file).read_bytes())
    return digest.hexdigest()[:12]


def all_cards() -> list[tuple[Card, str]]:
    """Every card this process knows, with where it comes from in words: built in, plugins, registered."""
    listed: list[tuple[Card, str]] = [(card, "built in") for card in builtin_cards()]
    seen = {id(card) for card, _ in listed}
    for card, source in [*entry_point_cards(), *((c, s) for c, s in _REGISTERED.values())]:
        if id(card) not in seen:
            seen.add(id(card))
            listed.append((card, describe_source(source)))
    return listed


def describe_source(source: dict[str, Any]) -> str:
    """A card's source in words: 'plugin toy (tests.plugins.toy_card:ToyCard)', 'level maze.des'."""
    if source.get("kind") == LEVEL_KIND:
        return f"level {source.get('name', '?')}.des"
    entry = source.get("entry_point")
    return f"plugin {entry + ' ' if entry else ''}({source.get('ref', '?')})"


def register(card: Card, source: dict[str, Any]) -> Card:
    """Serve `card`'s tasks in this process from now on; `source` (JSON-able) says how to rebuild it elsewhere."""
    check_card(card, describe_source(source))
    json.dumps(source)  # a source travels in configs: it must be plain data
    builtin = {task.id for c in builtin_cards() for task in c.tasks}
    for task in card.tasks:
        if task.id in builtin:
            raise UsageError(f"{describe_source(source)} declares task {task.id!r}, which is a built-in task: "
                             "give the plugin's tasks ids of their own")
        _REGISTERED[task.id] = (card, dict(source))
    return card


def use_card(source: dict[str, Any] | None) -> Card | None:
    """Rebuild and register the card a config recorded (`source_of`); None for a built-in card's None."""
    if source is None:
        return None
    key = json.dumps(source, sort_keys=True)
    card = _rebuilt(key)
    register(card, source)
    return card


@functools.cache
def _rebuilt(key: str) -> Card:
    source = json.loads(key)
    kind = source.get("kind")
    if kind == PLUGIN_KIND:
        return load_plugin(str(source.get("ref", "")), path=source.get("path"))[0]
    if kind == LEVEL_KIND:
        return level_card(source)
    raise UsageError(f"unknown card source kind {kind!r} (a config written by a newer autoreward?)")


def card_from_reference(ref: str) -> Card:
    """`--card module:attr`: load the plugin card, register it, and return it."""
    card, path = load_plugin(ref, current_dir=True)
    return register(card, {"kind": PLUGIN_KIND, "ref": ref, "path": path})


def load_plugin(ref: str, path: str | None = None, current_dir: bool = False) -> tuple[Card, str]:
    """The card `module:attr` names (a card, or a class or function that returns one) and the sys.path entry
    its module was imported from. A module not importable as is is looked for in `path` (recorded where it was
    first loaded) or, with `current_dir`, in the current folder as `python -m` would."""
    module_name, _, attr = ref.partition(":")
    if not module_name or not attr:
        raise UsageError(f"a card reference is MODULE:ATTR (e.g. mypackage.cards:MyCard), not {ref!r}")
    module = _import(module_name, [path] if path else [os.getcwd()] if current_dir else [])
    try:
        found: Any = module
        for part in attr.split("."):
            found = getattr(found, part)
    except AttributeError as exc:
        raise UsageError(f"{module_name} has no {attr!r} (card reference {ref!r})") from exc
    card = found() if isinstance(found, type) or (callable(found) and not hasattr(found, "tasks")) else found
    check_card(card, f"card {ref!r}")
    return card, import_root(module)


def _import(name: str, extra_paths: list[str]) -> Any:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if not (exc.name and name.startswith(exc.name)):
            raise  # the module itself was found; something it imports is missing
        for extra in extra_paths:
            if extra and extra not in sys.path and Path(extra).is_dir():
                sys.path.append(extra)
                return _import(name, [])
        raise UsageError(f"card module {name!r} is not importable here: install it, put its folder on PYTHONPATH, "
                         "or run from the folder that holds it") from exc


def import_root(module: Any) -> str:
    """The sys.path entry `module` was imported from (its file, up one folder per dot of its name)."""
    origin = getattr(module, "__file__", None)
    if not origin:
        return ""
    depth = module.__name__.count(".") + (1 if Path(origin).name == "__init__.py" else 0)
    return str(Path(origin).resolve().parents[depth])


def check_card(card: Any, what: str) -> None:
    """A UsageError when `card` lacks a member of the Card interface or its State API is not plain names."""
    missing = [name for name in _MEMBERS if not hasattr(card, name)]
    if missing:
        raise UsageError(f"{what} is not a card: it lacks {', '.join(missing)} (docs/cards.md)")
    api = card.state_api
    if not isinstance(api, frozenset) or not all(isinstance(n, str) and n.isidentifier() for n in api):
        raise UsageError(f"{what}: state_api must be a frozenset of attribute names")
    private = sorted(n for n in api if n.startswith("_"))
    if private:
        raise UsageError(f"{what}: state_api may not name private attributes ({', '.join(private)})")
    if not card.tasks:
        raise UsageError(f"{what} has no tasks")


@functools.cache
def entry_point_cards() -> tuple[tuple[Card, dict[str, Any]], ...]:
    """The cards of installed plugins (entry point group `autoreward.cards`), loaded once; broken ones are skipped
    and reported by `entry_point_errors`."""
    found = []
    for entry in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        try:
            card, path = load_plugin(entry.value)
        except Exception as exc:  # noqa: BLE001 - a broken plugin must not break the built-in tasks
            _ENTRY_POINT_ERRORS[entry.name] = f"{type(exc).__name__}: {exc}"
            continue
        found.append((card, {"kind": PLUGIN_KIND, "ref": entry.value, "path": path, "entry_point": entry.name}))
    return tuple(found)


_ENTRY_POINT_ERRORS: dict[str, str] = {}


def entry_point_errors() -> dict[str, str]:
    """Plugins (entry point name -> why) that failed to load."""
    entry_point_cards()
    return dict(_ENTRY_POINT_ERRORS)
