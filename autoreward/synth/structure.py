"""The structure of a reward file: which components it pays and how it measures distance, read from its code.

Structure is what the loop compares between candidates ("success fell from 36% to 0% when explore was
removed"): two rewards that differ only in weights have the same structure. It is read from the code alone, so
it works for an LLM's reward as for the offline designer's: the keys of a top-level `WEIGHTS` dict when there is
one, else the component names the code writes (`components["x"] = ...`, keys of a returned dict literal), plus
`distance: actions` when the code calls `actions_to` (MiniGrid: turns counted), `distance: path` when it calls
`path_to`, `distance: straight` when it measures straight-line distance.
"""

from __future__ import annotations

import ast

from autoreward.reward.syntax import parse_code

PATH, STRAIGHT, ACTIONS = "distance: path", "distance: straight", "distance: actions"
DISTANCES = (PATH, STRAIGHT, ACTIONS)
_STRAIGHT_CALLS = frozenset({"distance", "distance_to", "euclidean"})
_NOT_COMPONENTS = frozenset({"memory", "state", "prev"})  # subscripts of these are not reward components


def read_weights(code: str) -> dict[str, float] | None:
    """The top-level `WEIGHTS = {...}` of reward code (numbers by component name), or None when absent."""
    try:
        tree = parse_code(code)
    except SyntaxError:
        return None
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "WEIGHTS" for t in node.targets):
            try:
                value = ast.literal_eval(node.value)
            except (ValueError, SyntaxError, TypeError):
                return None
            if isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, (int, float)) and
                                               not isinstance(v, bool) for k, v in value.items()):
                return {k: float(v) for k, v in value.items()}
            return None
    return None


def structure_of(code: str) -> list[str]:
    """The sorted features of a reward: its component names, then its distance kind when it measures one."""
    try:
        tree = parse_code(code)
    except SyntaxError:
        return []
    weights = read_weights(code)
    names = set(weights) if weights else _written_components(tree)
    called = {node.func.attr for node in ast.walk(tree)
              if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)}
    features = sorted(names)
    if "actions_to" in called:
        features.append(ACTIONS)
    elif "path_to" in called:
        features.append(PATH)
    elif called & _STRAIGHT_CALLS:
        features.append(STRAIGHT)
    return features


def _written_components(tree: ast.AST) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        targets = node.targets if isinstance(node, ast.Assign) else \
            [node.target] if isinstance(node, (ast.AugAssign, ast.AnnAssign)) else []
        for target in targets:
            if isinstance(target, ast.Subscript) and isinstance(target.slice, ast.Constant) and \
                    isinstance(target.slice.value, str) and not (isinstance(target.value, ast.Name) and
                                                                 target.value.id in _NOT_COMPONENTS):
                names.add(target.slice.value)
        if isinstance(node, ast.Return) and isinstance(node.value, ast.Tuple):
            for item in node.value.elts:
                if isinstance(item, ast.Dict):
                    names |= {k.value for k in item.keys if isinstance(k, ast.Constant) and isinstance(k.value, str)}
    return names


def changes(parent: list[str], child: list[str]) -> list[str]:
    """How `child`'s structure differs from `parent`'s: '+name', '-name', 'distance: path -> straight'."""
    def distance(features: list[str]) -> str | None:
        return next((f.split(": ", 1)[1] for f in features if f in DISTANCES), None)

    old, new = set(parent) - set(DISTANCES), set(child) - set(DISTANCES)
    out = [f"+{name}" for name in sorted(new - old)] + [f"-{name}" for name in sorted(old - new)]
    before, after = distance(parent), distance(child)
    if before and after and before != after:
        out.append(f"distance: {before} -> {after}")
    return out


def describe_changes(items: list[str]) -> str:
    """The changes in words, e.g. 'explore added, approach removed'."""
    words = []
    for item in items:
        if item.startswith("+"):
            words.append(f"{item[1:]} added")
        elif item.startswith("-"):
            words.append(f"{item[1:]} removed")
        else:
            before, _, after = item.removeprefix("distance: ").partition(" -> ")
            words.append(f"{after} distance instead of {before}")
    return ", ".join(words) if words else "weights only"
