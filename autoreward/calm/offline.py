"""The offline CALM judge: rules that read a rendered transition's text only, as an LLM would see it.

The text is read back into its fields (`parse_rendered`); each subgoal is matched to a rule by the words of its
name, else of its description (`subgoal_kind`). Rules use what the screen says: new messages ("g - a key
named ..."), inventory lines gained, the move and the cell entered, the objects next to the agent before and
after (a closed door adjacent west that is an open door after), the map crops, the end of the episode after
answering "What do you want to eat?". Nothing here reads the game state, so its scores are an honest baseline.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from autoreward.calm.subgoals import Subgoal
from autoreward.env.vocabulary import COMPASS16

Judgement = dict[str, bool]


def offline_judge(transition_text: str, subgoals: Sequence[Subgoal]) -> Judgement:
    """Rule-based judgement from the rendered text only: messages, inventory lines, moves, objects, maps.

    Each subgoal is matched to a rule by the words of its name (else its description): key, door, stairs,
    eat, wear, wield, put on, zap, read, pray, sink, altar, cross, pick up. A subgoal no rule matches is false.
    An object its description names ("the apple") must be the one picked up, eaten, worn, wielded or put on.
    """
    step = parse_rendered(transition_text)
    judgement = {}
    for subgoal in subgoals:
        rule = _RULES.get(subgoal_kind(subgoal) or "")
        judgement[subgoal.name] = bool(rule(step, targets(subgoal))) if rule else False
    return judgement



@dataclass
class Step:
    """The fields of a rendered transition, read back from its text."""

    action: str = ""
    typed: str = ""
    toward: str = ""
    entered: str = ""
    moved: bool = False
    message_before: str = ""
    message_after: str = ""
    gained: tuple[str, ...] = ()
    lost: tuple[str, ...] = ()
    status: str = ""
    map_before: tuple[str, ...] = ()
    map_after: tuple[str, ...] = ()
    objects_before: tuple[str, ...] = ()
    objects_after: tuple[str, ...] = ()
    ended: bool = False


_ACTION = re.compile(r"^Action: (.+?) \(key (\S+)\)(?:, toward (.+))?$")
_MOVED = re.compile(r"^Moved: (\S+), onto (.+)$")


def _items(value: str) -> tuple[str, ...]:
    """The '; '-joined items of a line; a ';' inside parentheses ('(alternate weapon; not wielded)') is kept."""
    if value.startswith("(none"):
        return ()
    items, depth, current = [], 0, []
    for char in value:
        depth += (char == "(") - (char == ")")
        if char == ";" and depth <= 0:
            items.append("".join(current))
            current = []
        else:
            current.append(char)
    items.append("".join(current))
    return tuple(item.strip() for item in items if item.strip())


def parse_rendered(text: str) -> Step:
    """Read a `transition.render` text back into its fields (unknown lines are ignored)."""
    step, block = Step(), None
    rows: dict[str, list[str]] = {"before": [], "after": []}
    for line in text.splitlines():
        head, _, value = line.partition(": ")
        if line.startswith("Map before"):
            block = "before"
        elif line.startswith("Map after"):
            block = "after"
        elif block and (line.startswith("  ") or not line.strip()):
            rows[block].append(line[2:])
            continue
        else:
            block = None
        if (match := _ACTION.match(line)) is not None:
            step.action, step.typed, step.toward = match.group(1), match.group(2), match.group(3) or ""
        elif (match := _MOVED.match(line)) is not None:
            step.moved, step.entered = True, match.group(2)
        elif head in _TEXT_FIELDS:
            setattr(step, _TEXT_FIELDS[head], "" if value == "(none)" else value)
        elif head in _LIST_FIELDS:
            setattr(step, _LIST_FIELDS[head], _items(value))
        elif line.startswith("Episode ended"):
            step.ended = True
    step.map_before, step.map_after = tuple(rows["before"]), tuple(rows["after"])
    return step


_TEXT_FIELDS = {"Message before": "message_before", "Message after": "message_after", "Status change": "status"}
_LIST_FIELDS = {"Inventory gained": "gained", "Inventory lost": "lost", "Objects before": "objects_before",
                "Objects after": "objects_after"}
_PICKUP_MESSAGE = re.compile(r"^[a-zA-Z] - ")
_CHOICES = re.compile(r"\[([^\]]*)\]")
_ADJACENT = re.compile(r"^(closed door|open door|doorway)(?: \(x\d+\))? adjacent (.+)$")


def _said(step: Step, *phrases: str) -> bool:
    """The action brought a new message (not the one before, left on screen) with one of `phrases`."""
    message = step.message_after.lower()
    return message != step.message_before.lower() and any(phrase in message for phrase in phrases)


def _answered(step: Step, *questions: str) -> bool:
    """The action answered a question naming one of `questions` with yes or one of the letters offered."""
    before = step.message_before.lower()
    if not any(q in before for q in questions):
        return False
    match = _CHOICES.search(step.message_before)
    if match is None:
        return False
    choices = match.group(1).split(" or ")[0]
    if choices.startswith("yn"):
        return step.typed.lower() == "y"  # NetHack takes Y for yes too
    return len(step.typed) == 1 and step.typed.isalpha() and step.typed in choices


def _used(step: Step, verb: str) -> bool:
    """The episode ended on the answer to "What do you want to <verb>?" ("<verb> it?", "<verb> one?"): the use
    that won."""
    return step.ended and _answered(step, f"want to {verb}?", f"{verb} it?", f"{verb} one?")


def _new_items(step: Step) -> list[str]:
    """Gained lines that are not just an item carried before with a new status (worn, wielded, ...)."""
    def base(line: str) -> str:
        return re.sub(r"\s*\(.*\)$", "", line)
    lost = {base(line) for line in step.lost}
    return [line for line in step.gained if base(line) not in lost]


def _names(text: str, targets: frozenset[str]) -> bool:
    """Whether a text names one of the target objects (any text does when there are none)."""
    text = text.lower()
    return not targets or any(target in text for target in targets)


def _rule_key(step: Step, targets: frozenset[str]) -> bool:
    return any(re.search(r"\bkey\b", line, re.IGNORECASE) for line in step.gained) or bool(
        _PICKUP_MESSAGE.match(step.message_after) and re.search(r"\bkey\b", step.message_after))


def _rule_door(step: Step, targets: frozenset[str]) -> bool:
    if _said(step, "door opens", "crashes open", "succeed in unlocking", "door is unlocked", "break open the lock"):
        return True
    if step.moved:
        return False
    closed = {m.group(2) for o in step.objects_before if (m := _ADJACENT.match(o)) and m.group(1) == "closed door"}
    opened = {m.group(2) for o in step.objects_after if (m := _ADJACENT.match(o)) and m.group(1) != "closed door"}
    return bool(closed & opened)


def _rule_stairs(step: Step, targets: frozenset[str]) -> bool:
    return (_said(step, "staircase down here", "stairs down here") or step.entered == "stairs down"
            or (step.ended and step.toward == "stairs down"))


def _rule_eat(step: Step, targets: frozenset[str]) -> bool:
    eating = ("delicious", "finish eating", "core dumped", "you're having a hard time getting all of it down")
    if _said(step, *eating) and _names(step.message_after, targets):
        return True
    relieved = bool(re.search(r"hunger (hungry|weak|fainting) ->", step.status)) and not targets
    return relieved or _used(step, "eat")


def _marked(step: Step, targets: frozenset[str], test: Callable[[str], bool]) -> bool:
    """A gained inventory line passes `test` (a status such as '(being worn)') and names a target."""
    return any(test(line) and _names(line, targets) for line in step.gained)


def _rule_wear(step: Step, targets: frozenset[str]) -> bool:
    worn = _marked(step, targets, lambda line: "(being worn)" in line and "amulet" not in line)
    return worn or (_said(step, "you are now wearing") and _names(step.message_after, targets)) or _used(step, "wear")


def _rule_wield(step: Step, targets: frozenset[str]) -> bool:
    return _marked(step, targets, lambda line: "(weapon in hand" in line) or _used(step, "wield")


def _on(line: str) -> bool:
    return "(on left hand)" in line or "(on right hand)" in line or ("amulet" in line and "(being worn)" in line)


def _rule_put_on(step: Step, targets: frozenset[str]) -> bool:
    return _marked(step, targets, _on) or _used(step, "put on")


def _rule_pickup(step: Step, targets: frozenset[str]) -> bool:
    new = [line for line in _new_items(step) if _names(line, targets)]
    return bool(new) and (bool(_PICKUP_MESSAGE.match(step.message_after)) or not step.lost)


def _rule_cross(step: Step, targets: frozenset[str]) -> bool:
    """Water or lava ('}') lay between the agent and the stairs down before the step, and none after.

    Judged on the map crops when both show the '>'; else only a step out of a gap (hazard on two opposite
    sides of the agent) toward the stairs counts, the stairs placed on the crop's edge in their direction.
    """
    seen = _stairs_in(step.map_before) and _stairs_in(step.map_after)
    if not seen and not _in_gap(step.map_before):
        return False
    before = _hazard_between(step.map_before, step.objects_before)
    after = _hazard_between(step.map_after, step.objects_after)
    return bool(before) and (after is False or (step.ended and step.toward == "stairs down"))


_STAIRS_SEEN = re.compile(r"^stairs down (?:\(x\d+\) )?(?:adjacent|very near|near|far|very far) (\S+)$")


def _cells(rows: Sequence[str]) -> dict[tuple[int, int], str]:
    """The crop's cells by (x, y): characters are joined by spaces in the rendering."""
    return {(x, y): ch for y, row in enumerate(rows) for x, ch in enumerate(row[::2])}


