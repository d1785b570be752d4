"""Critic stage 1: the static rules refuse every hostile file of the corpus, with line and fix; accept benign ones."""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import pytest

from autoreward.errors import RewardCodeError
from autoreward.reward.loader import load_reward
from autoreward.reward.static import check_static
from tests.common import CORPUS, ROOT


def expectation(path: Path) -> tuple[str, str]:
    """(stage, expected message regex) from the file's first line: `# expect: STAGE: MESSAGE`."""
    match = re.match(r"# expect: (\w+)(?:[:,] ?(.*))?", path.read_text().splitlines()[0])
    assert match, f"{path.name} has no expectation line"
    return match.group(1), (match.group(2) or "").strip()


HOSTILE_STATIC = [p for p in sorted((CORPUS / "hostile").glob("*.py")) if expectation(p)[0] == "static"]
BENIGN = sorted((CORPUS / "benign").glob("*.py"))
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))


@pytest.mark.parametrize("path", HOSTILE_STATIC, ids=lambda p: p.stem)
def test_static_rules_refuse_hostile_code(path):
    _, message = expectation(path)
    errors = [i for i in check_static(path.read_text()) if i.severity == "error"]
    assert errors, f"{path.name} was not refused"
    assert any(message in str(e) for e in errors), [str(e) for e in errors]
    assert all(str(e).startswith("line ") for e in errors)
    with pytest.raises(RewardCodeError):
        load_reward(path.read_text(), path.name)


@pytest.mark.parametrize("path", BENIGN + EXAMPLES, ids=lambda p: p.stem)
def test_static_rules_accept_benign_code(path):
    assert [str(i) for i in check_static(path.read_text()) if i.severity == "error"] == []
    assert callable(load_reward(path.read_text(), path.name))


def test_error_names_the_line():
    source = "import math\n\n\ndef compute_reward(prev, action, state, memory):\n    return eval('1'), {}\n"
    (issue,) = [i for i in check_static(source) if "eval" in i.message]
    assert issue.line == 5
    assert "arbitrary code" in issue.message


def test_oversized_source_is_refused():
    source = "X = 1\n" * 20_000 + "def compute_reward(prev, action, state, memory):\n    return 0.0, {}\n"
    assert "over" in str(check_static(source)[0])


def test_loaded_code_has_no_dangerous_builtins():
    fn = load_reward("def compute_reward(prev, action, state, memory):\n    return 0.0, {}\n")
    builtins = fn.__globals__["__builtins__"]
    for name in ("open", "eval", "exec", "getattr", "__build_class__", "print", "input"):
        assert name not in builtins
    with pytest.raises(ImportError):
        builtins["__import__"]("os")
    assert builtins["__import__"]("math").sqrt(4) == 2


# ----- the node allow-list -----------------------------------------------------------------------------------------
_ABSTRACT = {"AST", "mod", "stmt", "expr", "expr_context", "boolop", "operator", "unaryop", "cmpop", "excepthandler",
             "pattern", "type_ignore", "type_param", "slice"}
_DEPRECATED = {"Num", "Str", "Bytes", "NameConstant", "Ellipsis", "Index", "ExtSlice", "Suite", "AugLoad", "AugStore",
               "Param"}  # aliases that ast.parse never produces
_NEVER_PARSED = {"Interactive", "Expression", "FunctionType", "TypeIgnore"}  # other parse modes, type comments


def test_every_node_type_of_this_python_is_decided():
    """A node type a new Python adds is refused by default; this test asks for a decision (and a message)."""
    from autoreward.reward.syntax import ALLOWED_NODES, PART_OF_REFUSED, REFUSED_NODES

    concrete = {name: cls for name, cls in vars(ast).items() if isinstance(cls, type) and issubclass(cls, ast.AST)
                and not name.startswith("_") and name not in _ABSTRACT | _DEPRECATED | _NEVER_PARSED}
    undecided = {name for name, cls in concrete.items()
                 if cls not in ALLOWED_NODES and cls not in REFUSED_NODES and cls not in PART_OF_REFUSED}
    assert undecided <= {"TemplateStr", "Interpolation"}, undecided  # 3.14 t-strings: refused by default
    assert not set(ALLOWED_NODES) & set(REFUSED_NODES)
    assert all(reason.strip() for reason in ALLOWED_NODES.values())
    for name in ("ClassDef", "With", "Global", "Yield", "Await", "TryStar", "MatchClass", "AsyncFunctionDef"):
        assert getattr(ast, name) not in ALLOWED_NODES


