"""Stage 2: surface tree -> IR graph. Expands blocks, repeats and residuals, evaluates
arguments, resolves defaults through the op registry, infers every node's type and names
every node.

Evaluation is in two steps. `Evaluator.eval` turns an expression into a value: a number,
a boolean, a tuple, or a layer value (`LCall`, `LSeq`, `LRepeat`, `LMerge`, `LResidual`)
with its arguments already evaluated. `GraphBuilder.inst` then applies a layer value to an
input tensor, which is when shapes are known and ops are made.

Naming rule: in each scope (the network, or one block instance) the n-th layer of op `conv`
is `conv{n}` and the n-th instance of block `stage` is `stage{n}`; a node's name is the dotted
path of its scopes and its own name (`stage2.conv1`), as state_dict keys will read.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Union

from . import syntax as S
from .errors import (
    ArchError, ArgumentError, DefinitionError, LimitError, Note, ShapeError, Span, UnknownNameError, suggest,
)
from .ir import Graph, Node, Scope, TensorType
from .ops import REGISTRY, Op, OpError, lookup, split_suffix
from .ops.other import Input

__all__ = ["Limits", "Definitions", "lower_network"]

MAX_INT = 2**63 - 1


@dataclass(frozen=True)
class Limits:
    """Bounds that keep any spec's analysis small and fast; each error names its limit."""

    max_nodes: int = 100_000
    max_repeat: int = 100_000
    max_block_depth: int = 64


@dataclass
class Definitions:
    """The blocks and networks visible to a program (its own and those it imports)."""

    blocks: dict[str, S.Block] = field(default_factory=dict)
    networks: dict[str, S.Network] = field(default_factory=dict)


# ---------------------------------------------------------------- layer values


@dataclass(frozen=True)
class Layer:
    span: Span

    def __str__(self) -> str:
        text = self.span.text
        return text if self.span.end_line == self.span.line and text else "layer"


@dataclass(frozen=True)
class LCall(Layer):
    """A call of an op or block, arguments evaluated: `conv3x3(64)`, `stage(64, 2)`, `relu`."""

    name: str
    func_span: Span
    op: type[Op] | None  # exactly one of op and block is set
    block: S.Block | None
    kernel: tuple[int, ...] | None  # from a conv3x3-style name
    args: tuple[tuple[Any, Span], ...] = ()
    kwargs: tuple[tuple[str, Any, Span], ...] = ()


@dataclass(frozen=True)
class LSeq(Layer):
    items: tuple[Layer, ...]


@dataclass(frozen=True)
class LRepeat(Layer):
    body: Layer
    count: int


@dataclass(frozen=True)
class LMerge(Layer):
    op: type[Op]
    branches: tuple[Layer, ...]


@dataclass(frozen=True)
class LResidual(Layer):
    body: Layer
    shortcut: Layer | None


Value = Union[int, float, bool, tuple, Layer]


def show(value: Value) -> str:
    """A value as the language writes it."""
    if type(value) is bool:
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, tuple):
        return "(" + ", ".join(show(v) for v in value) + ("," if len(value) == 1 else "") + ")"
    return str(value)


def _kind(value: Value) -> str:
    if type(value) is bool:
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, tuple):
        return "a tuple"
    return "a layer"


SPECIAL_FORMS = ("residual",)


# ---------------------------------------------------------------- evaluation


