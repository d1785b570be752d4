"""The offline designer's weight editor: group rescaling for extra candidates, and the analysis' edits.

Both work on a `WEIGHTS` dict (component -> number) and say in notes what they did and skipped.
"""

from __future__ import annotations

import math
import random
from typing import Any

from autoreward.synth.offline.recipe import ADDABLE, KNOWN_COMPONENTS, MILESTONES, Recipe, round_weight
from autoreward.synth.records import Edit

_VARIANTS: tuple[dict[str, float], ...] = (  # candidate k >= 1 starts from variant (k - 1) % len
    {"approach": 2.0, "explore": 2.0},
    {"approach": 0.6, "goal": 2.0, "milestones": 0.5},
    {"milestones": 2.0, "penalties": 2.0, "explore": 0.5},
)



def vary(weights: dict[str, float], recipe: Recipe, candidate: int, seed: int) -> tuple[dict[str, float], list[str]]:
    """Candidate 0 keeps the weights; candidate k >= 1 rescales groups of them (deterministic in k and seed)."""
    weights = dict(weights)
    if candidate <= 0:
        return weights, []
    variant = _VARIANTS[(candidate - 1) % len(_VARIANTS)]
    rng = random.Random(f"autoreward:{seed}:{candidate}")
    notes = []
    for group, factor in variant.items():
        names = {"milestones": MILESTONES, "penalties": ("death", "hp", "dither")}.get(group, (group,))
        for name in names:
            if name == "explore" and name not in weights and factor > 1 and recipe.has_targets:
                weights[name] = ADDABLE[name]
                notes.append(f"variant: added explore {weights[name]:g}")
            elif name in weights:
                weights[name] = round_weight(weights[name] * factor)
                notes.append(f"variant: {name} x{factor:g}")
    jitter = 2 ** rng.uniform(-0.3, 0.3)  # and every shaping weight by a seed-dependent factor
    for name in weights:
        if name not in ("goal", "death"):
            weights[name] = round_weight(weights[name] * jitter)
    notes.append(f"variant: shaping weights x{jitter:.3g} (seed {seed}, candidate {candidate})")
    return weights, notes




def apply_edits(weights: dict[str, float], edits: list[Edit], recipe: Recipe) -> tuple[dict[str, float], list[str]]:
    """Apply the analysis' edits that rules can make (scale, drop, add, set); say what was done and skipped."""
    notes = [f"ignored component {name!r}: the offline designer has no recipe for it"
             for name in weights if name not in KNOWN_COMPONENTS]
    weights = {k: v for k, v in weights.items() if k in KNOWN_COMPONENTS}
    for edit in edits:
        if not isinstance(edit, dict):
            continue
        op, name = str(edit.get("op", "")).lower(), str(edit.get("component", ""))
        reason = f" ({edit['reason']})" if edit.get("reason") else ""
        if op == "scale" and name in weights:
            factor = _number(edit.get("factor"), 1.0)
            weights[name] = round_weight(min(10.0, max(1e-4, weights[name] * factor)))
            notes.append(f"edit: {name} x{factor:g} -> {weights[name]:g}{reason}")
        elif op == "drop" and name in weights:
            if name == "goal":
                notes.append("edit skipped: kept the goal term (a reward must pay for the task's goal)")
                continue
            del weights[name]
            notes.append(f"edit: dropped {name}{reason}")
        elif op in ("add", "set") and name in KNOWN_COMPONENTS and (name != "approach" or recipe.has_targets):
            if op == "add" and name in weights:
                factor = _number(edit.get("factor"), 2.0)
                weights[name] = round_weight(min(10.0, weights[name] * factor))
                notes.append(f"edit: {name} already present, x{factor:g} -> {weights[name]:g}{reason}")
            elif name in ADDABLE or name in weights:
                weights[name] = round_weight(min(10.0, max(1e-4, _number(edit.get("weight"), ADDABLE.get(name, 1.0)))))
                notes.append(f"edit: {op} {name} = {weights[name]:g}{reason}")
            else:
                notes.append(f"edit skipped: {op} {name}: not part of this task's recipe")
        else:
            notes.append(f"edit skipped: the offline designer cannot {op or 'apply'} {name or 'this'}{reason}")
    return weights, notes


def _number(value: Any, default: float) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return default
    return number if math.isfinite(number) and number > 0 else default


