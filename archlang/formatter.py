"""`archlang fmt`: a .arch text in its one canonical layout, with the same tokens and comments.

Stage 1 backwards: `parser.lex` gives a spec's tokens, comments among them; this module
decides only the white space between them, so the formatted spec has the same syntax tree,
which `format_source` proves by lexing its own output again. The layout:

- one definition (use, block, network) after another; a blank line between two of them is
  kept (at most one), none inside one;
- spacing: `a -> b`, `f(x, k=3)`, `4 * c` (every binary operator spaced), `-x`,
  `for i in n: ...`, `network n : 3x32x32 = ...`;
- a line break the user wrote at a natural place is kept: after a definition's `=`, before
  `->`, `|`, `where`, `then` and `else`, after `,` and `(`; any other is joined;
- a continuation line is indented 4 at the top level; inside parentheses it lines up with
  what follows the `(` (a line starting with `|` two columns left of that, so that its
  branch lines up), or is indented 4 more than the `(`'s line when the `(` ends that line;
- a line longer than WIDTH columns (its comment aside) is broken after its definition's `=`,
  then before its outermost `|` or else `->` (`then` and `else` in an if), the last one that
  lets the line fit;
- comments keep their text (trailing white space aside): one on a line of its own stays so,
  indented as the code after it (at column 0 between definitions); the trailing comments of
  a run of code lines (no blank or comment line between them) line up, COMMENT_GAP spaces
  after the longest of those lines' code.
"""

from __future__ import annotations

import sys

__all__ = ["format_source", "FormatError", "WIDTH"]

WIDTH = 100  # columns of code per line, comments aside
INDENT = 4
COMMENT_GAP = 3

_ITEM_START = {"NETWORK", "BLOCK", "USE"}
_OPERAND_END = {"NAME", "INT", "FLOAT", "SHAPE", "QUANTITY", "HOLE", "STRING", "TRUE", "FALSE", "RPAR"}
_BREAK_BEFORE = {"ARROW", "VBAR", "WHERE", "THEN", "ELSE"}  # in a body, a user's break before these is kept
_CHAIN_ENDS = {"IF", "FOR", "THEN", "ELSE"}  # a `->` after these at their depth is inside an if or a for


class FormatError(Exception):
    """The layout would change the spec's tokens or comments: a bug in the formatter, never
    the user's (the CLI reports it as an internal error and writes nothing)."""


class _Tok:
    """A token with what the layout needs to know about it."""

    __slots__ = ("kind", "text", "nl", "col", "depth", "header", "header_eq", "unary", "for_colon", "before",
                 "after")

    def __init__(self, kind: str, text: str, nl: int) -> None:
        self.kind, self.text, self.nl = kind, text, nl  # nl: the newlines before it, as written
        self.col = 0  # a comment's column, as written
        self.depth = 0  # parentheses open before it (a ')' counts its own)
        self.header = self.header_eq = self.unary = self.for_colon = False
        self.before: list[_Tok] = []  # comments on lines of their own just above it
        self.after: _Tok | None = None  # the comment after it on its line


def format_source(text: str, filename: str = "<string>") -> str:
    """`text` in the canonical layout. A spec that does not parse raises its located
    ArchError; a layout that would change the tokens or comments raises FormatError."""
    from .errors import ArchError
    from .parser import lex

    if text.startswith("\ufeff"):
        text = text[1:]
    tokens = lex(text, filename, check=True)  # every error the other commands report, located
    formatted = _render(_lines(_annotate(text, tokens)))
    try:
        again = lex(formatted, filename)
    except ArchError as err:
        raise FormatError(f"the formatted {filename} no longer parses: {err.render()}") from None
    written = [(t.kind, _comment_text(t.text) if t.kind == "COMMENT" else t.text) for t in tokens]
    for i, (old, new) in enumerate(zip(written, [(t.kind, t.text) for t in again])):
        if old != new:
            raise FormatError(f"formatting {filename} would turn token {i + 1} {old[1]!r} into {new[1]!r}")
    if len(written) != len(again):
        raise FormatError(f"formatting {filename} would change its number of tokens")
    return formatted


def _comment_text(text: str) -> str:
    return text.rstrip(" \t\r\f\v")  # ASCII white space only: U+0085 or U+2028 is the comment's text


