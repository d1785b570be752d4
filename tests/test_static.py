"""Critic stage 1: the static rules refuse every hostile file of the corpus, with line and fix; accept benign ones."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from autoreward.errors import RewardCodeError
from autoreward.reward.contract import load_reward
from autoreward.reward.static import check_static

CORPUS = Path(__file__).parent / "rewards"


def expectation(path: Path) -> tuple[str, str]:
    """(stage, expected message regex) from the file's first line: `# expect: STAGE: MESSAGE`."""
    match = re.match(r"# expect: (\w+)(?:[:,] ?(.*))?", path.read_text().splitlines()[0])
    assert match, f"{path.name} has no expectation line"
    return match.group(1), (match.group(2) or "").strip()


HOSTILE_STATIC = [p for p in sorted((CORPUS / "hostile").glob("*.py")) if expectation(p)[0] == "static"]
BENIGN = sorted((CORPUS / "benign").glob("*.py"))
EXAMPLES = sorted((Path(__file__).parent.parent / "examples").glob("*.py"))


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
