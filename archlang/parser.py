"""Stage 1: text -> surface tree (`syntax.Module`). The only module that imports lark.

The grammar (grammars/arch.lark) is compiled to an LALR(1) table once per process, and lark
caches that table on disk between processes, so start-up stays cheap.
"""

from __future__ import annotations

from functools import lru_cache

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, VisitError

from . import syntax as S
from .errors import ArchError, ArchSyntaxError, LimitError, Source, Span
from .resources import grammar_path

__all__ = ["parse_module", "KEYWORDS", "MAX_NESTING", "MAX_OPERATORS"]

MAX_NESTING = 64  # parentheses inside one another
MAX_OPERATORS = 256  # arithmetic operators in one expression

KEYWORDS = ("network", "block", "use", "true", "false")

_TERMINALS = {
    "NAME": "a name",
    "INT": "an integer",
    "FLOAT": "a number",
    "SHAPE": "a shape such as 3x224x224",
    "STRING": 'a quoted file name such as "blocks.arch"',
    "LPAR": "'('",
    "RPAR": "')'",
    "COMMA": "','",
    "EQUAL": "'='",
    "COLON": "':'",
    "VBAR": "'|'",
    "ARROW": "'->'",
    "PLUS": "'+'",
    "MINUS": "'-'",
    "STAR": "'*'",
    "FLOORDIV": "'//'",
    "SLASH": "'/'",
    "PERCENT": "'%'",
    "POW": "'**'",
    "$END": "the end of the file",
}
for _kw in KEYWORDS:
    _TERMINALS[_kw.upper()] = f"'{_kw}'"


_OPERATORS = {"'|'", "'+'", "'-'", "'*'", "'//'", "'/'", "'%'", "'**'"}


def _describe(terminal: str) -> str:
    return _TERMINALS.get(terminal, terminal.lower())


@lru_cache(maxsize=1)
def _lark() -> Lark:
    return Lark(
        grammar_path().read_text(encoding="utf-8"),
        parser="lalr",
        lexer="contextual",
        propagate_positions=True,
        maybe_placeholders=False,
        cache=True,
    )


class _Builder(Transformer):
    """Lark tree -> syntax classes, with a span on every node."""

    def __init__(self, source: Source) -> None:
        super().__init__(visit_tokens=False)
        self.source = source

    def _span(self, meta) -> Span:
        return Span(self.source, meta.line, meta.column, meta.end_line, meta.end_column)

    def _tok(self, tok: Token) -> Span:
        return Span(self.source, tok.line, tok.column, tok.end_line, tok.end_column)

    @v_args(meta=True)
    def start(self, meta, items):
        return S.Module(self.source, tuple(items))

    @v_args(meta=True)
    def use(self, meta, children):
        (tok,) = children
        return S.Use(str(tok)[1:-1], self._span(meta))

    @v_args(meta=True)
    def network(self, meta, children):
        name, shape, body = children
        return S.Network(str(name), self._tok(name), shape, body, self._span(meta))

    @v_args(meta=True)
    def block(self, meta, children):
        name, *rest = children
        params = rest[0] if len(rest) == 2 else ()
        return S.Block(str(name), self._tok(name), tuple(params), rest[-1], self._span(meta))

    def params(self, children):
        return tuple(children)

    @v_args(meta=True)
    def param(self, meta, children):
        name = children[0]
        default = children[1] if len(children) > 1 else None
        return S.Param(str(name), self._tok(name), default)

    @v_args(meta=True)
    def shape(self, meta, children):
        (tok,) = children
        dims = tuple(int(d) for d in str(tok).replace("@", "x").split("x"))
        return S.Shape(dims, self._tok(tok))

    @v_args(meta=True)
    def alt(self, meta, children):
        return S.Alt(self._span(meta), tuple(children))

    @v_args(meta=True)
    def chain(self, meta, children):
        items = tuple(c for c in children if not isinstance(c, Token))
        return S.Chain(self._span(meta), items)

    def _fold(self, children):
        if len(children) > 2 * MAX_OPERATORS + 1:
            op = children[2 * MAX_OPERATORS + 1]
            raise LimitError(
                f"an expression with more than {MAX_OPERATORS} operators",
                self._tok(op),
                hint="no layer needs an argument this long; compute it in the script that writes the spec",
            )
        left = children[0]
        for i in range(1, len(children), 2):
            op, right = children[i], children[i + 1]
            left = S.BinOp(left.span.to(right.span), str(op), self._tok(op), left, right)
        return left

    def sum(self, children):
        return self._fold(children)

    def product(self, children):
        return self._fold(children)

    def power(self, children):
        return self._fold(children)

    @v_args(meta=True)
    def neg(self, meta, children):
        return S.Neg(self._span(meta), children[1])

    @v_args(meta=True)
    def int(self, meta, children):
        return S.Num(self._span(meta), int(children[0]))

    @v_args(meta=True)
    def float(self, meta, children):
        return S.Num(self._span(meta), float(children[0]))

    @v_args(meta=True)
    def true(self, meta, children):
        return S.Bool(self._span(meta), True)

    @v_args(meta=True)
    def false(self, meta, children):
        return S.Bool(self._span(meta), False)

    @v_args(meta=True)
    def name(self, meta, children):
        return S.Name(self._span(meta), str(children[0]))

    @v_args(meta=True)
    def group(self, meta, children):
        return children[0]

    @v_args(meta=True)
    def tuple(self, meta, children):
        return S.Tuple(self._span(meta), tuple(children))

    @v_args(meta=True)
    def kwarg(self, meta, children):
        name, value = children
        return S.KwArg(str(name), self._tok(name), value)

    @v_args(meta=True)
    def call(self, meta, children):
        name, *args = children
        positional, keyword = [], []
        for a in args:
            if isinstance(a, S.KwArg):
                keyword.append(a)
            elif keyword:
                raise ArchSyntaxError(
                    "positional argument after a keyword argument",
                    a.span,
                    hint="put positional arguments first, or name this one too",
                )
            else:
                positional.append(a)
        return S.Call(self._span(meta), str(name), self._tok(name), tuple(positional), tuple(keyword))


