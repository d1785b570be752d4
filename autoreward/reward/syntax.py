"""The Python syntax reward code may use: every allowed AST node type with why it is safe, and what the
static rules say about the refused ones (autoreward.reward.static applies them)."""

from __future__ import annotations

import ast

MAX_SOURCE_BYTES = 64_000
#: How deep a reward file's syntax tree may nest (a real one stays under ~30): deeper trees overflow the
#: recursive walks over them (the static rules, compile) with a RecursionError instead of a verdict.
MAX_DEPTH = 200

MUTATING_METHODS = frozenset({"append", "extend", "insert", "remove", "clear", "pop", "popitem", "update",
                               "setdefault", "add", "discard", "sort", "reverse"})


def node_types(names: str, reason: str) -> dict[type[ast.AST], str]:
    """{node type: reason} for those of `names` that the running Python has (the grammar grows per version)."""
    types = (getattr(ast, name, None) for name in names.split())
    return {t: reason for t in types if isinstance(t, type) and issubclass(t, ast.AST)}


#: Every AST node type reward code may contain, with why it is safe. The list is total: a node type that is
#: not here (including any that a newer Python adds) is refused, with `REFUSED_NODES`' message when it has one.
ALLOWED_NODES: dict[type[ast.AST], str] = {
    **node_types("Module", "the file itself"),
    # statements
    **node_types("FunctionDef", "helpers and compute_reward; decorators, mutable defaults and type parameters "
                                 "are refused by their own rules"),
    **node_types("Return Pass Break Continue If For While Expr Assert",
                  "plain control flow inside functions (module level admits only imports, constants, functions)"),
    **node_types("Assign AugAssign AnnAssign Delete",
                  "binds or removes local names, memory entries; writes to module-level values and attributes "
                  "are refused by the write rules"),
    **node_types("Raise", "raising only fails the call, which the probe reports"),
    **node_types("Try ExceptHandler", "catching specific exceptions (bare and BaseException handlers and `finally` "
                                      "blocks, which outlive the time budget's interrupt, are refused)"),
    **node_types("Import ImportFrom alias", "imports are checked against the module and API allow-lists"),
    **node_types("Match match_case", "matching values by literal, sequence and mapping patterns (class patterns "
                                      "are refused)"),
    # patterns: none of these reads an attribute by name (mapping patterns call `.get`, which is allowed)
    **node_types("MatchValue", "compares with a value expression, which the attribute rules see"),
    **node_types("MatchSingleton", "compares with None/True/False"),
    **node_types("MatchSequence MatchStar", "unpacks a sequence into names"),
    **node_types("MatchMapping", "looks up literal keys of a mapping; `**rest` binds a new dict"),
    **node_types("MatchAs MatchOr", "binds a name / tries alternatives"),
    # expressions
    **node_types("BoolOp BinOp UnaryOp Compare IfExp", "arithmetic and logic on values"),
    **node_types("NamedExpr", "the walrus binds a local name (at module level it is refused as code)"),
    **node_types("Lambda", "a small local function; its defaults must be constants"),
    **node_types("Dict Set List Tuple Constant", "literal values"),
    **node_types("ListComp SetComp DictComp GeneratorExp comprehension",
                  "comprehensions; generator internals (.gi_frame...) are refused by the attribute rules"),
    **node_types("Call keyword", "calls of allowed names and attributes; keyword names and `**mapping` pass "
                                  "values, they read no attribute"),
    **node_types("JoinedStr FormattedValue", "f-strings: format specs and !r/!s/!a conversions format values and "
                                              "read no attribute (str.format, which can, is refused)"),
    **node_types("Attribute", "checked against the documented API"),
    **node_types("Subscript Slice Starred", "indexing, slicing and unpacking values"),
    **node_types("Name", "checked against the bound names and safe builtins"),
    **node_types("arguments arg", "parameters; defaults must be constants"),
    # contexts and operators
    **node_types("Load Store Del", "expression context"),
    **node_types("And Or", "operator"),
    **node_types("Add Sub Mult MatMult Div Mod Pow LShift RShift BitOr BitXor BitAnd FloorDiv", "operator"),
    **node_types("Invert Not UAdd USub", "operator"),
    **node_types("Eq NotEq Lt LtE Gt GtE Is IsNot In NotIn", "operator"),
}

#: Messages for refused node types that reward code is likely to contain: what to write instead.
REFUSED_NODES: dict[type[ast.AST], str] = {
    **node_types("ClassDef", "class definitions are not allowed; use functions and dicts"),
    **node_types("AsyncFunctionDef Await AsyncFor AsyncWith",
                  "async code is not allowed (async def, await, async for/with); write plain functions"),
    **node_types("With", "with-statements are not allowed: reward code opens no files or resources"),
    **node_types("Global", "global statements are not allowed; keep per-episode values in `memory`"),
    **node_types("Nonlocal", "nonlocal statements are not allowed; keep per-episode values in `memory`"),
    **node_types("Yield YieldFrom", "generator functions are not allowed; return a value"),
    **node_types("TryStar", "`except*` is not allowed; use a plain `except SomeError:`"),
    **node_types("TypeAlias", "`type X = ...` statements are not allowed; bind a constant or write a function"),
    **node_types("TypeVar ParamSpec TypeVarTuple",
                  "type parameters (`def f[T](...)`) are not allowed; drop the `[...]`"),
    **node_types("MatchClass", "class patterns (`case T(...)`) are not allowed: they read attributes by name; "
                                "test `isinstance(x, T)` and read the documented attributes (e.g. `state.pos`)"),
}

#: Node types that occur only inside a refused node, which is reported instead.
PART_OF_REFUSED: frozenset[type[ast.AST]] = frozenset(node_types("withitem", "").keys())

# Annotations run when their function is defined (at load time): they may only name types.
ANNOTATION_NODES = (ast.Name, ast.Attribute, ast.Subscript, ast.Constant, ast.Tuple, ast.List, ast.BinOp,
                     ast.BitOr, ast.Load)

NAMED_BINDERS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.ExceptHandler, ast.MatchAs, ast.MatchStar,
                  *node_types("TypeVar ParamSpec TypeVarTuple", ""))


def parse_code(source: str, max_depth: int | None = MAX_DEPTH) -> ast.Module:
    """`ast.parse`, with every failure on hostile code raised as SyntaxError: nesting past `max_depth` (None: no
    limit but the parser's own, for callers that only look at the top level) or past the parser's recursion limit,
    memory exhaustion, null bytes."""
    try:
        tree = ast.parse(source.removeprefix("\ufeff"))  # a byte order mark: Python itself skips it in files
    except (RecursionError, MemoryError) as exc:
        raise SyntaxError("the code nests too deeply to parse") from exc
    except ValueError as exc:  # null bytes (Python 3.11; later versions raise SyntaxError)
        raise SyntaxError(str(exc)) from exc
    stack = [(tree, 1)] if max_depth is not None else []
    while stack:  # iterative: the depth check must not recurse itself
        node, level = stack.pop()
        if level > max_depth:
            raise SyntaxError(f"the code nests too deeply (more than {max_depth} levels of syntax), e.g. a very long "
                              "chain of operators: split it into steps", ("<reward>", getattr(node, "lineno", 1),
                                                                        1, None))
        stack.extend((child, level + 1) for child in ast.iter_child_nodes(node))
    return tree