HEAD = "def compute_reward(prev, action, state, memory):\n"
REFUSED = [
    ("async def helper():\n    return 1\n" + HEAD + "    return 0.0, {}\n", "async code is not allowed"),
    (HEAD + "    match action:\n        case int():\n            pass\n    return 0.0, {}\n", "class patterns"),
    (HEAD + "    match state:\n        case object(pos=p):\n            pass\n    return 0.0, {}\n", "class patterns"),
    (HEAD + "    f = lambda x, acc={}: acc\n    return 0.0, {}\n", "parameter default `{}` is not a constant"),
    ("def h(*, seen=set()):\n    return seen\n" + HEAD + "    return 0.0, {}\n", "parameter default `set()`"),
    ("def h(x=(1, [])):\n    return x\n" + HEAD + "    return 0.0, {}\n", "parameter default `(1, [])`"),
    ("def h(x) -> print('loaded'):\n    return x\n" + HEAD + "    return 0.0, {}\n", "must only name types"),
    ("TABLE = {'a': 1}\n" + HEAD + "    row = TABLE\n    del row['a']\n    return 0.0, {}\n",
     "`del row['a']` changes module-level `TABLE`"),
    ("ROWS = [[1]]\n" + HEAD + "    row = ROWS[0]\n    row.extend([2])\n    return 0.0, {}\n",
     "`row.extend(...)` changes module-level `ROWS`"),
    (HEAD + "    try:\n        pass\n    except KeyError as __e:\n        pass\n    return 0.0, {}\n",
     "dunder name `__e`"),
    (HEAD + "    match action:\n        case [*__x]:\n            pass\n    return 0.0, {}\n", "dunder name `__x`"),
]
if sys.version_info >= (3, 12):
    REFUSED += [("type Vector = list[float]\n" + HEAD + "    return 0.0, {}\n", "`type X = ...` statements"),
                ("def h[T](x: T) -> T:\n    return x\n" + HEAD + "    return 0.0, {}\n", "type parameters")]


@pytest.mark.parametrize(("source", "message"), REFUSED)
def test_refused_constructs(source, message):
    errors = [str(i) for i in check_static(source) if i.severity == "error"]
    assert any(message in e for e in errors), errors
    assert all(re.match(r"line [1-9]", e) for e in errors)


ACCEPTED = [
    # numpy's pure `sort` is not a write to the imported module
    "import numpy as np\n" + HEAD + "    a = np.sort(np.asarray([2.0, 1.0]))\n"
    "    return float(a[0]), {'a': float(a[0])}\n",
    # a name that aliases a module table in one branch and a fresh dict in another is left to the runtime freeze
    "TABLE = {'a': 1.0}\n" + HEAD + "    d = TABLE\n    if action:\n        d = dict(TABLE)\n        d['a'] = 2.0\n"
    "    return d['a'], {'a': d['a']}\n",
    "def h(x: float, *, k: int | None = None, names: tuple[str, ...] = ('a',), s=-1.5) -> dict[str, float]:\n"
    "    return {'x': x}\n" + HEAD + "    return 0.0, h(0.0)\n",
    HEAD + "    match memory:\n        case {'a': 1, **rest}:\n            return float(len(rest)), {}\n"
    "    return 0.0, {}\n",
]


@pytest.mark.parametrize("source", ACCEPTED)
def test_accepted_constructs(source):
    assert [str(i) for i in check_static(source) if i.severity == "error"] == []
    assert callable(load_reward(source))


def test_code_the_parser_cannot_hold_is_refused_with_a_message():
    assert "null bytes" in check_static("x = 1\0\n")[0].message  # a ValueError from ast.parse on Python 3.11
    deep = "def compute_reward(prev, action, state, memory):\n    return " + "-" * 250 + "1.0, {}\n"
    assert "nests too deeply" in check_static(deep)[0].message  # 250 unary minus signs: 250 levels
    fine = "def compute_reward(prev, action, state, memory):\n    return " + "-" * 100 + "1.0, {}\n"
    assert not [issue for issue in check_static(fine) if issue.severity == "error"]


def test_crlf_line_ends_and_a_byte_order_mark_are_accepted():
    """Files saved on Windows: read as bytes (no newline translation), the BOM kept, as an editor may leave it."""
    source = (CORPUS / "benign" / "bom_crlf_tabs.py").read_bytes().decode("utf-8")
    assert source.startswith("\ufeff") and "\r\n" in source and "\t" in source
    assert [str(i) for i in check_static(source) if i.severity == "error"] == []
    assert load_reward(source)(None, 0, type("S", (), {"distance_to": lambda self, what: 4})(), {}) == (
        -0.02, {"approach": -0.02})


MODULE_CONSTANT_MESSAGE = [
    ("import math\n\nTABLE = [math.sqrt(i) for i in range(3)]\n", "`TABLE = [math.sqrt(i) for i in range(3)]`"),
    ("STORE = {}\nPUT = STORE.setdefault\n", "`PUT = STORE.setdefault`"),
]


@pytest.mark.parametrize(("head", "snippet"), MODULE_CONSTANT_MESSAGE)
def test_a_refused_module_constant_is_named_with_the_fix(head, snippet):
    errors = [str(i) for i in check_static(head + HEAD + "    return 0.0, {}\n") if i.severity == "error"]
    assert any(snippet in e and "inside a function" in e for e in errors), errors


@pytest.mark.parametrize(("source", "fix"), [
    ("import numpy as n\n" + HEAD + "    return float(n.allclose(state.chars, 0)), {}\n",
     "use one of the numpy and math names the contract lists"),
    (HEAD + "    return float(state.hit_points), {}\n", "use the State API or a plain dict/list/str/array method"),
    (HEAD + "    return 0.0, {}\n\n\nif __name__ == '__main__':\n    pass\n",
     "move this code into a function, or delete"),
])
def test_refusals_say_what_to_write_instead(source, fix):
    assert any(fix in str(i) for i in check_static(source)), [str(i) for i in check_static(source)]