def _stairs_in(rows: Sequence[str]) -> bool:
    return ">" in _cells(rows).values()


def _in_gap(rows: Sequence[str]) -> bool:
    """The agent stands in the gap of a stream: a hazard ('}') on one side, a hazard or a wall on the other."""
    cells = _cells(rows)
    agent = next((p for p, ch in cells.items() if ch == "@"), None)
    if agent is None:
        return False
    x, y = agent
    pairs = (((0, -1), (0, 1)), ((-1, 0), (1, 0)))
    sides = [(cells.get((x + a, y + b), " "), cells.get((x + c, y + d), " ")) for (a, b), (c, d) in pairs]
    return any("}" in pair and set(pair) <= set("}|-") for pair in sides)


def _hazard_between(rows: Sequence[str], objects: Sequence[str]) -> bool | None:
    """Whether a '}' lies in the rectangle from '@' to the '>' of a map crop (None: no stairs down in sight).

    Stairs outside the crop are placed on its edge, in the direction the objects line gives for them.
    """
    cells = _cells(rows)
    agent = next((p for p, ch in cells.items() if ch == "@"), None)
    stairs = next((p for p, ch in cells.items() if ch == ">"), None)
    if agent is not None and stairs is None:
        heading = next((m.group(1) for o in objects if (m := _STAIRS_SEEN.match(o))), None)
        if heading in COMPASS16:
            angle = math.radians(22.5 * COMPASS16.index(heading))
            dx, dy = math.cos(angle), -math.sin(angle)
            reach = len(rows) // 2 / max(abs(dx), abs(dy))
            stairs = (agent[0] + round(dx * reach), agent[1] + round(dy * reach))
    if agent is None or stairs is None:
        return None
    (x0, x1), (y0, y1) = sorted((agent[0], stairs[0])), sorted((agent[1], stairs[1]))
    return any(ch == "}" and x0 <= x <= x1 and y0 <= y <= y1 for (x, y), ch in cells.items())


