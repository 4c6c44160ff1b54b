"""Stage 1: text -> surface tree (`syntax.Module`). The only module that runs lark's parser.

The grammar (grammars/arch.lark) is compiled to LALR(1) tables when archlang is built, not
when it runs: `_parser_standalone.py` is lark's standalone parser (its lexer, LALR parser,
Transformer, Token and exceptions) with those tables as Python literals and the grammar's
SHA-256 in its header, which a test checks. So parsing never imports lark (about 30 ms on a
small machine), and nothing is read, cached, compiled or unpickled at run time. Only
generating that module needs lark itself, and parser_build.py does it: after editing the
grammar, run `make parser`.
"""

from __future__ import annotations

import re
from functools import lru_cache

from . import syntax as S
from ._parser_standalone import (Lark, Lark_StandAlone, Token, Transformer, UnexpectedCharacters, UnexpectedEOF,
                                 UnexpectedInput, VisitError, v_args)
from .errors import ArchError, ArchSyntaxError, LimitError, Source, Span
from .records import record

__all__ = ["parse_module", "lex", "Lexeme", "KEYWORDS", "MAX_NESTING", "MAX_OPERATORS"]

MAX_NESTING = 64  # parentheses inside one another
MAX_OPERATORS = 256  # arithmetic operators in one expression

KEYWORDS = ("network", "block", "use", "true", "false", "as", "if", "then", "else", "and", "or", "not", "for", "in",
            "where")

_TERMINALS = {  # what an error says the parser expected
    "NAME": "a name", "INT": "an integer", "FLOAT": "a number", "SHAPE": "a shape such as 3x224x224",
    "QUANTITY": "a count such as 5M", "HOLE": "a hole (? or ?name)",
    "STRING": 'a quoted file name such as "blocks.arch"',
    "LPAR": "'('", "RPAR": "')'", "COMMA": "','", "EQUAL": "'='", "COLON": "':'", "VBAR": "'|'", "ARROW": "'->'",
    "PLUS": "'+'", "MINUS": "'-'", "STAR": "'*'", "FLOORDIV": "'//'", "SLASH": "'/'", "PERCENT": "'%'", "POW": "'**'",
    "COMPARE": "a comparison (== != < <= > >=)", "$END": "the end of the file",
}
for _kw in KEYWORDS:
    _TERMINALS[_kw.upper()] = f"'{_kw}'"


_OPERATORS = {"'|'", "'+'", "'-'", "'*'", "'//'", "'/'", "'%'", "'**'"}


def _describe(terminal: str) -> str:
    return _TERMINALS.get(terminal, terminal.lower())


MAX_DIGITS = 30  # digits of an integer literal, leading zeros aside (any allowed number has 19)


@lru_cache(maxsize=2)
def _lark(positions: bool = True) -> Lark:
    """The parser; without `positions` its trees carry no spans, which `lex` does not need
    (it reads faster)."""
    return Lark_StandAlone() if positions else Lark_StandAlone(propagate_positions=False)


