"""No state across reward calls except `memory`: load_reward freezes the module-level data of reward code."""

from __future__ import annotations

import math
import types

import numpy as np
import pytest

from autoreward.env.registry import card_for
from autoreward.reward.loader import freeze_value, load_reward, safe_builtins
from autoreward.synth.offline.compose import compose
from autoreward.synth.offline.recipe import default_weights, recipe_for
from tests.common import CORPUS

KEYROOM = "MiniHack-KeyRoom-S5-v0"

TABLES = '''import math

import numpy as np

TABLE = {"a": 1.0, "b": 2.0}
LIST = [1, 2, 3]
SET = {"x", "y"}
NESTED = {"rows": [[1, 2], [3]], "tags": {"k": ["v"]}, "pair": ([0], {1})}


def helper(x, scale=2.0, *, offset=(1, -2)):
    return scale * x + offset[0]


def compute_reward(prev, action, state, memory):
    value = helper(1.0)
    return value, {"value": value}
'''


@pytest.fixture
def module():
    """The globals of a loaded reward with module-level tables (what its functions see)."""
    return load_reward(TABLES).__globals__


def test_module_containers_become_immutable(module):
    assert type(module["TABLE"]) is types.MappingProxyType
    assert module["LIST"] == (1, 2, 3)
    assert module["SET"] == frozenset({"x", "y"})
    nested = module["NESTED"]
    assert nested["rows"] == ((1, 2), (3,))
    assert type(nested["tags"]) is types.MappingProxyType and nested["tags"]["k"] == ("v",)
    assert nested["pair"] == ((0,), frozenset({1}))


def test_writes_through_aliases_raise(module):
    table, items, tags = module["TABLE"], module["LIST"], module["NESTED"]["tags"]
    with pytest.raises(TypeError):
        table["k"] = 1.0
    with pytest.raises(TypeError):
        del table["a"]
    with pytest.raises(AttributeError):
        table.update({"a": 5.0})
    with pytest.raises(AttributeError):
        items.append(4)
    with pytest.raises(AttributeError):
        module["SET"].add("z")
    with pytest.raises(TypeError):
        tags["k"] = ()
    with pytest.raises(AttributeError):
        module["NESTED"]["rows"][0].append(9)
    assert dict(module["TABLE"]) == {"a": 1.0, "b": 2.0}


def test_functions_modules_and_scalars_are_left_alone(module):
    assert module["math"] is math and module["np"] is np
    assert isinstance(module["helper"], types.FunctionType)
    assert module["helper"](3.0) == 7.0 and module["helper"](1.0, 1.0, offset=(0,)) == 1.0
    assert module["compute_reward"](None, 0, None, {}) == (3.0, {"value": 3.0})
    assert module["__builtins__"].keys() == safe_builtins().keys()


def test_reads_keep_working():
    source = '''TABLE = {"a": 1.0, "b": 2.0}
LIST = [1, 2, 3]
SET = {"x", "y"}


def compute_reward(prev, action, state, memory):
    copy = dict(TABLE)
    copy["c"] = 3.0  # a copy is a plain dict
    more = list(LIST)
    more.append(4)
    also = TABLE.copy()
    also["d"] = 4.0
    reads = [TABLE["a"], TABLE.get("z", 0.5), sum(v for _, v in TABLE.items()), len(TABLE), float("a" in TABLE),
             float(sum(LIST + (4,))), float(len(more)), float(len(copy)), float(len({**TABLE, "e": 0.0})),
             float(len(also)), float("x" in SET), float(len(SET | {"z"})), float(LIST[-1]),
             float(sorted(TABLE)[0] == "a")]
    total = sum(reads)
    return total, {"reads": total}
'''
    total, _ = load_reward(source)(None, 0, None, {})
    assert total == 1.0 + 0.5 + 3.0 + 2 + 1 + 10 + 4 + 3 + 3 + 3 + 1 + 3 + 3 + 1


def test_memory_is_not_frozen():
    source = '''START = [0]


def compute_reward(prev, action, state, memory):
    counts = memory.setdefault("counts", list(START))
    counts.append(action)
    value = float(len(counts))
    return value, {"n": value}
'''
    fn, memory = load_reward(source), {}
    assert [fn(None, 1, None, memory)[0] for _ in range(3)] == [2.0, 3.0, 4.0]
    assert fn(None, 1, None, {})[0] == 2.0  # a new episode starts from the unchanged START


@pytest.mark.parametrize(("name", "error"), [("module_dict_via_helper", TypeError),
                                             ("module_list_via_helper", AttributeError)])
def test_reward_that_changes_a_module_table_through_an_alias_fails(name, error):
    fn = load_reward((CORPUS / "hostile" / f"{name}.py").read_text(), f"{name}.py")  # passes the static rules
    with pytest.raises(error):
        fn(None, 0, types.SimpleNamespace(pos=(1, 1)), {})
    table = fn.__globals__.get("TABLE", fn.__globals__.get("SEEN"))
    assert table in ({"calls": 0}, ())  # unchanged


def test_freeze_value_is_recursive_and_keeps_equal_reads():
    frozen = freeze_value({"a": [1, {"b": {2}}], "c": (3, [4]), "d": bytearray(b"x"), "e": np.zeros(2)})
    assert frozen["a"][0] == 1 and frozen["a"][1]["b"] == frozenset({2}) and frozen["c"] == (3, (4,))
    assert frozen["d"] == b"x"
    with pytest.raises(ValueError, match="read-only"):
        frozen["e"][0] = 1.0
    with pytest.raises(TypeError):
        frozen["a"][1]["b"] = 1


def test_offline_designer_code_works_frozen(keyroom_episodes):
    """The designer's WEIGHTS dict and PHASES rows are frozen, and the reward computes what it did unfrozen."""
    recipe = recipe_for(KEYROOM, card_for(KEYROOM).task(KEYROOM).goal)
    code = compose(recipe, default_weights(recipe))
    frozen = load_reward(code)
    assert type(frozen.__globals__["WEIGHTS"]) is types.MappingProxyType
    plain: dict = {"__builtins__": safe_builtins(), "__name__": "plain"}
    exec(compile(code, "reward.py", "exec"), plain)  # the same code, not frozen
    assert type(plain["WEIGHTS"]) is dict
    for states, actions in keyroom_episodes[:3]:
        memory_frozen: dict = {}
        memory_plain: dict = {}
        for t, action in enumerate(actions):
            args = (states[t], action, states[t + 1])
            assert frozen(*args, memory_frozen) == plain["compute_reward"](*args, memory_plain)