class Evaluator:
    def __init__(self, defs: Definitions) -> None:
        self.defs = defs

    def known_names(self, env: dict[str, Value]) -> list[str]:
        return [*env, *self.defs.blocks, *REGISTRY, *SPECIAL_FORMS, "conv3x3", "conv1x1", "maxpool3x3"]

    def eval(self, e: S.Expr, env: dict[str, Value]) -> Value:
        method = getattr(self, "_" + type(e).__name__)
        return method(e, env)

    def layer(self, e: S.Expr, env: dict[str, Value], what: str = "here") -> Layer:
        value = self.eval(e, env)
        if not isinstance(value, Layer):
            raise ArgumentError(
                f"expected a layer {what}, got {_kind(value)} ({show(value)})",
                e.span,
                hint="a chain is made of layers and blocks such as conv3x3(64) or relu",
            )
        return value

    def number(self, e: S.Expr, env: dict[str, Value]) -> int | float:
        value = self.eval(e, env)
        if type(value) is bool or not isinstance(value, (int, float)):
            raise ArgumentError(f"expected a number, got {_kind(value)} ({show(value)})", e.span)
        return value

    def _Num(self, e: S.Num, env):
        return self._check_int(e.value, e.span)

    def _Bool(self, e: S.Bool, env):
        return e.value

    def _Tuple(self, e: S.Tuple, env):
        return tuple(self.number(item, env) for item in e.items)

    def _Name(self, e: S.Name, env):
        return self.resolve(e.id, e.span, env)

    def resolve(self, name: str, span: Span, env: dict[str, Value]) -> Value:
        if name in env:
            return env[name]
        if name in self.defs.blocks:
            return LCall(span, name, span, None, self.defs.blocks[name], None)
        if name in self.defs.networks:
            raise DefinitionError(
                f"'{name}' is a network, and networks cannot be used as layers",
                span,
                hint=f"move the body of {name} into a block and use the block in both places",
            )
        op = lookup(name)
        if op is not None:
            if op.merge:
                raise ArgumentError(f"{name} needs branches: {name}(a | b)", span)
            return LCall(span, name, span, op, None, None)
        if name in SPECIAL_FORMS:
            raise ArgumentError(f"{name} needs a body: {name}(f)", span, hint="residual(f) adds f's output to its input")
        split = split_suffix(name)
        if split is not None:
            return LCall(span, name, span, split[0], None, split[1])
        close = suggest(name, self.known_names(env))
        raise UnknownNameError(
            f"unknown layer or block '{name}'",
            span,
            hint=f"did you mean '{close}'?" if close else "see docs/language.md for the list of layers",
        )

    def _Call(self, e: S.Call, env):
        builtin = e.func not in env and e.func not in self.defs.blocks  # not shadowed by the spec
        if builtin and e.func in SPECIAL_FORMS:
            return self._residual(e, env)
        op = lookup(e.func) if builtin else None
        if op is not None and op.merge:
            return self._merge(e, op, env)
        args = tuple((self.eval(a, env), a.span) for a in e.args)
        kwargs = tuple((k.name, self.eval(k.value, env), k.name_span.to(k.value.span)) for k in e.kwargs)
        seen: set[str] = set()
        for k in e.kwargs:
            if k.name in seen:
                raise ArgumentError(f"argument '{k.name}' is given twice", k.name_span)
            seen.add(k.name)
        callee = self.resolve(e.func, e.func_span, env)
        if not isinstance(callee, LCall):
            what = f"{_kind(callee)} ({show(callee)})" if not isinstance(callee, Layer) else "a composed layer"
            raise ArgumentError(
                f"'{e.func}' is {what} and cannot be called",
                e.func_span,
                hint="only layers, blocks and parameters holding a plain layer or block name take arguments",
            )
        if callee.args or callee.kwargs:
            raise ArgumentError(
                f"'{e.func}' already has its arguments ({callee}); it cannot take more",
                e.func_span,
            )
        return LCall(e.span, callee.name, e.func_span, callee.op, callee.block, callee.kernel, args, kwargs)

    def _merge(self, e: S.Call, op: type[Op], env) -> LMerge:
        if e.kwargs or len(e.args) != 1 or not isinstance(e.args[0], S.Alt):
            raise ArgumentError(
                f"{e.func} takes its branches separated by '|'",
                e.span,
                hint=f"write {e.func}(a | b), e.g. {e.func}(conv3x3 | identity)",
            )
        branches = tuple(self.layer(b, env, f"as a branch of {e.func}") for b in e.args[0].branches)
        return LMerge(e.span, op, branches)

    def _residual(self, e: S.Call, env) -> LResidual:
        if len(e.args) != 1:
            raise ArgumentError(
                f"residual takes one body, got {len(e.args)} positional arguments",
                e.span,
                hint="write residual(f) or residual(f, shortcut=g)",
            )
        shortcut = None
        for k in e.kwargs:
            if k.name != "shortcut":
                raise ArgumentError(f"residual has no argument '{k.name}'", k.name_span, hint="residual takes: shortcut")
            shortcut = self.layer(k.value, env, "as the shortcut")
        return LResidual(e.span, self.layer(e.args[0], env, "as the body of residual"), shortcut)

    def _Chain(self, e: S.Chain, env):
        items: list[Layer] = []
        for item in e.items:
            value = self.layer(item, env, "in a chain")
            items.extend(value.items if isinstance(value, LSeq) else (value,))
        return LSeq(e.span, tuple(items))

    def _Alt(self, e: S.Alt, env):
        raise ArgumentError(
            "'|' separates the branches of add(...) or concat(...)",
            e.span,
            hint="write add(a | b) to sum two branches, concat(a | b) to stack their channels",
        )

    def _Neg(self, e: S.Neg, env):
        return self._check_int(-self.number(e.operand, env), e.span)

    def _check_int(self, value, span: Span):
        if isinstance(value, int) and abs(value) > MAX_INT:
            raise LimitError("the number is too large", span, hint=f"numbers are limited to {MAX_INT:,}")
        if isinstance(value, float) and not math.isfinite(value):
            raise LimitError("the number is too large", span)
        return value

    def _BinOp(self, e: S.BinOp, env):
        left = self.eval(e.left, env)
        if isinstance(left, Layer):
            if e.op != "*":
                raise ArgumentError(f"'{e.op}' does not apply to layers", e.op_span, hint="join layers with '->'")
            count = self.eval(e.right, env)
            if type(count) is not int:
                raise ArgumentError(
                    f"a repeat count must be an integer, got {_kind(count)} ({show(count)})", e.right.span
                )
            if count < 0:
                raise ArgumentError(
                    f"negative repeat count {count}", e.right.span, hint="'* 0' leaves the input unchanged; counts must be >= 0"
                )
            return LRepeat(e.span, left, count)
        if not isinstance(left, (int, float)) or type(left) is bool:
            raise ArgumentError(f"'{e.op}' does not apply to {_kind(left)}", e.op_span)
        right = self.eval(e.right, env)
        if isinstance(right, Layer) and e.op == "*":
            raise ArgumentError(
                "the repeat count goes after the layer", e.span, hint=f"write {show(right)} * {show(left)}"
            )
        if not isinstance(right, (int, float)) or type(right) is bool:
            raise ArgumentError(f"'{e.op}' does not apply to {_kind(right)}", e.right.span)
        try:
            if e.op == "+":
                value = left + right
            elif e.op == "-":
                value = left - right
            elif e.op == "*":
                value = left * right
            elif e.op == "/":
                value = left / right
            elif e.op == "//":
                value = left // right
            elif e.op == "%":
                value = left % right
            else:  # "**"
                if abs(left) > 1 and (right > 0) and right * math.log2(abs(left)) > 64:
                    raise LimitError("the number is too large", e.span, hint=f"numbers are limited to {MAX_INT:,}")
                value = left**right
        except ZeroDivisionError:
            raise ArgumentError("division by zero", e.right.span) from None
        except OverflowError:
            raise LimitError("the number is too large", e.span) from None
        if isinstance(value, complex):
            raise ArgumentError("the result is not a real number", e.span)
        return self._check_int(value, e.span)