Rule = Callable[[Step, frozenset[str]], bool]
_RULES: dict[str, Rule] = {
    "key": _rule_key,
    "door": _rule_door,
    "stairs": _rule_stairs,
    "eat": _rule_eat,
    "wear": _rule_wear,
    "wield": _rule_wield,
    "put_on": _rule_put_on,
    "zap": lambda s, t: _used(s, "zap") or _said(s, "the feeling subsides"),
    "read": lambda s, t: _used(s, "read") or _said(s, "this scroll seems to be blank"),
    "pray": lambda s, t: _said(s, "you begin praying") or (s.ended and _answered(s, "want to pray?")),
    "quaff": lambda s, t: s.ended and _answered(s, "drink from the sink?", "want to drink"),
    "altar": lambda s, t: s.entered == "altar" or (s.moved and _said(s, "there is an altar")),
    "sink": lambda s, t: s.entered == "sink" or (s.moved and _said(s, "there is a sink here")),
    "cross": _rule_cross,
    "pickup": _rule_pickup,
}
_NOT_OBJECTS = frozenset({"agent", "task", "object", "item", "inventory", "game", "map", "floor", "message",
                          "player", "episode", "goal", "same", "next", "first", "last"})


def targets(subgoal: Subgoal) -> frozenset[str]:
    """The objects a subgoal's description names after 'the' ("The agent eats the apple." -> {'apple'})."""
    words = re.findall(r"\bthe ([a-z]+)", subgoal.description.lower())
    return frozenset(w for w in words if w not in _NOT_OBJECTS)


_KIND_WORDS: tuple[tuple[str, Callable[[set[str]], bool]], ...] = (
    ("key", lambda w: "key" in w and bool(w & {"pick", "pickup", "take", "get", "grab", "collect", "obtain",
                                                "acquire", "find", "fetch"})),
    ("door", lambda w: bool(w & {"door", "doors"}) and bool(w & {"open", "unlock", "kick", "opened", "unlocked"})),
    ("cross", lambda w: bool(w & {"cross", "crossed", "crossing"})),
    ("stairs", lambda w: bool(w & {"stairs", "staircase", "stair", "downstairs"})),
    ("eat", lambda w: bool(w & {"eat", "eats", "eaten", "consume"})),
    ("wear", lambda w: bool(w & {"wear", "wears", "worn"}) and "amulet" not in w),
    ("wield", lambda w: bool(w & {"wield", "wields", "wielded"})),
    ("put_on", lambda w: "puton" in w or {"put", "on"} <= w),
    ("zap", lambda w: "zap" in w),
    ("read", lambda w: "read" in w),
    ("altar", lambda w: "altar" in w and bool(w & {"reach", "stand", "go", "walk"})),
    ("pray", lambda w: "pray" in w),
    ("sink", lambda w: "sink" in w and bool(w & {"reach", "stand", "go", "walk"})),
    ("quaff", lambda w: bool(w & {"quaff", "drink"})),
    ("pickup", lambda w: "pickup" in w or {"pick", "up"} <= w or bool(w & {"take", "grab", "collect", "obtain"})),
)


def subgoal_kind(subgoal: Subgoal) -> str | None:
    """The offline rule a subgoal falls under, from the words of its name, else of its description."""
    for text in (subgoal.name, subgoal.description):
        words = set(re.findall(r"[a-z]+", text.lower().replace("_", " ")))
        for kind, test in _KIND_WORDS:
            if test(words):
                return kind
    return None
