"""Diagnostics for every stage: source positions (`Span`) and the `ArchError` family.

Every error a user can cause is an `ArchError` that carries a span (file, line, column),
a message in the user's terms, optional detail lines (a formula with its numbers), a hint
that says how to fix it, and notes that point at related places (the other branch of a
merge, the block call that led here). `render()` prints it the way compilers do.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import field
from functools import cached_property

from .records import record

__all__ = [
    "Source",
    "Span",
    "Note",
    "ArchError",
    "ArchSyntaxError",
    "UnknownNameError",
    "ArgumentError",
    "ShapeError",
    "DefinitionError",
    "SpecImportError",
    "LimitError",
    "suggest",
    "printable",
]


@record(eq=False)
class Source:
    """One spec text and the name it is reported under (a path, or `<string>`).

    Lines end at '\n' only, as the lexer counts them: a form feed, a lone '\r', U+2028 or
    U+0085 (legal inside a comment) do not start a new line. The line offsets are computed
    once per source."""

    name: str
    text: str

    @cached_property
    def _starts(self) -> tuple[int, ...]:
        starts = [0]
        find = self.text.find
        i = find("\n")
        while i >= 0:
            starts.append(i + 1)
            i = find("\n", i + 1)
        return tuple(starts)

    @property
    def line_count(self) -> int:
        return len(self._starts)

    def line(self, number: int) -> str:
        """Line `number` (1-based) without its '\n' (and without a '\r' before it)."""
        starts = self._starts
        if not 1 <= number <= len(starts):
            return ""
        end = starts[number] - 1 if number < len(starts) else len(self.text)
        text = self.text[starts[number - 1] : end]
        return text[:-1] if text.endswith("\r") else text


@record(one_write=True)  # made for every node, read mostly for messages
class Span:
    """A region of a source: 1-based line and column, end column exclusive."""

    source: Source = field(compare=False, repr=False)
    line: int
    col: int
    end_line: int
    end_col: int

    def __str__(self) -> str:
        return f"{self.source.name}:{self.line}:{self.col}"

    @property
    def text(self) -> str:
        """The source text the span covers (first line only)."""
        line = self.source.line(self.line)
        end = self.end_col if self.end_line == self.line else len(line) + 1
        return line[self.col - 1 : end - 1]

    def to(self, other: "Span") -> "Span":
        """The span from the start of this one to the end of `other`."""
        return Span(self.source, self.line, self.col, other.end_line, other.end_col)


@record
class Note:
    message: str
    span: Span | None = None


def _display_width(ch: str) -> int:
    if unicodedata.combining(ch):
        return 0
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


def _underline(line: str, col: int, end_col: int) -> str:
    """Spaces up to `col` and carets to `end_col`, keeping tabs and wide characters aligned."""
    pad = []
    for ch in line[: col - 1]:
        pad.append("\t" if ch == "\t" else " " * _display_width(ch))
    width = sum(max(1, _display_width(ch)) for ch in line[col - 1 : end_col - 1])
    return "".join(pad) + "^" * max(1, width)


# control characters (C0 but tab, DEL, C1) and line or paragraph separators: a spec's text
# must not drive the terminal (ANSI escapes) or break a snippet's lines when it is echoed
_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")


def printable(text: str) -> str:
    """Text from a spec made safe to print: each control character becomes one '?', so that
    columns stay where they were."""
    return _CONTROL.sub("?", text)


SNIPPET_WIDTH = 120  # characters of a long line shown around the span (a generated one-line spec is 150,000)


def snippet(span: Span) -> list[str]:
    """The source line of a span with carets under it (multi-line spans: to the line's end);
    of a line longer than SNIPPET_WIDTH, the part around the span's start, cut with '...'."""
    if span.line > span.source.line_count:
        return []
    line = printable(span.source.line(span.line)).rstrip()
    end = span.end_col if span.end_line == span.line else len(line) + 1
    end = max(end, span.col + 1)
    first, last = 0, len(line)
    if len(line) > SNIPPET_WIDTH:
        first = max(0, min(span.col - 1 - SNIPPET_WIDTH // 3, len(line) - SNIPPET_WIDTH))
        last = first + SNIPPET_WIDTH
    cut = 3 if first else 0
    shown = "..." * bool(first) + line[first:last] + "..." * (last < len(line))
    col = span.col - first + cut
    return ["    " + shown, "    " + _underline(shown, col, max(min(end, last + 1) - first + cut, col + 1))]


class ArchError(Exception):
    """A problem in a spec, reported with its place, what is wrong and how to fix it."""

    kind = "error"

    def __init__(
        self,
        message: str,
        span: Span | None = None,
        *,
        hint: str | None = None,
        detail: tuple[str, ...] | list[str] = (),
        notes: tuple[Note, ...] | list[Note] = (),
    ) -> None:
        super().__init__(message)
        self.message = message
        self.span = span
        self.hint = hint
        self.detail = list(detail)
        self.notes = list(notes)

    def __str__(self) -> str:
        return self.render()

    def segments(self) -> list[tuple[str, str]]:
        """The rendered message as (text, style) pieces; styles: loc, error, note, caret, hint, ''."""
        out: list[tuple[str, str]] = []
        loc = f"{self.span}: " if self.span else ""
        out += [(printable(loc), "loc"), ("error: ", "error"), (printable(self.message) + "\n", "")]
        if self.span:
            for i, text in enumerate(snippet(self.span)):
                out.append((text + "\n", "caret" if i == 1 else ""))
        for line in self.detail:
            out.append(("  " + printable(line) + "\n", ""))
        for note in self.notes:
            nloc = f"{note.span}: " if note.span else "  "
            out += [(printable(nloc), "loc"), ("note: ", "note"), (printable(note.message) + "\n", "")]
            if note.span:
                for i, text in enumerate(snippet(note.span)):
                    out.append((text + "\n", "caret" if i == 1 else ""))
        if self.hint:
            out += [("  hint: ", "hint"), (printable(self.hint) + "\n", "")]
        return out

    def render(self) -> str:
        return "".join(text for text, _ in self.segments()).rstrip("\n")

    def to_dict(self) -> dict:
        """The error as JSON-ready data for editors and scripts."""
        s = self.span
        return {
            "file": s.source.name if s else None,
            "line": s.line if s else None,
            "column": s.col if s else None,
            "end_line": s.end_line if s else None,
            "end_column": s.end_col if s else None,
            "kind": self.kind,
            "message": self.message,
            "detail": self.detail,
            "hint": self.hint,
            "notes": [
                {
                    "message": n.message,
                    "file": n.span.source.name if n.span else None,
                    "line": n.span.line if n.span else None,
                    "column": n.span.col if n.span else None,
                }
                for n in self.notes
            ],
        }


class ArchSyntaxError(ArchError):
    kind = "syntax"


class UnknownNameError(ArchError):
    kind = "unknown-name"


class ArgumentError(ArchError):
    kind = "argument"


class ShapeError(ArchError):
    kind = "shape"


class DefinitionError(ArchError):
    kind = "definition"


class SpecImportError(ArchError):
    kind = "import"


class LimitError(ArchError):
    kind = "limit"


def suggest(name: str, candidates) -> str | None:
    """The closest known name, for did-you-mean hints."""
    import difflib  # only when a name is unknown: it costs 7 ms to import

    match = difflib.get_close_matches(name, sorted(set(candidates)), n=1, cutoff=0.6)
    return match[0] if match else None