# ---------------------------------------------------------------- instantiation


class GraphBuilder:
    def __init__(self, evaluator: Evaluator, limits: Limits) -> None:
        self.ev = evaluator
        self.limits = limits
        self.nodes: list[Node] = []
        self.types: dict[str, TensorType] = {}
        self.counters: dict[tuple[str, ...], dict[str, int]] = {}
        self.stack: list[tuple[str, Span]] = []  # active block calls

    # -- naming

    def fresh(self, scopes: tuple[Scope, ...], base: str) -> str:
        key = tuple(s.name for s in scopes)
        counter = self.counters.setdefault(key, {})
        counter[base] = counter.get(base, 0) + 1
        return f"{base}{counter[base]}"

    def emit(self, base: str, op: Op, inputs: tuple[str, ...], type_: TensorType, span: Span, scopes) -> str:
        if len(self.nodes) >= self.limits.max_nodes:
            raise LimitError(
                f"the network has more than {self.limits.max_nodes:,} layers",
                span,
                hint="check the repeat counts; the limit can be raised (Limits.max_nodes, --max-nodes)",
            )
        if type_.numel > MAX_INT:
            raise LimitError(
                f"the tensor {type_} has {type_.numel:,} elements, more than a 64-bit size can count", span
            )
        name = ".".join([*(s.name for s in scopes), self.fresh(scopes, base)])
        self.nodes.append(Node(name, op, inputs, type_, span, scopes))
        self.types[name] = type_
        return name

    # -- application of layer values

    def inst(self, layer: Layer, x: str, scopes: tuple[Scope, ...]) -> str:
        if isinstance(layer, LSeq):
            for item in layer.items:
                x = self.inst(item, x, scopes)
            return x
        if isinstance(layer, LRepeat):
            if layer.count > self.limits.max_repeat:
                raise LimitError(
                    f"repeat count {layer.count:,} is over the limit of {self.limits.max_repeat:,}", layer.span
                )
            for _ in range(layer.count):
                x = self.inst(layer.body, x, scopes)
            return x
        if isinstance(layer, LCall):
            return self.call_block(layer, x, scopes) if layer.block else self.call_op(layer, x, scopes)
        if isinstance(layer, LMerge):
            outs = [self.inst(b, x, scopes) for b in layer.branches]
            return self.merge(layer.op, outs, [b.span for b in layer.branches], layer.span, scopes)
        if isinstance(layer, LResidual):
            return self.residual(layer, x, scopes)
        raise AssertionError(f"unknown layer value {layer!r}")

    def call_op(self, c: LCall, x: str, scopes) -> str:
        cls = c.op
        xt = self.types[x]
        positional = [v for v, _ in c.args]
        keyword = {k: v for k, v, _ in c.kwargs}
        spans: dict[str | int, Span] = {k: s for k, _, s in c.kwargs}
        for i, (_, s) in enumerate(c.args):
            spans[i] = s
            if i < len(cls.args):
                spans[cls.args[i].name] = s
        if c.kernel is not None:
            k_index = next(i for i, a in enumerate(cls.args) if a.name == "k")
            if "k" in keyword or len(positional) > k_index:
                raise ArgumentError(
                    f"the kernel size is given twice: in the name '{c.name}' and as an argument",
                    spans.get("k", c.span),
                    hint=f"drop one: {c.name}(...) or {cls.name}(k=...)",
                )
            if len(c.kernel) > 1 and xt.rank and len(c.kernel) != xt.rank:
                raise ShapeError(
                    f"'{c.name}' is a {len(c.kernel)}D kernel, but the input {xt} has {xt.rank} spatial "
                    f"ax{'is' if xt.rank == 1 else 'es'}",
                    c.func_span,
                    hint=f"write {cls.name}{c.kernel[0]} for {c.kernel[0]} along every axis"
                    + (f", or a {xt.rank}-part size like {cls.name}{'x'.join([str(c.kernel[0])] * xt.rank)}" if xt.rank > 1 else ""),
                )
            keyword["k"] = c.kernel[0] if len(c.kernel) == 1 else c.kernel
        try:
            op = cls.make(cls.bind(positional, keyword), xt)
            if cls.elide:
                return x
            out = op.infer((xt,))
        except OpError as err:
            raise self._op_error(err, spans, c, xt) from None
        return self.emit(cls.name, op, (x,), out, c.span, scopes)

    def _op_error(self, err: OpError, spans, c: LCall, xt: TensorType) -> ArchError:
        span = spans.get(err.arg, c.span) if err.arg is not None else c.span
        cls = ShapeError if err.kind == "shape" else ArgumentError
        hint = err.hint
        if err.detail:
            hint = f"the input here is {xt}; " + (hint or "")
        return cls(err.message, span, hint=hint, detail=err.detail)

    def call_block(self, c: LCall, x: str, scopes) -> str:
        block = c.block
        assert block is not None
        active = [name for name, _ in self.stack]
        if block.name in active:
            cycle = " -> ".join(active[active.index(block.name):] + [block.name])
            raise DefinitionError(
                f"block '{block.name}' calls itself: {cycle}",
                c.func_span,
                hint="blocks cannot be recursive; use '* n' to repeat a block",
            )
        if len(self.stack) >= self.limits.max_block_depth:
            raise LimitError(f"blocks are nested more than {self.limits.max_block_depth} deep", c.span)
        env = self.bind_block(c, block)
        label = self.call_label(c, block, env)
        scope = Scope(self.fresh(scopes, block.name), label, block.name, c.span)
        self.stack.append((block.name, c.span))
        try:
            body = self.ev.layer(block.body, env, f"as the body of block {block.name}")
            return self.inst(body, x, (*scopes, scope))
        except ArchError as err:
            if len(err.notes) < 8:
                err.notes.append(Note(f"in {label}, called here", c.span))
            raise
        finally:
            self.stack.pop()

    def call_label(self, c: LCall, block: S.Block, env: dict[str, Value]) -> str:
        """`stage(64, 2)`: the call with its values, arguments equal to their defaults left out
        (trailing ones only, for positional arguments)."""
        defaults: dict[str, str] = {}
        scratch: dict[str, Value] = {}
        for p in block.params:
            if p.default is not None:
                try:
                    defaults[p.name] = show(self.ev.eval(p.default, dict(scratch)))
                except ArchError:
                    pass
            scratch[p.name] = env[p.name]
        positional = [show(v) for v, _ in c.args]
        while positional and defaults.get(block.params[len(positional) - 1].name) == positional[-1]:
            positional.pop()
        keyword = [f"{k}={show(v)}" for k, v, _ in c.kwargs if defaults.get(k) != show(v)]
        parts = positional + keyword
        return block.name + (f"({', '.join(parts)})" if parts else "")

    def bind_block(self, c: LCall, block: S.Block) -> dict[str, Value]:
        params = block.params
        if len(c.args) > len(params):
            extra_span = c.args[len(params)][1]
            names = ", ".join(p.name for p in params) or "no arguments"
            raise ArgumentError(
                f"block {block.name} takes {len(params)} argument{'s' if len(params) != 1 else ''} ({names}), "
                f"got {len(c.args)}",
                extra_span,
                notes=[Note(f"{block.name} is defined here", block.name_span)],
            )
        env: dict[str, Value] = {}
        for p, (v, _) in zip(params, c.args):
            env[p.name] = v
        by_name = {p.name for p in params}
        for k, v, span in c.kwargs:
            if k not in by_name:
                close = suggest(k, by_name)
                raise ArgumentError(
                    f"block {block.name} has no argument '{k}'",
                    span,
                    hint=(f"did you mean '{close}'? " if close else "")
                    + f"{block.name} takes: {', '.join(p.name for p in params) or 'no arguments'}",
                    notes=[Note(f"{block.name} is defined here", block.name_span)],
                )
            if k in env:
                raise ArgumentError(f"block {block.name}: argument '{k}' is given twice", span)
            env[k] = v
        for p in params:
            if p.name not in env:
                if p.default is None:
                    raise ArgumentError(
                        f"block {block.name} needs the argument '{p.name}'",
                        c.span,
                        notes=[Note(f"{block.name} is defined here", block.name_span)],
                    )
                env[p.name] = self.ev.eval(p.default, dict(env))
        return env

    def merge(self, op_cls: type[Op], outs: list[str], spans: list[Span], span: Span, scopes) -> str:
        types = tuple(self.types[o] for o in outs)
        try:
            op = op_cls.make(None, types)
            out = op.infer(types)
        except OpError as err:
            i = err.branch if err.branch is not None else 0
            j = err.other_branch if err.other_branch is not None else 0
            raise ShapeError(
                err.message,
                spans[i],
                hint=err.hint,
                notes=[Note(f"branch {j + 1} gives {types[j]}", spans[j])],
            ) from None
        return self.emit(op_cls.name, op, tuple(outs), out, span, scopes)

    def residual(self, r: LResidual, x: str, scopes) -> str:
        y = self.inst(r.body, x, scopes)
        xt, yt = self.types[x], self.types[y]
        short_span = r.span
        if r.shortcut is not None:
            scope = Scope(self.fresh(scopes, "shortcut"), "shortcut", "shortcut", r.shortcut.span)
            s = self.inst(r.shortcut, x, (*scopes, scope))
            short_span = r.shortcut.span
        elif xt == yt:
            s = x
        else:
            s = self.projection(r, x, xt, yt, scopes)
        return self.merge(lookup("add"), [y, s], [r.body.span, short_span], r.span, scopes)

    def projection(self, r: LResidual, x: str, xt: TensorType, yt: TensorType, scopes) -> str:
        """torchvision's shortcut: conv1x1(C_out, stride=s, bias=false) -> bn."""
        strides = []
        if xt.rank == 0 or xt.rank != yt.rank:
            raise ShapeError(
                f"residual: the body turns {xt} into {yt}, and no 1x1 convolution shortcut can match that",
                r.body.span,
                hint="give the shortcut yourself: residual(f, shortcut=...)",
            )
        for i, o in zip(xt.spatial, yt.spatial):
            s = -(-i // o)
            if -(-i // s) != o:
                raise ShapeError(
                    f"residual: no stride takes the input {xt} to the body's output {yt}",
                    r.body.span,
                    hint="give the shortcut yourself: residual(f, shortcut=...)",
                )
            strides.append(s)
        span = r.span
        stride = strides[0] if len(set(strides)) == 1 else tuple(strides)
        conv = LCall(span, "conv", span, lookup("conv"), None, None, (), (
            ("c", yt.channels, span), ("k", 1, span), ("stride", stride, span), ("bias", False, span)))
        bn = LCall(span, "bn", span, lookup("bn"), None, None)
        scope = Scope(self.fresh(scopes, "shortcut"), "shortcut", "shortcut", span)
        return self.inst(LSeq(span, (conv, bn)), x, (*scopes, scope))


def input_type(shape: S.Shape) -> TensorType:
    dims = shape.dims
    if len(dims) > 4:
        raise ShapeError(
            f"the input shape has {len(dims) - 1} spatial axes; archlang handles 0 to 3",
            shape.span,
            hint="write channels then up to 3 sizes: 3x224x224, 1x16000, 3x16x112x112",
        )
    for d in dims:
        if d < 1:
            raise ShapeError("every size in the input shape must be at least 1", shape.span)
        if d > 2**31 - 1:
            raise LimitError(f"the input size {d:,} is too large", shape.span, hint="sizes must fit in a 32-bit integer")
    t = TensorType(dims[0], tuple(dims[1:]))
    if t.numel > MAX_INT:
        raise LimitError(
            f"the input {t} has {t.numel:,} elements, more than a 64-bit size can count", shape.span
        )
    return t


def lower_network(net: S.Network, defs: Definitions, limits: Limits | None = None) -> Graph:
    """Lower one network definition to a verified IR graph; raises ArchError."""
    from .verify import verify

    limits = limits or Limits()
    builder = GraphBuilder(Evaluator(defs), limits)
    xt = input_type(net.shape)
    builder.nodes.append(Node("input", Input(xt), (), xt, net.shape.span))
    builder.types["input"] = xt
    try:
        body = builder.ev.layer(net.body, {}, f"as the body of network {net.name}")
        out = builder.inst(body, "input", ())
    except RecursionError:
        raise LimitError(
            "the spec nests too deeply to analyse", net.span, hint="reduce the nesting of blocks and parentheses"
        ) from None
    graph = Graph(net.name, tuple(builder.nodes), out, net.span)
    verify(graph)
    return graph