def _annotate(text: str, lexemes) -> list[_Tok]:
    toks: list[_Tok] = []
    depth, header, fors, last = 0, False, [], None
    end = 0
    for lx in lexemes:
        t = _Tok(lx.kind, lx.text, text.count("\n", end, lx.start))
        end = lx.end
        toks.append(t)
        if t.kind == "COMMENT":  # its column tells a step commented out from a note on what follows
            t.text, t.col = _comment_text(t.text), lx.start - (text.rfind("\n", 0, lx.start) + 1)
            continue
        header = header or t.kind in _ITEM_START
        t.depth, t.header = depth, header
        if t.kind == "LPAR":
            depth += 1
        elif t.kind == "RPAR":
            depth -= 1
        elif t.kind == "EQUAL" and depth == 0 and header:  # a definition's `=`: the body follows
            header, t.header_eq = False, True
        elif t.kind == "FOR":
            fors.append(depth)
        elif t.kind == "COLON" and fors and fors[-1] == depth:  # `for i in n:`
            fors.pop()
            t.for_colon = True
        elif t.kind == "MINUS":
            t.unary = last is None or last.kind not in _OPERAND_END
        last = t
    return toks


def _lines(toks: list[_Tok]) -> list:
    """The output lines: [indent, code, trailing comment or None], a full-line comment as
    [indent, "", text], None for a blank line."""
    out: list = []
    starts = [i for i, t in enumerate(toks) if t.kind in _ITEM_START]
    _gap(toks[: starts[0] if starts else len(toks)], out, after_item=False)
    for a, b in zip(starts, starts[1:] + [len(toks)]):
        end = max(i for i in range(a, b) if toks[i].kind != "COMMENT") + 1
        if end < b and toks[end].nl == 0:  # the comment on the definition's last line
            end += 1
        if out and toks[a].nl >= 2:
            out.append(None)
        out += _item(toks[a:end])
        _gap(toks[end:b], out, after_item=True)
    return out


def _gap(comments: list[_Tok], out: list, after_item: bool) -> None:
    """Comments between definitions: at column 0, blank lines kept (at most one); an indented
    one right under a definition (a step commented out) stays with it, indented."""
    tail = after_item
    for c in comments:
        tail = tail and c.nl == 1 and c.col > 0
        if not tail and out and c.nl >= 2:
            out.append(None)
        out.append([INDENT if tail else 0, "", c.text])


def _item(toks: list[_Tok]) -> list:
    code: list[_Tok] = []
    pending: list[_Tok] = []
    for t in toks:
        if t.kind != "COMMENT":
            t.before, pending = pending, []
            code.append(t)
        elif t.nl == 0:
            code[-1].after = t
        else:
            pending.append(t)
    brk = [True] + [bool(code[i - 1].after or code[i].before or (code[i].nl and _keeps_break(code[i - 1], code[i])))
                    for i in range(1, len(code))]
    lines: list = []
    stack: list[list] = []  # per open '(': [the column its contents line up at (None: not yet known), hanging indent]
    i = 0
    while i < len(code):
        j = i + 1
        while j < len(code) and not brk[j]:
            j += 1
        saved = [frame[:] for frame in stack]
        indent, cols, tops, line = _line(code, i, j, stack)
        splits = _split(code, i, j, cols, tops) if len(line) > WIDTH else []
        if splits:  # lay the line out again, in pieces
            stack = saved
            for k in splits:
                brk[k] = True
            continue
        lines += [[None, "", c.text] for c in code[i].before]
        lines.append([indent, line[indent:], code[j - 1].after.text if code[j - 1].after else None])
        i = j
    following = 0
    for line in reversed(lines):  # a comment on a line of its own is indented as the code under it
        if line[0] is None:
            line[0] = following
        following = line[0]
    return lines


def _keeps_break(prev: _Tok, tok: _Tok) -> bool:
    return prev.kind in ("COMMA", "LPAR") or prev.header_eq or (not tok.header and tok.kind in _BREAK_BEFORE)