class _Builder(Transformer):
    """Lark tree -> syntax classes, with a span on every node."""

    def __init__(self, source: Source) -> None:
        super().__init__(visit_tokens=False)
        self.source = source
        self._operators: dict[int, int] = {}  # id(expression) -> its arithmetic operators

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

    @staticmethod
    def _network_parts(children):
        """(the name, the inputs' parts, the declared outputs, the body, the budgets)."""
        name, *rest = children
        budgets = rest.pop() if rest and isinstance(rest[-1], list) else []
        body = rest.pop()
        outputs = rest.pop() if rest and isinstance(rest[-1], tuple) else None
        return name, rest, outputs, body, tuple(budgets)

    @v_args(meta=True)
    def network(self, meta, children):
        name, (shape,), outputs, body, budgets = self._network_parts(children)
        return S.Network(str(name), self._tok(name), (S.InputDecl("input", shape.span, shape),), body, self._span(meta),
                         outputs=outputs, budgets=budgets)

    @v_args(meta=True)
    def network_inputs(self, meta, children):
        name, inputs, outputs, body, budgets = self._network_parts(children)
        return S.Network(str(name), self._tok(name), tuple(inputs), body, self._span(meta), named_inputs=True,
                         outputs=outputs, budgets=budgets)

    def outputs(self, children):
        return tuple(c for c in children if isinstance(c, S.Shape))

    def where(self, children):
        return list(children[1:])

    @v_args(meta=True)
    def budget(self, meta, children):
        name, op, value = children
        return S.Budget(str(name), self._tok(name), str(op), self._tok(op), self._quantity(value), self._span(meta))

    def _quantity(self, tok: Token) -> int:
        """`5M` is 5,000,000 (k, M, G are decimal); `1.5G` too; a plain integer as written."""
        from fractions import Fraction

        text = str(tok)
        scale = {"k": 10**3, "M": 10**6, "G": 10**9}.get(text[-1], 1)
        digits = text[:-1] if scale > 1 else text
        if len(digits.replace(".", "").lstrip("0")) > MAX_DIGITS:
            raise LimitError(f"a number with {len(digits):,} digits is too large", self._tok(tok))
        value = Fraction(digits) * scale
        if value.denominator != 1:
            raise ArchSyntaxError(
                f"a budget counts whole parameters or MACs; {text} is {float(value):g}", self._tok(tok),
                hint="write a whole number: 1.5M, 600k, 250000",
            )
        return int(value)

    @v_args(meta=True)
    def assert_(self, meta, children):
        body, shape = children
        return S.Assert(self._span(meta), body, shape)

    @v_args(meta=True)
    def hole(self, meta, children):
        text = str(children[0])
        return S.Hole(self._span(meta), text[1:] or None)

    @v_args(meta=True)
    def input_decl(self, meta, children):
        name, shape = children
        return S.InputDecl(str(name), self._tok(name), shape)

    @v_args(meta=True)
    def block(self, meta, children):
        name, *middle, body = children
        params: tuple = ()
        inputs: tuple = ()
        for part in middle:  # params (S.Param items, maybe none) and inputs ((name, span) pairs)
            if part and isinstance(part[0], tuple):
                inputs = part
            else:
                params = part
        return S.Block(str(name), self._tok(name), tuple(params), body, self._span(meta), tuple(inputs))

    def block_inputs(self, children):
        return tuple((str(t), self._tok(t)) for t in children)

    @v_args(meta=True)
    def as_(self, meta, children):
        body, name = children
        return S.As(self._span(meta), body, str(name), self._tok(name))

    def params(self, children):
        return tuple(children)

    @v_args(meta=True)
    def param(self, meta, children):
        name = children[0]
        default = children[1] if len(children) > 1 else None
        return S.Param(str(name), self._tok(name), default)

    def _integer(self, tok: Token) -> int:
        digits = str(tok).lstrip("0")
        if len(digits) > MAX_DIGITS:
            raise LimitError(
                f"a number with {len(digits):,} digits is too large",
                self._tok(tok),
                hint=f"numbers are limited to {2**63 - 1:,}",
            )
        return int(digits or "0")

    @v_args(meta=True)
    def shape(self, meta, children):
        (tok,) = children
        if tok.type == "HOLE" and str(tok) != "?":
            raise ArchSyntaxError(
                f"a shape leaves a size open with ? alone, not {tok}", self._tok(tok),
                hint="named holes (?k) stand for arguments; write ? for a size any value may take",
            )
        text = str(tok)
        layout = "map"
        if text.startswith("["):
            layout = "seq" if "x" in text else "ids"
            text = text[1:].replace("]", "")
        parts = text.replace("@", "x").split("x")
        if any(len(p.lstrip("0")) > MAX_DIGITS for p in parts):
            raise LimitError(
                "a size in the shape is too large", self._tok(tok), hint="sizes must fit in a 32-bit integer"
            )
        return S.Shape(tuple(None if p == "?" else int(p) for p in parts), self._tok(tok), str(tok), layout)

    @v_args(meta=True)
    def alt(self, meta, children):
        return S.Alt(self._span(meta), tuple(children))

    @v_args(meta=True)
    def chain(self, meta, children):
        items = tuple(c for c in children if not isinstance(c, Token))
        return S.Chain(self._span(meta), items)

    def _count(self, node, operators: int, children, at: Token) -> None:
        """Count the operators of one arithmetic expression, however it nests (`1**1**...`
        nests to the right, `a + b * c` over rules), and refuse more than MAX_OPERATORS."""
        total = operators + sum(self._operators.pop(id(c), 0) for c in children)
        if total > MAX_OPERATORS:
            raise LimitError(
                f"an expression with more than {MAX_OPERATORS} operators",
                self._tok(at),
                hint="no layer needs an argument this long; compute it in the script that writes the spec",
            )
        self._operators[id(node)] = total

    def _fold(self, children):
        left = children[0]
        for i in range(1, len(children), 2):
            op, right = children[i], children[i + 1]
            left = S.BinOp(left.span.to(right.span), str(op), self._tok(op), left, right)
            self._count(left, 1, (left.left, right), op)
        return left

    sum = product = power = logic = conj = comparison = _fold  # the binary rules: operands between operators

    @v_args(meta=True)
    def not_(self, meta, children):
        node = S.Not(self._span(meta), children[1])
        self._count(node, 1, (children[1],), children[0])
        return node

    @v_args(meta=True)
    def for_(self, meta, children):
        _, name, count, body = children
        return S.For(self._span(meta), str(name), self._tok(name), count, body)

    @v_args(meta=True)
    def if_(self, meta, children):
        _, cond, then, otherwise = children
        return S.If(self._span(meta), cond, then, otherwise)

    @v_args(meta=True)
    def neg(self, meta, children):
        node = S.Neg(self._span(meta), children[1])
        self._count(node, 1, (children[1],), children[0])
        return node

    @v_args(meta=True)
    def int(self, meta, children):
        return S.Num(self._span(meta), self._integer(children[0]))

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
    """Just after the last character that is not white space."""
    stripped = source.text.rstrip()
    line = stripped.count("\n") + 1
    col = len(stripped) - (stripped.rfind("\n") + 1) + 1
    return Span(source, line, col, line, col + 1)


