"""Stage 1, second half: the grammar's nodes -> syntax records (`syntax.py`), with a span on
every node.

`Builder` has a method per rule (or alias) of grammars/arch.lark that makes a node, called as
the parser reduces it: `method(place, children)`, where `place` is the node's
(line, column, end_line, end_column) (None for a node without tokens) and `children` are what
lark's tree would hold: records already built, and tokens, as tuples
(line, column, end_line, end_column, type, text, offset). lalr.py calls them as it parses;
parser._parse_with_lark walks lark's own tree into them (the equivalence tests).
"""

from __future__ import annotations

from . import syntax as S
from .errors import ArchSyntaxError, LimitError, Source, Span

__all__ = ["Builder", "MAX_DIGITS", "MAX_OPERATORS"]

MAX_OPERATORS = 256  # arithmetic operators in one expression
MAX_DIGITS = 30  # digits of an integer literal, leading zeros aside (any allowed number has 19)


class Builder:
    """The grammar's nodes -> syntax classes, with a span on every node."""

    def __init__(self, source: Source) -> None:
        self.source = source
        self._operators: dict[int, int] = {}  # id(expression) -> its arithmetic operators

    def _span(self, place) -> Span:
        return Span(self.source, place[0], place[1], place[2], place[3])

    _tok = _span  # a token's first four fields are its place

    def start(self, place, items):
        return S.Module(self.source, tuple(items))

    def use(self, place, children):
        (tok,) = children
        return S.Use(tok[5][1:-1], self._span(place))

    @staticmethod
    def _network_parts(children):
        """(the name, the inputs' parts, the declared outputs, the body, the budgets)."""
        name, *rest = children
        budgets = rest.pop() if rest and isinstance(rest[-1], list) else []
        body = rest.pop()
        outputs = rest.pop() if rest and isinstance(rest[-1], tuple) else None
        return name, rest, outputs, body, tuple(budgets)

    def network(self, place, children):
        name, (shape,), outputs, body, budgets = self._network_parts(children)
        return S.Network(name[5], self._tok(name), (S.InputDecl("input", shape.span, shape),), body, self._span(place),
                         outputs=outputs, budgets=budgets)

    def network_inputs(self, place, children):
        name, inputs, outputs, body, budgets = self._network_parts(children)
        return S.Network(name[5], self._tok(name), tuple(inputs), body, self._span(place), named_inputs=True,
                         outputs=outputs, budgets=budgets)

    def outputs(self, place, children):
        return tuple(c for c in children if isinstance(c, S.Shape))

    def where(self, place, children):
        return list(children[1:])

    def budget(self, place, children):
        name, op, value = children
        return S.Budget(name[5], self._tok(name), op[5], self._tok(op), self._quantity(value), self._span(place))

    def _quantity(self, tok) -> int:
        """`5M` is 5,000,000 (k, M, G are decimal); `1.5G` too; a plain integer as written."""
        from fractions import Fraction

        text = tok[5]
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

    def assert_(self, place, children):
        body, shape = children
        return S.Assert(self._span(place), body, shape)

    def hole(self, place, children):
        return S.Hole(self._span(place), children[0][5][1:] or None)

    def input_decl(self, place, children):
        name, shape = children
        return S.InputDecl(name[5], self._tok(name), shape)

    def block(self, place, children):
        name, *middle, body = children
        params: tuple = ()
        inputs: tuple = ()
        for part in middle:  # params (S.Param items, maybe none) and inputs ((name, span) pairs)
            if part and isinstance(part[0], tuple):
                inputs = part
            else:
                params = part
        return S.Block(name[5], self._tok(name), tuple(params), body, self._span(place), tuple(inputs))

    def block_inputs(self, place, children):
        return tuple((t[5], self._tok(t)) for t in children)

    def as_(self, place, children):
        body, name = children
        return S.As(self._span(place), body, name[5], self._tok(name))

    def params(self, place, children):
        return tuple(children)

    def param(self, place, children):
        name = children[0]
        default = children[1] if len(children) > 1 else None
        return S.Param(name[5], self._tok(name), default)

    def _integer(self, tok) -> int:
        digits = tok[5].lstrip("0")
        if len(digits) > MAX_DIGITS:
            raise LimitError(
                f"a number with {len(digits):,} digits is too large",
                self._tok(tok),
                hint=f"numbers are limited to {2**63 - 1:,}",
            )
        return int(digits or "0")

    def shape(self, place, children):
        (tok,) = children
        text = tok[5]
        if tok[4] == "HOLE" and text != "?":
            raise ArchSyntaxError(
                f"a shape leaves a size open with ? alone, not {text}", self._tok(tok),
                hint="named holes (?k) stand for arguments; write ? for a size any value may take",
            )
        layout = "map"
        if text.startswith("["):
            layout = "seq" if "x" in text else "ids"
            text = text[1:].replace("]", "")
        parts = text.replace("@", "x").split("x")
        if any(len(p.lstrip("0")) > MAX_DIGITS for p in parts):
            raise LimitError(
                "a size in the shape is too large", self._tok(tok), hint="sizes must fit in a 32-bit integer"
            )
        return S.Shape(tuple(None if p == "?" else int(p) for p in parts), self._tok(tok), tok[5], layout)

    def alt(self, place, children):
        return S.Alt(self._span(place), tuple(children))

    def chain(self, place, children):
        return S.Chain(self._span(place), tuple(children[::2]))  # the steps, between the ARROW tokens

    def _count(self, node, operators: int, children, at) -> None:
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

    def _fold(self, place, children):
        """Operands between operators, folded to the left; their operators counted as
        `_count` counts them, one step at a time."""
        counts = self._operators
        left = children[0]
        total = counts.pop(id(left), 0)
        for i in range(1, len(children), 2):
            op, right = children[i], children[i + 1]
            left = S.BinOp(left.span.to(right.span), op[5], self._tok(op), left, right)
            total += 1 + counts.pop(id(right), 0)
            if total > MAX_OPERATORS:
                self._count(left, total, (), op)  # raises
        counts[id(left)] = total
        return left

    sum = product = power = logic = conj = comparison = _fold  # the binary rules: operands between operators

    def not_(self, place, children):
        node = S.Not(self._span(place), children[1])
        self._count(node, 1, (children[1],), children[0])
        return node

    def for_(self, place, children):
        _, name, count, body = children
        return S.For(self._span(place), name[5], self._tok(name), count, body)

    def if_(self, place, children):
        _, cond, then, otherwise = children
        return S.If(self._span(place), cond, then, otherwise)

    def neg(self, place, children):
        node = S.Neg(self._span(place), children[1])
        self._count(node, 1, (children[1],), children[0])
        return node

    def int(self, place, children):
        text = children[0][5]  # int() reads leading zeros as _integer does, and at most MAX_DIGITS fast
        return S.Num(Span(self.source, place[0], place[1], place[2], place[3]),
                     int(text) if len(text) <= MAX_DIGITS else self._integer(children[0]))

    def float(self, place, children):
        return S.Num(self._span(place), float(children[0][5]))

    def true(self, place, children):
        return S.Bool(self._span(place), True)

    def false(self, place, children):
        return S.Bool(self._span(place), False)

    def name(self, place, children):  # (most nodes: the span made here, without a call)
        return S.Name(Span(self.source, place[0], place[1], place[2], place[3]), children[0][5])

    def group(self, place, children):
        return children[0]

    def tuple(self, place, children):
        return S.Tuple(self._span(place), tuple(children))

    def kwarg(self, place, children):
        name, value = children
        return S.KwArg(name[5], self._tok(name), value)

    def call(self, place, children):
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
        return S.Call(self._span(place), name[5], self._tok(name), tuple(positional), tuple(keyword))
