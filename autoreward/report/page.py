"""The HTML of a report: escaping, tables, highlighted code and the page around them, all inline (no network).

Everything a run wrote (LLM answers, reward code, analyses, component names) is untrusted text: it reaches the
page only through `esc` or Pygments (which escapes what it highlights). Markup built here is an `Html`.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from typing import Any

from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import DiffLexer, MarkdownLexer, PythonLexer

#: The Pygments colour scheme of code blocks (its CSS is written once, into the page).
STYLE = "friendly"
CSS = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 0 auto; max-width: 1100px; padding: 1em 2em; color: #222; }
h1 { font-size: 1.6em; margin-bottom: .2em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: .2em; }
table { border-collapse: collapse; margin: .5em 0; } td, th { border: 1px solid #ddd; padding: .25em .6em; }
th { background: #f3f3f3; text-align: left; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
dl.facts { display: grid; grid-template-columns: max-content auto; gap: .15em 1em; }
dl.facts dt { font-weight: 600; } dl.facts dd { margin: 0; }
pre, .highlight pre { background: #f8f8f8; border: 1px solid #e4e4e4; padding: .6em; overflow-x: auto;
  font: 12px/1.35 ui-monospace, monospace; white-space: pre; }
pre.text { white-space: pre-wrap; } img.plot { max-width: 100%; display: block; margin: .5em 0; }
.status { font-weight: 600; padding: .05em .4em; border-radius: 3px; background: #eee; }
.evaluated, .finished { background: #d9f2dc; }
.rejected, .failed, .interrupted, .budget, .stopped { background: #f8d7d7; }
.running, .accepted, .new { background: #fff2c6; } .muted { color: #777; }
details > summary { cursor: pointer; margin: .3em 0; }
"""


class Html(str):
    """Markup made here (already escaped): `esc` passes it through unchanged."""


def esc(value: Any) -> Html:
    """`value` as text on the page: HTML-escaped (quotes too), None as an empty string."""
    if isinstance(value, Html):
        return value
    return Html(html.escape("" if value is None else str(value), quote=True))


def join(parts: Iterable[Any]) -> Html:
    return Html("".join(esc(p) for p in parts))


def tag(name: str, body: Any = "", **attrs: Any) -> Html:
    """<name attrs>body</name>; attribute values are escaped, `cls` is written as class."""
    written = "".join(f' {"class" if k == "cls" else k}="{esc(v)}"' for k, v in attrs.items() if v is not None)
    return Html(f"<{name}{written}>{esc(body)}</{name}>")


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]], numeric: frozenset[int] = frozenset()) -> Html:
    """A table; cells are escaped unless they are Html, and columns in `numeric` align right."""
    head = tag("tr", join(tag("th", h) for h in headers))
    body = join(tag("tr", join(tag("td", cell, cls="num" if i in numeric else None) for i, cell in enumerate(row)))
                for row in rows)
    return tag("table", join([tag("thead", head), tag("tbody", body)]))


def facts(items: Iterable[tuple[str, Any]]) -> Html:
    """A definition list of (label, value) pairs; pairs whose value is None are left out."""
    return tag("dl", join(join([tag("dt", k), tag("dd", v)]) for k, v in items if v is not None), cls="facts")


def code(text: str, language: str) -> Html:
    """`text` highlighted by Pygments (python, diff or markdown); Pygments escapes it."""
    lexer = {"python": PythonLexer, "diff": DiffLexer, "markdown": MarkdownLexer}[language]()
    return Html(highlight(text, lexer, HtmlFormatter(style=STYLE, cssclass="highlight")))


def text_block(text: str) -> Html:
    return tag("pre", text, cls="text")


def status(value: str | None) -> Html:
    return tag("span", value or "unknown", cls=f"status {value or ''}".strip())


def image(data_uri: str, alt: str) -> Html:
    """A plot inlined as a data: URI (the page needs no other file)."""
    return Html(f'<img class="plot" src="{esc(data_uri)}" alt="{esc(alt)}">')


def section(title: str, body: Any, anchor: str | None = None) -> Html:
    return tag("section", join([tag("h2", title), body]), id=anchor)


def document(title: str, body: Any) -> str:
    """The whole page: its CSS (the page's and Pygments') inline, no script, no external resource."""
    style = CSS + HtmlFormatter(style=STYLE, cssclass="highlight").get_style_defs(".highlight")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; img-src data:; "
            "style-src 'unsafe-inline'\">"
            f"<title>{esc(title)}</title><style>{style}</style></head>\n<body>\n{esc(body)}\n</body></html>\n")