def _parens(text: str):
    """(index, depth after it) at every '(' and ')' outside comments and strings."""
    depth, i = 0, 0
    while i < len(text):
        ch = text[i]
        if ch == "#":
            nl = text.find("\n", i)
            i = len(text) if nl < 0 else nl
            continue
        if ch == '"':
            close = text.find('"', i + 1)
            if 0 <= close and "\n" not in text[i:close]:
                i = close + 1
                continue
        elif ch in "()":
            depth = depth + 1 if ch == "(" else max(0, depth - 1)
            yield i, depth
        i += 1


def _check_nesting(source: Source) -> None:
    """Refuse parentheses nested deeper than MAX_NESTING before the parser recurses into them."""
    for i, depth in _parens(source.text):
        if depth > MAX_NESTING:
            line = source.text.count("\n", 0, i) + 1
            col = i - (source.text.rfind("\n", 0, i) + 1) + 1
            raise LimitError(
                f"parentheses nested more than {MAX_NESTING} deep",
                Span(source, line, col, line, col + 1),
                hint="flatten the nesting: a chain needs no parentheses around each step",
            )


def _paren_depth(text: str, end: int) -> int:
    """How many '(' are open at `end`."""
    depth = 0
    for i, d in _parens(text):
        if i >= end:
            break
        depth = d
    return depth


def _end_span(source: Source) -> Span:
    lines = source.text.rstrip().splitlines() or [""]
    return Span(source, len(lines), len(lines[-1]) + 1, len(lines), len(lines[-1]) + 2)


def _syntax_error(source: Source, err: UnexpectedInput) -> ArchError:
    terminals = getattr(err, "expected", None) or getattr(err, "allowed", None) or ()
    described = {_describe(t) for t in terminals}
    expected = sorted(described - _OPERATORS or described)  # operators may follow almost anything
    value_words = {"a name", "an integer", "a number", "'true'", "'false'", "'('", "'-'"}
    if "a name" in expected and "'('" in expected:
        expected = ["a layer or a value"] + [e for e in expected if e not in value_words]
    expect_text = ("expected " + ", ".join(expected)) if expected else None
    hint = None
    if isinstance(err, UnexpectedCharacters):
        line = source.line(err.line)
        ch = line[err.column - 1] if 0 < err.column <= len(line) else "?"
        span = Span(source, err.line, err.column, err.line, err.column + 1)
        message = f"unexpected character {ch!r}"
        if not ch.isascii():
            hint = "names use ASCII letters, digits and '_'; other characters may appear only in # comments"
        elif ch == "'":
            hint = 'file names are written in double quotes: use "file.arch"'
        else:
            hint = expect_text
        return ArchSyntaxError(message, span, hint=hint)
    token = getattr(err, "token", None)
    if isinstance(err, UnexpectedEOF) or (token is not None and token.type == "$END"):
        return ArchSyntaxError(
            "unexpected end of file", _end_span(source), hint=(expect_text + " before the end") if expect_text else None
        )
    assert token is not None
    span = Span(source, token.line, token.column, token.end_line, token.end_column)
    shown = str(token)
    message = f"unexpected {shown!r}"
    expected_set = set(getattr(err, "expected", ()) or ())
    inside_call = _paren_depth(source.text, token.start_pos) > 0
    if token.type in ("NAME", "INT", "FLOAT", "LPAR") and inside_call and "COMMA" in expected_set:
        hint = "arguments are separated by ','"
    elif token.type in ("NAME", "INT", "LPAR") and "ARROW" in expected_set:
        hint = "layers in a chain are joined with '->'"
    elif token.type == "SHAPE" or (token.type == "NAME" and str(token)[:1] == "x" and "RPAR" in expected_set):
        hint = "a kernel size goes in the layer name (conv3x3) or as a tuple: k=(3, 3)"
    elif token.type == "EQUAL" and "COLON" in expected_set:
        hint = "a network needs its input shape: network NAME : 3x224x224 = ..."
    elif token.type in ("NETWORK", "BLOCK", "USE") and expected_set:
        hint = "the previous definition is incomplete: " + (expect_text or "")
    elif token.type.upper() in {k.upper() for k in KEYWORDS} and "NAME" in expected_set:
        hint = f"'{token}' is a keyword and cannot be used as a name"
    else:
        hint = expect_text
    return ArchSyntaxError(message, span, hint=hint)


def parse_module(text: str, name: str = "<string>") -> S.Module:
    """Parse one .arch text into its surface tree; raises ArchSyntaxError."""
    if text.startswith("\ufeff"):
        text = text[1:]
    source = Source(name, text)
    _check_nesting(source)
    try:
        tree = _lark().parse(text)
    except UnexpectedInput as err:
        raise _syntax_error(source, err) from None
    except RecursionError:
        raise LimitError("the spec is nested too deeply to parse", _end_span(source)) from None
    try:
        return _Builder(source).transform(tree)
    except VisitError as err:
        if isinstance(err.orig_exc, ArchError):
            raise err.orig_exc from None
        raise
    except RecursionError:
        raise LimitError(
            "expressions are nested too deeply",
            _end_span(source),
            hint="flatten the nesting: write chains with '->' instead of nested parentheses",
        ) from None