def _line(code: list[_Tok], i: int, j: int, stack: list[list]) -> tuple[int, list[int], list, str]:
    """Lay out code[i:j] as one line: its indent, each token's column and the column the
    contents of its innermost '(' line up at, the line's text."""
    first = code[i]
    if i == 0:
        indent = 0
    elif not stack:
        indent = INDENT
    elif first.kind == "RPAR":
        indent = stack[-1][1] - INDENT  # the indent of the line that opened it
    else:
        if stack[-1][0] is None:  # the '(' ended its line: hang its contents
            stack[-1][0] = stack[-1][1]
        indent = _indent_in(first, stack[-1][0])
    parts, cols, tops, col, prev = [" " * indent], [], [], indent, None
    for t in code[i:j]:
        if prev is not None and _space(prev, t):
            parts.append(" ")
            col += 1
        if prev is not None and prev.kind == "LPAR" and stack and stack[-1][0] is None:
            stack[-1][0] = col
        tops.append(stack[-1][0] if stack else None)
        if t.kind == "RPAR" and stack:
            stack.pop()
        cols.append(col)
        parts.append(t.text)
        col += len(t.text)
        if t.kind == "LPAR":
            stack.append([None, indent + INDENT])
        prev = t
    return indent, cols, tops, "".join(parts)


def _indent_in(first: _Tok, column: int) -> int:
    """The indent of a line inside parentheses whose contents line up at `column`."""
    return max(column - 2, 0) if first.kind == "VBAR" else column


def _space(a: _Tok, b: _Tok) -> bool:
    """Whether a space separates two tokens on a line."""
    if a.unary:
        return b.kind == "MINUS"  # -x, but - -x
    if a.kind == "LPAR" or b.kind in ("RPAR", "COMMA") or b.for_colon:
        return False
    if b.kind == "EQUAL" or a.kind == "EQUAL":
        return (a if a.kind == "EQUAL" else b).depth == 0  # `network n : 4 = ...`, but k=3
    return b.kind != "LPAR" or a.kind != "NAME"  # f(x), but -> (a | b)


def _split(code: list[_Tok], i: int, j: int, cols: list[int], tops: list) -> list[int]:
    """Where to break the too long line code[i:j]: after its definition's `=`; else at its
    outermost break points (`|` before `->`; `then` and `else` in an if, whose own arrows
    stay), each line as long as fits (or up to the first point when none does). Empty when
    the line has no break point."""
    for k in range(i, j - 1):
        if code[k].header_eq:
            return [k + 1]
    found: dict[int, list[int]] = {}  # depth -> break points
    inside: set[int] = set()  # the depths at which an if or a for began on this line
    for k in range(i, j):
        t = code[k]
        inside = {d for d in inside if d <= t.depth}
        if t.kind in _CHAIN_ENDS:
            inside.add(t.depth)
        if k > i and not t.header and (t.kind in ("THEN", "ELSE") or t.kind in ("ARROW", "VBAR")
                                       and t.depth not in inside):
            found.setdefault(t.depth, []).append(k)
    if not found:
        return []
    depth = min(found)
    points = [k for k in found[depth] if code[k].kind == "VBAR"] or found[depth]
    drop = next((m for m in range(points[0], points[-1]) if code[m].depth < depth), j)
    points = [k for k in points if k < drop]  # the points inside one pair of parentheses

    def end(k: int) -> int:  # the line's width up to point k, from the piece's start
        return cols[k - 1 - i] + len(code[k - 1].text) - cols[start - i] + lead

    splits, start, lead, n = [], i, cols[0], 0
    while n < len(points) and end(j) > WIDTH:
        m = n
        while m + 1 < len(points) and end(points[m + 1]) <= WIDTH:  # the last point that fits
            m += 1
        start = points[m]
        splits.append(start)
        lead = INDENT if depth == 0 else _indent_in(code[start], tops[start - i])
        n = m + 1
    return splits


def _render(lines: list) -> str:
    out: list[str] = []
    k = 0
    while k < len(lines):
        line = lines[k]
        if line is None:
            out.append("")
        elif line[1]:  # a run of code lines: their trailing comments line up
            end = k
            while end < len(lines) and lines[end] is not None and lines[end][1]:
                end += 1
            run = [(" " * ind + code, comment) for ind, code, comment in lines[k:end]]
            column = max((len(code) for code, comment in run if comment), default=0) + COMMENT_GAP
            out += [code.ljust(column) + comment if comment else code for code, comment in run]
            k = end
            continue
        else:
            out.append(" " * line[0] + line[2])  # a comment on a line of its own
        k += 1
    return "\n".join(out) + "\n" if out else ""