def _syntax_error(source: Source, err: UnexpectedInput) -> ArchError:
    terminals = getattr(err, "expected", None) or getattr(err, "allowed", None) or ()
    described = {_describe(t) for t in terminals}
    expected = sorted(described - _OPERATORS or described)  # operators may follow almost anything
    value_words = {"a name", "an integer", "a number", "'true'", "'false'", "'('", "'-'", "'not'", "'if'", "'for'",
                   "a hole (? or ?name)"}
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
    before = source.text[: token.start_pos].rstrip()
    previous = before.rsplit(None, 1)[-1] if before.split() else ""
    if previous in ("for", "if") and before[: -len(previous)].rstrip().endswith("->"):
        hint = f"'{previous}' binds loosest: inside a chain, put it in parentheses: -> ({previous} ...)"
    elif token.type == "LPAR" and before.endswith(")"):
        hint = "a layer takes all its arguments in one pair of parentheses: conv3x3(8, stride=2), not conv3x3(8)(...)"
    elif token.type in ("NAME", "INT", "FLOAT", "LPAR") and inside_call and "COMMA" in expected_set:
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
    return _build(source, tree)


def _build(source: Source, tree) -> S.Module:
    """The syntax tree of a parsed text; raises what its rules find (numbers too large,
    a positional argument after a keyword one...)."""
    try:
        try:
            return _Builder(source).transform(tree)
        except VisitError as err:  # lark wraps what a rule raised: never let the wrapper out
            raise err.orig_exc from None
    except RecursionError:
        raise LimitError(
            "expressions are nested too deeply",
            _end_span(source),
            hint="flatten the nesting: write chains with '->' instead of nested parentheses",
        ) from None


@record
class Lexeme:
    """One token as the parser reads it (`kind` is the grammar's terminal: NAME, ARROW, LPAR,
    NETWORK...), or a comment (kind COMMENT, its text up to the end of the line), which the
    parser skips; `start` and `end` are offsets into the text."""

    kind: str
    text: str
    start: int
    end: int


_COMMENT = re.compile(r"#[^\n]*")


def lex(text: str, name: str = "<string>", *, check: bool = False) -> list[Lexeme]:
    """The tokens of a .arch text in order, its comments among them: the formatter's input.
    The tokens come from the parser itself as it reads them (its contextual lexer decides
    `?x3` is a hole, not a shape), so a text parses only if it lexes, and two texts with the
    same tokens have the same syntax tree. A leading BOM is skipped, as parse_module skips it;
    offsets count from after it. Raises the ArchSyntaxError parse_module would for a text
    the grammar rejects; with `check`, every error parse_module raises (the same parse
    builds the syntax tree too)."""
    if text.startswith("\ufeff"):
        text = text[1:]
    source = Source(name, text)
    _check_nesting(source)
    interactive = (_lark() if check else _lark(False)).parse_interactive(text)
    tokens: list[Lexeme] = []
    try:
        for tok in interactive.iter_parse():
            tokens.append(Lexeme(tok.type, str(tok), tok.start_pos, tok.end_pos))
        tree = interactive.feed_eof()
    except UnexpectedInput as err:
        raise _syntax_error(source, err) from None
    except RecursionError:
        raise LimitError("the spec is nested too deeply to parse", _end_span(source)) from None
    if check:
        _build(source, tree)
    out: list[Lexeme] = []
    end = 0
    for tok in tokens + [Lexeme("$END", "", len(text), len(text))]:
        # between tokens there is only what the grammar ignores: white space, BOMs, comments
        out += [Lexeme("COMMENT", m.group(), m.start(), m.end()) for m in _COMMENT.finditer(text, end, tok.start)]
        out.append(tok)
        end = tok.end
    return out[:-1]
