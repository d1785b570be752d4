"""Critic stage 1: static rules on reward source code (no execution).

Every rule refuses something that would let reward code reach outside its contract: imports beyond math
and numpy, names and attributes outside the documented API, reflection, dynamic code, I/O, global writes,
state kept across calls outside `memory`. The syntax itself is allow-listed (`syntax.ALLOWED_NODES`): a node type
that is not listed, e.g. one a newer Python adds, is refused. Each issue names the line, what is wrong, and
what to write instead, because the designer reads them.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

from autoreward.reward.contract import (
    ALLOWED_MODULES,
    ENTRY_ARITY,
    ENTRY_POINT,
    FORBIDDEN_NAMES,
    FUTURE_FEATURES,
    MATH_API,
    NUMPY_API,
    SAFE_BUILTIN_NAMES,
    allowed_attributes,
)
from autoreward.reward.syntax import (
    ALLOWED_NODES,
    ANNOTATION_NODES,
    MAX_SOURCE_BYTES,
    MUTATING_METHODS,
    NAMED_BINDERS,
    PART_OF_REFUSED,
    REFUSED_NODES,
    parse_code,
)


@dataclass(frozen=True)
class Issue:
    """One finding: where, what, and the fix."""

    line: int
    message: str
    severity: str = "error"  # or "warning"

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


def check_static(source: str, state_api: frozenset[str] | None = None) -> list[Issue]:
    """All static issues of a reward file, errors and warnings, in line order.

    `state_api`: the names reward code may read on a State, the card's (`Card.state_api`); default NetHack's."""
    if len(source.encode("utf-8", errors="replace")) > MAX_SOURCE_BYTES:
        return [Issue(1, f"the file is over {MAX_SOURCE_BYTES} bytes; a reward function should be short")]
    try:
        tree = parse_code(source)
    except SyntaxError as exc:
        return [Issue(exc.lineno or 1, f"syntax error: {exc.msg}; fix the Python syntax")]
    checker = _Checker(allowed_attributes(state_api))
    checker.check(tree)
    return sorted(checker.issues, key=lambda issue: issue.line)


class _Checker(ast.NodeVisitor):
    def __init__(self, attributes: frozenset[str]) -> None:
        self.attributes = attributes  # every attribute name reward code may read
        self.issues: list[Issue] = []
        self.module_names: set[str] = set()  # names bound at module level (constants, functions, imports)
        self.module_data: set[str] = set()  # module-level names bound by assignments (the constants)
        self.modules: set[str] = set()  # module-level names bound by imports only (math, np and their aliases)
        self.bound: set[str] = set()  # every name bound anywhere (for the undefined-name rule)
        self.aliases: dict[str, str] = {}  # in the current function: local name -> the module-level value it is
        self.line = 1  # line of the innermost located node (for nodes without a position: arguments, ...)

    def error(self, node: ast.AST, message: str) -> None:
        self.issues.append(Issue(getattr(node, "lineno", self.line), message))

    # ----- whole module ----------------------------------------------------------------------------
    def check(self, tree: ast.Module) -> None:
        self._collect_bindings(tree)
        for stmt in tree.body:
            self._check_module_statement(stmt)
        self._check_entry_point(tree)
        self.visit(tree)

    def _collect_bindings(self, tree: ast.Module) -> None:
        for stmt in tree.body:
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                self.module_names.add(stmt.name)
            elif isinstance(stmt, (ast.Import, ast.ImportFrom)):
                self.module_names.update((a.asname or a.name).split(".")[0] for a in stmt.names)
            elif isinstance(stmt, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
                targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
                for target in targets:
                    names = {n.id for n in ast.walk(target) if isinstance(n, ast.Name)}
                    self.module_names |= names
                    self.module_data |= names
        self.bound |= self.module_names
        defined = self.module_data | {s.name for s in tree.body if isinstance(s, (ast.FunctionDef, ast.ClassDef))}
        self.modules = {(a.asname or a.name).split(".")[0] for s in tree.body if isinstance(s, ast.Import)
                        for a in s.names} - defined
        for node in ast.walk(tree):
            if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
                self.bound.add(node.id)
            elif isinstance(node, ast.arg):
                self.bound.add(node.arg)
            elif isinstance(node, NAMED_BINDERS) and node.name:
                self.bound.add(node.name)
            elif isinstance(node, ast.MatchMapping) and node.rest:
                self.bound.add(node.rest)

    def _check_module_statement(self, stmt: ast.stmt) -> None:
        if isinstance(stmt, (ast.Import, ast.ImportFrom, ast.FunctionDef)):
            return
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) and isinstance(stmt.value.value, str):
            return  # docstring
        if isinstance(stmt, (ast.Assign, ast.AnnAssign)) and stmt.value is not None:
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            if all(_binds_names(t) for t in targets) and self._is_constant_expression(stmt.value):
                return
            self.error(stmt, f"module-level assignments must bind a name to a constant; `{_snippet(stmt)}` does "
                             "not: use literal values (numbers, strings, tuples, lists, sets, dicts), earlier "
                             "constants and math/numpy constants (`2 * math.pi`), and compute anything else (calls, "
                             "comprehensions, methods) inside a function")
            return
        if type(stmt) in REFUSED_NODES:
            return  # reported by the node rules
        self.error(stmt, f"`{_snippet(stmt)}` at module level: only imports, constants and function "
                         "definitions are allowed there; move this code into a function, or delete it")

    def _is_constant_expression(self, node: ast.expr) -> bool:
        """Literals, operators, names and `math.pi`-like reads of an imported module: nothing that calls code,
        and no bound method of a module-level value, which would outlive its freezing (`PUT = STORE.setdefault`)."""
        for n in ast.walk(node):
            if isinstance(n, ast.Attribute):
                chain = n
                while isinstance(chain, ast.Attribute):
                    chain = chain.value
                if not (isinstance(chain, ast.Name) and chain.id in self.modules):
                    return False
            elif not isinstance(n, _CONSTANT_NODES):
                return False
        return True

    def _check_entry_point(self, tree: ast.Module) -> None:
        defs = [s for s in tree.body if isinstance(s, ast.FunctionDef) and s.name == ENTRY_POINT]
        if not defs:
            self.issues.append(Issue(1, f"no function `{ENTRY_POINT}(prev, action, state, memory)` at module "
                                        "level; define it"))
            return
        if len(defs) > 1:
            self.error(defs[1], f"`{ENTRY_POINT}` is defined more than once; keep one definition")
        fn = defs[-1]
        args = fn.args
        positional = args.posonlyargs + args.args
        if (len(positional) != ENTRY_ARITY or args.vararg or args.kwarg or args.kwonlyargs
                or args.defaults):
            self.error(fn, f"`{ENTRY_POINT}` must take exactly {ENTRY_ARITY} positional parameters "
                           "(prev, action, state, memory), without defaults, *args or **kwargs")

    # ----- node rules -----------------------------------------------------------------------------
    def visit(self, node: ast.AST) -> None:
        outer = self.line
        self.line = getattr(node, "lineno", outer)
        kind = type(node)
        if kind not in ALLOWED_NODES and kind not in PART_OF_REFUSED:
            self.error(node, REFUSED_NODES.get(kind) or
                       f"`{kind.__name__}` syntax is not allowed in reward code; write plain functions, "
                       "assignments, ifs, loops and expressions")
        super().visit(node)  # refused nodes are looked into as well, so that every issue is reported at once
        self.line = outer

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        if node.decorator_list:
            self.error(node, f"decorators are not allowed (on `{node.name}`); call helpers explicitly")
        if node.name.startswith("__"):
            self.error(node, f"function names must not start with '__' (`{node.name}`)")
        if node.returns is not None:
            self._check_annotation(node.returns)
        outer, self.aliases = self.aliases, _module_aliases(node, self.module_data)
        self.generic_visit(node)
        self.aliases = outer

    def visit_arguments(self, node: ast.arguments) -> None:
        for default in [*node.defaults, *(d for d in node.kw_defaults if d is not None)]:
            if not _is_immutable_constant(default):
                self.error(default, f"parameter default `{_snippet(default)}` is not a constant: a default is "
                                    "created once and shared by every call; use a number, string, None or a "
                                    "tuple of them, and keep counters in `memory`")
        self.generic_visit(node)

    def visit_arg(self, node: ast.arg) -> None:
        self._check_binder(node, node.arg)
        if node.annotation is not None:
            self._check_annotation(node.annotation)
        self.generic_visit(node)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        self._check_annotation(node.annotation)
        self.generic_visit(node)

    def _check_annotation(self, node: ast.expr) -> None:
        if not all(isinstance(n, ANNOTATION_NODES) and (not isinstance(n, ast.BinOp) or isinstance(n.op, ast.BitOr))
                   for n in ast.walk(node)):
            self.error(node, f"annotation `{_snippet(node)}` must only name types (e.g. `x: float`, "
                             "`-> tuple[float, dict]`): annotations run when the function is defined")

    def _check_binder(self, node: ast.AST, name: str | None) -> None:
        """Names bound without an ast.Name node (parameters, `as` names, match captures)."""
        if not name:
            return
        if name in FORBIDDEN_NAMES:
            self.error(node, f"`{name}` is not allowed as a name: {FORBIDDEN_NAMES[name]}")
        elif name.startswith("__"):
            self.error(node, f"dunder name `{name}` is not allowed: reward code must not reach interpreter internals")

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> None:
        self._check_binder(node, node.name)
        self.generic_visit(node)

    def visit_MatchAs(self, node: ast.MatchAs | ast.MatchStar) -> None:
        self._check_binder(node, node.name)
        self.generic_visit(node)

    visit_MatchStar = visit_MatchAs

    def visit_MatchMapping(self, node: ast.MatchMapping) -> None:
        self._check_binder(node, node.rest)
        self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if alias.name not in ALLOWED_MODULES:
                self.error(node, f"`import {alias.name}{' as ' + alias.asname if alias.asname else ''}` is not "
                                 "allowed: import only `math` and `numpy as np`")
            self._check_binder(node, alias.asname)
        self._top_level_only(node)
        self.generic_visit(node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        api = {"math": MATH_API, "numpy": NUMPY_API, "__future__": FUTURE_FEATURES}.get(node.module or "")
        if api is None or node.level:
            self.error(node, f"`from {'.' * node.level}{node.module or ''} import ...` is not allowed: import only "
                             "`math` and `numpy as np`")
        else:
            for alias in node.names:
                if alias.name not in api:
                    self.error(node, f"`{alias.name}` is not in the allowed {node.module} API")
                self._check_binder(node, alias.asname)
        self._top_level_only(node)
        self.generic_visit(node)

    def _top_level_only(self, node: ast.stmt) -> None:
        if node.col_offset:
            self.error(node, "imports belong at the top of the file, not inside functions")

    def visit_Name(self, node: ast.Name) -> None:
        name = node.id
        if name in FORBIDDEN_NAMES:
            self.error(node, f"`{name}` is not allowed: {FORBIDDEN_NAMES[name]}")
        elif name.startswith("__"):
            self.error(node, f"dunder name `{name}` is not allowed: reward code must not reach interpreter internals")
        elif isinstance(node.ctx, ast.Load) and name not in self.bound and name not in SAFE_BUILTIN_NAMES:
            self.error(node, f"name `{name}` is not defined and not an allowed builtin "
                             f"(allowed: {', '.join(sorted(SAFE_BUILTIN_NAMES - {'True', 'False', 'None'}))})")
        self.generic_visit(node)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        attr = node.attr
        if attr.startswith("_"):
            kind = "dunder" if attr.startswith("__") else "private"
            self.error(node, f"{kind} attribute `.{attr}` is not allowed: use only the documented State API, "
                             "math and numpy")
        elif attr in ("format", "format_map"):
            self.error(node, "str.format is not allowed (format fields can read attributes); use f-strings")
        elif attr not in self.attributes:
            where = ("one of the numpy and math names the contract lists" if _root_name(node.value) in self.modules
                     else "the State API or a plain dict/list/str/array method")
            self.error(node, f"attribute `.{attr}` is not part of the documented API: use {where} (the task's "
                             "description lists them)")
        if isinstance(node.ctx, (ast.Store, ast.Del)):
            self.error(node, f"assigning to `.{attr}` is not allowed: State is read-only; keep values in `memory`")
        self.generic_visit(node)

    def visit_Subscript(self, node: ast.Subscript) -> None:
        if isinstance(node.ctx, (ast.Store, ast.Del)):
            root = _root_name(node.value)
            if root in self.module_names:
                self.error(node, f"changing module-level `{root}` is a global write; keep per-episode values in "
                                 "`memory`")
            elif root in self.aliases:
                write = f"del {_snippet(node)}" if isinstance(node.ctx, ast.Del) else f"{_snippet(node)} = ..."
                self.error(node, self._alias_message(root, f"`{write}`"))
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr in MUTATING_METHODS:
            root = _root_name(func.value)
            if root in self.module_data:
                self.error(node, f"`{root}.{func.attr}(...)` changes a module-level value (a global write); "
                                 "keep per-episode values in `memory`")
            elif root in self.aliases:
                self.error(node, self._alias_message(root, f"`{root}.{func.attr}(...)`"))
        self.generic_visit(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        root = _root_name(node.target)
        if root in self.module_names and not isinstance(node.target, ast.Name):
            self.error(node, f"changing module-level `{root}` is a global write; keep values in `memory`")
        self.generic_visit(node)  # a write through an alias is reported by the Subscript rule

    def _alias_message(self, name: str, what: str) -> str:
        source = self.aliases[name]
        return (f"{what} changes module-level `{source}` (`{name}` is the same object): copy it first "
                f"(`dict(...)`, `list(...)`) or keep per-episode values in `memory`")

    def visit_Try(self, node: ast.Try) -> None:
        for handler in node.handlers:
            if handler.type is None:
                self.error(handler, "bare `except:` is not allowed; catch specific exceptions such as KeyError")
            elif any(isinstance(n, ast.Name) and n.id in ("BaseException", "SystemExit", "KeyboardInterrupt")
                     for n in ast.walk(handler.type)):
                self.error(handler, "catching BaseException is not allowed; catch specific exceptions")
        if node.finalbody:  # it runs after the time budget's interrupt, and a return/break/continue there eats it
            self.error(node.finalbody[0], "`try ... finally` is not allowed: reward code has nothing to clean up, "
                                          "and a finally block runs on past the time budget; use `try ... except "
                                          "SomeError:` and put the final code after the try statement")
        self.generic_visit(node)

    visit_TryStar = visit_Try


def _module_aliases(fn: ast.FunctionDef, module_data: set[str]) -> dict[str, str]:
    """Local names of `fn` whose every assignment is a module-level value itself (`d = TABLE`, `row = T["a"]`).

    Only plain names and index/attribute chains alias; a call (`dict(TABLE)`) makes a copy. A name assigned
    anything else anywhere in the function is left to the runtime freeze, to refuse no correct code.
    """
    sources: dict[str, set[str | None]] = {}
    for node in ast.walk(fn):
        if isinstance(node, ast.Assign):
            value = node.value
            chain = isinstance(value, (ast.Name, ast.Subscript, ast.Attribute))
            root = _root_name(value) if chain else None
            for target in node.targets:
                for name in _stored_names(target):
                    sources.setdefault(name, set()).add(root if isinstance(target, ast.Name) else None)
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign, ast.For, ast.comprehension, ast.NamedExpr)):
            for name in _stored_names(node.target):
                sources.setdefault(name, set()).add(None)
        elif isinstance(node, ast.arg):
            sources.setdefault(node.arg, set()).add(None)
    aliases = {}
    for name, roots in sources.items():
        (root, *others) = roots
        if not others and root in module_data and name not in module_data:
            aliases[name] = root
    return aliases


def _stored_names(target: ast.AST) -> list[str]:
    return [n.id for n in ast.walk(target) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)]


#: What a module-level constant is made of, besides module attributes; the node rules check its names as elsewhere.
_CONSTANT_NODES = (ast.Constant, ast.Tuple, ast.List, ast.Set, ast.Dict, ast.UnaryOp, ast.BinOp, ast.unaryop,
                   ast.operator, ast.Load, ast.Name, ast.Subscript, ast.Slice, ast.Starred)


def _binds_names(target: ast.expr) -> bool:
    """An assignment target made of plain names: `A`, `A, B`, `(A, *REST)`."""
    if isinstance(target, (ast.Tuple, ast.List)):
        return all(_binds_names(e) for e in target.elts)
    if isinstance(target, ast.Starred):
        return _binds_names(target.value)
    return isinstance(target, ast.Name)


def _is_immutable_constant(node: ast.AST) -> bool:
    """A parameter default that no call can change: a literal number/string/bytes/None/bool, -number, tuple of them."""
    if isinstance(node, ast.Constant):
        return True  # parsed constants are immutable (numbers, str, bytes, bool, None, Ellipsis)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        return isinstance(node.operand, ast.Constant) and type(node.operand.value) in (int, float, complex)
    if isinstance(node, ast.Tuple):
        return all(_is_immutable_constant(e) for e in node.elts)
    return False


def _root_name(node: ast.AST) -> str | None:
    while isinstance(node, (ast.Attribute, ast.Subscript)):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def _snippet(node: ast.AST) -> str:
    text = ast.unparse(node).splitlines()[0]
    return text if len(text) <= 60 else text[:57] + "..."