# ---- the command


def add_command(sub) -> None:
    fmt = sub.add_parser(
        "fmt",
        help="rewrite specs in the one canonical layout (comments and meaning kept)",
        description="Lay out .arch specs one way: spacing, indentation, line breaks at '->' past "
        f"{WIDTH} columns, aligned trailing comments. Only white space changes: the tokens and the "
        "comments stay, and a spec that does not parse is reported and left alone. Files are "
        "rewritten in place (atomically, and only when they change).",
    )
    fmt.add_argument("specs", nargs="+", metavar="SPEC",
                     help="a .arch file, a folder (its .arch files), or - (stdin to stdout)")
    fmt.add_argument("--check", action="store_true", help="write nothing; exit 1 if a file would change")
    fmt.add_argument("--diff", action="store_true", help="write nothing; print a unified diff of the changes")
    fmt.set_defaults(run=run, json=False)


def run(args) -> int:
    from pathlib import Path

    from .cli import EXIT_OK, EXIT_SPEC, _print_error, _print_stdout
    from .errors import ArchError
    from .reading import read_spec_file, read_stream

    dry = args.check or args.diff
    changed = unchanged = failed = 0
    for path in _paths(args.specs):
        try:
            old = read_stream(sys.stdin, "<stdin>") if path == "-" else read_spec_file(Path(path), shown=path)
            new = format_source(old, "<stdin>" if path == "-" else path)
        except ArchError as err:
            _print_error(err)
            failed += 1
            continue
        if path == "-" and not dry and new:
            _print_stdout(new[:-1])
        if new == old:
            unchanged += 1
            continue
        changed += 1
        if args.diff:
            _print_stdout(_diff(old, new, path))
        if args.check:
            print(f"would reformat {path}", file=sys.stderr)
        elif not dry:
            if path != "-":
                _write(path, new)
            print(f"reformatted {path}", file=sys.stderr)
    would = "would be " if dry else ""
    counts = ((changed, f"{would}reformatted"), (unchanged, f"{would}left unchanged"),
              (failed, "not formatted (errors above)"))
    print(", ".join(f"{n} file{'s' * (n != 1)} {what}" for n, what in counts if n), file=sys.stderr)
    return EXIT_SPEC if failed or (args.check and changed) else EXIT_OK


def _paths(specs: list[str]) -> list[str]:
    """The files to format: each SPEC, a folder's .arch files (sorted), or - alone."""
    from pathlib import Path

    from .cli import UsageError

    if "-" in specs and len(specs) > 1:
        raise UsageError("- (standard input) is formatted alone, not with files")
    paths: list[str] = []
    for spec in specs:
        if spec != "-" and Path(spec).is_dir():
            found = sorted(str(p) for p in Path(spec).glob("*.arch") if p.is_file())
            if not found:
                raise UsageError(f"no .arch files in the folder {spec}")
            paths += found
        elif spec == "-" or Path(spec).exists():
            paths.append(spec)
        else:
            raise UsageError(f"no such file or folder: {spec}")
    return paths


def _write(path: str, text: str) -> None:
    """Replace the file atomically, keeping its permissions (write_atomic makes 0666 - umask)."""
    import os
    from pathlib import Path

    from .cli import UsageError
    from .output import OutputError, write_atomic

    target = Path(path).resolve()
    mode = target.stat().st_mode & 0o7777
    try:
        write_atomic(path, text.encode("utf-8"), writes_spec=True)
    except OutputError as err:
        raise UsageError(str(err)) from None
    if target.stat().st_mode & 0o7777 != mode:
        os.chmod(target, mode)


def _diff(old: str, new: str, name: str) -> str:
    import difflib

    def lines(text: str) -> list[str]:  # at '\n' only: a comment may hold U+2028 or a lone '\r'
        parts = text.split("\n")
        return [p + "\n" for p in parts[:-1]] + ([parts[-1]] if parts[-1] else [])

    out = difflib.unified_diff(lines(old), lines(new), name, f"{name} (formatted)")
    return "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in out)[:-1]
