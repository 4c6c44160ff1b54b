"""Lowering, step 1: expressions -> values (`values.py`).

Arithmetic is done here, names are resolved (block parameters, blocks, ops, `conv3x3`-style
names), and calls get their arguments evaluated; nothing is applied to a tensor yet, so no
shape is known and no op is made (that is `instantiate`).
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass, field

from .. import syntax as S
from ..errors import ArgumentError, DefinitionError, LimitError, Note, Span, UnknownNameError, suggest
from ..ops import REGISTRY, Op, lookup, split_suffix
from .holes import Assignment, HoleRef, NeedChoice, UnsolvedHole, key_of
from .limits import MAX_INT, Work
from .values import (
    LayerAssert, LayerCall, LayerChain, LayerMerge, LayerNamed, LayerRef, LayerRepeat, LayerResidual, LayerTuple, LayerValue,
    Value, kind_of, show,
)

__all__ = ["Definitions", "Evaluator", "SPECIAL_FORMS", "FRAME", "declared_values"]

SPECIAL_FORMS = ("residual",)  # built-in forms that are not ops: `residual(f)`
FRAME = "__frame__"  # the environment's key for the current Frame (spec names cannot start with __)
ORIGIN = "__origin__"  # and for the block bodies being evaluated (LayerCall.origin)
IN_C = "in_c"  # inside a single-input block: its input's channels


def declared_values(body: S.Expr, taken: dict[str, str], inputs: dict[str, Span]) -> dict[str, Span]:
    """The values a body names (`f as x`) and its inputs, by name, where each is defined;
    a name defined twice, or one that is already a parameter, a block or a layer, is an error
    at its definition. `taken` maps names the body cannot reuse to what they are."""
    declared = dict(inputs)
    stack = [body]
    while stack:
        e = stack.pop()
        if type(e) is S.As:
            if e.name in declared:
                raise DefinitionError(
                    f"the value '{e.name}' is defined twice",
                    e.name_span,
                    notes=[Note("first defined here", declared[e.name])],
                    hint="give each value its own name",
                )
            what = taken.get(e.name) or ("a layer" if lookup(e.name) or split_suffix(e.name) else None)
            if what or e.name in SPECIAL_FORMS or e.name == IN_C:
                raise DefinitionError(
                    f"'{e.name}' is {what or 'a built-in name'}; a value needs a name of its own",
                    e.name_span,
                    hint=f"write 'as {e.name}_out' or another new name",
                )
            declared[e.name] = e.name_span
            stack.append(e.body)
            continue
        parts = _PARTS.get(type(e))  # None for a leaf: a name, a number
        if parts is not None:
            stack.extend(reversed(parts(e)))  # popped in the order they are written
    return declared


_METHODS: dict[type, object] = {}  # expression class -> the Evaluator method for it (`lazy`)

# the expressions an expression holds, by its class (declared_values walks them)
_PARTS = {
    S.Chain: lambda e: e.items,
    S.Tuple: lambda e: e.items,
    S.Alt: lambda e: e.branches,
    S.Call: lambda e: (*e.args, *(k.value for k in e.kwargs)),
    S.BinOp: lambda e: (e.left, e.right),
    S.Neg: lambda e: (e.operand,),
    S.Not: lambda e: (e.operand,),
    S.If: lambda e: (e.cond, e.then, e.otherwise),
    S.For: lambda e: (e.count, e.body),
    S.Assert: lambda e: (e.body,),
}


@dataclass
class Definitions:
    """The blocks and networks visible to a program (its own and those it imports)."""

    blocks: dict[str, S.Block] = field(default_factory=dict)
    networks: dict[str, S.Network] = field(default_factory=dict)


def _pow(left, right):
    if abs(left) > 1 and right > 0 and right * math.log2(abs(left)) > 64:
        raise OverflowError
    return left**right


# numeric functions: name -> (fewest arguments, most arguments, what it does)
FUNCTIONS = {
    "min": (2, 64, "min(a, b, ...): the smallest number"),
    "max": (2, 64, "max(a, b, ...): the largest number"),
    "floor": (1, 1, "floor(x): the largest integer <= x"),
    "ceil": (1, 1, "ceil(x): the smallest integer >= x"),
    "round": (1, 1, "round(x): the nearest integer, halves to even (as Python rounds)"),
}

COMPARISONS = {
    "==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
}

# the arithmetic of the language: Python's, with the results checked by `_check_number`
OPERATORS = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": operator.truediv,
    "//": operator.floordiv,
    "%": operator.mod,
    "**": _pow,
}


INTEGER_KINDS = ("channels", "int", "int0", "ints", "ints0")  # the op arguments a hole may stand for
ARG_WORDS = {"float": "a number", "pos_float": "a positive number", "prob": "a probability", "bool": "true or false",
             "like": "a named value"}


class Evaluator:
    def __init__(self, defs: Definitions, work: Work, limits_repeat: int = 100_000,
                 holes: Assignment | None = None) -> None:
        self.defs = defs
        self.work = work
        self.limits_repeat = limits_repeat  # Limits.max_repeat, for 'for' counts
        self.holes = holes  # the solver's values for holes; None: a hole is an error
        self.builtins: dict[str, tuple | None] = {}  # name -> (op, kernel) of a built-in layer, or None

    def builtin(self, name: str) -> tuple[type[Op], tuple[int, ...] | None] | None:
        """(op, kernel) where `name` is a built-in layer, `relu` or `conv3x3`; None otherwise."""
        known = self.builtins.get(name, self)
        if known is self:
            op = lookup(name)
            known = self.builtins[name] = (op, None) if op is not None else split_suffix(name)
        return known

    def known_names(self, env: dict[str, Value]) -> list[str]:
        frame = env.get(FRAME)
        values = list(frame.declared) if frame else []
        return [*(k for k in env if not k.startswith("__")), *values, *self.defs.blocks, *REGISTRY, *SPECIAL_FORMS,
                *FUNCTIONS,
                "conv3x3", "conv1x1", "maxpool3x3"]

    def eval(self, e: S.Expr, env: dict[str, Value]) -> Value:
        value = self.lazy(e, env)
        if isinstance(value, HoleRef):
            raise NeedChoice(value)
        return value

    def lazy(self, e: S.Expr, env: dict[str, Value]) -> Value:
        """Like eval, but an unassigned hole stays a HoleRef (call arguments take it so)."""
        method = _METHODS.get(type(e))
        if method is None:
            method = _METHODS[type(e)] = getattr(Evaluator, "_" + type(e).__name__)
        return method(self, e, env)

    def layer(self, e: S.Expr, env: dict[str, Value], what: str = "here") -> LayerValue:
        if isinstance(e, S.Hole):
            raise ArgumentError(
                f"expected a layer {what}, but a hole stands for a whole number", e.span,
                hint="holes go where a number goes: an argument (conv(?, k=?)) or a repeat count (block * ?)",
            )
        return self.checked_layer(e, self.lazy(e, env), what)

    def checked_layer(self, e: S.Expr, value: Value, what: str) -> LayerValue:
        """`value`, the value of `e`, if it is a layer; else the error `layer` gives."""
        if isinstance(value, HoleRef):
            raise ArgumentError(
                f"expected a layer {what}, but the hole {value} given for it stands for a whole number", value.span,
                hint="holes go where a number goes: an argument (conv(?, k=?)) or a repeat count (block * ?)",
            )
        if not isinstance(value, LayerValue):
            raise ArgumentError(
                f"expected a layer {what}, got {kind_of(value)} ({show(value)})",
                e.span,
                hint="a chain is made of layers and blocks such as conv3x3(64) or relu",
            )
        return value

    def number(self, e: S.Expr, env: dict[str, Value]) -> int | float:
        value = self.eval(e, env)
        if type(value) is bool or not isinstance(value, (int, float)):
            raise ArgumentError(f"expected a number, got {kind_of(value)} ({show(value)})", e.span)
        return value

    def _Num(self, e: S.Num, env):
        return _check_number(e.value, e.span)

    def _Bool(self, e: S.Bool, env):
        return e.value

    def _Tuple(self, e: S.Tuple, env):
        items = [self.eval(item, env) for item in e.items]
        layers = [isinstance(v, LayerValue) for v in items]
        if all(layers):
            return LayerTuple(e.span, tuple(items))
        for item, value in zip(e.items, items):
            if isinstance(value, LayerValue) or type(value) is bool or not isinstance(value, (int, float)):
                raise ArgumentError(
                    f"a tuple holds numbers, k=(1, 3), or values, (c3, c4); this one has {kind_of(value)} "
                    f"({show(value)}) among {'layers' if any(layers) else 'numbers'}",
                    item.span,
                )
        return tuple(items)

    def _As(self, e: S.As, env):
        frame = env[FRAME]
        return LayerNamed(e.span, self.layer(e.body, env, f"before 'as {e.name}'"), e.name, e.name_span, frame)

    def _Assert(self, e: S.Assert, env):
        return LayerAssert(e.span, self.layer(e.body, env, f"before ': {e.shape.text()}'"), e.shape)

    def _Hole(self, e: S.Hole, env):
        if self.holes is None:
            raise UnsolvedHole(
                f"{'?' + e.name if e.name else '?'} leaves a value open, and analysing the network needs every value",
                e.span,
                hint="`archlang solve FILE -n NETWORK` finds the values that meet the network's assertions, "
                "output shape and budgets; write the one you choose here (solve -o does it)",
            )
        return self.holes.value(key_of(e.name, e.span), e.span)

    def _Name(self, e: S.Name, env):
        return self.resolve(e.id, e.span, env)

    def resolve(self, name: str, span: Span, env: dict[str, Value]) -> Value:
        if name in env and not name.startswith("__"):
            return env[name]
        frame = env.get(FRAME)
        if frame is not None and name in frame.declared:
            return LayerRef(span, name, frame)
        if name in self.defs.blocks:
            return LayerCall(span, name, span, None, self.defs.blocks[name], None, origin=env.get(ORIGIN, ()))
        if name in self.defs.networks:
            raise DefinitionError(
                f"'{name}' is a network, and networks cannot be used as layers",
                span,
                hint=f"move the body of {name} into a block and use the block in both places",
            )
        known = self.builtin(name)
        if known is not None:
            if known[0].merge:  # merges what flows in: `(a, b) -> add`
                return LayerMerge(span, known[0], ())
            return LayerCall(span, name, span, known[0], None, known[1])
        if name in SPECIAL_FORMS:
            raise ArgumentError(f"{name} needs a body: {name}(f)", span, hint="residual(f) adds f's output to its input")
        python = {"True": "write true (lowercase)", "False": "write false (lowercase)",
                  "None": "leave the argument out for its default, or write identity for no layer"}
        if name in python:
            raise UnknownNameError(f"'{name}' is Python, not .arch", span, hint=python[name])
        close = suggest(name, self.known_names(env))
        raise UnknownNameError(
            f"unknown layer or block '{name}'",
            span,
            hint=f"did you mean '{close}'?" if close else "see docs/language.md for the list of layers",
        )

    def _Call(self, e: S.Call, env):
        func = e.func
        builtin = func not in env and func not in self.defs.blocks  # not shadowed by the spec
        if builtin and func in SPECIAL_FORMS:
            return self._residual(e, env)
        if builtin and func in FUNCTIONS:
            return self._function(e, env)
        op = lookup(func) if builtin else None
        if op is not None and op.merge:
            return self._merge(e, op, env)
        holes = False
        for a in e.args:
            if type(a) is S.Alt:
                raise ArgumentError(
                    f"'|' separates branches, and '{func}' takes none",
                    a.span,
                    hint="only merges take branches: add(a | b), concat(a | b)",
                )
            holes = holes or type(a) is S.Hole
        if op is not None and (holes or any(type(k.value) is S.Hole for k in e.kwargs)):
            _check_holes(op, e)
        lazy = self.lazy
        args = tuple([(lazy(a, env), a.span) for a in e.args])
        kwargs = ()
        if e.kwargs:
            kwargs = tuple([(k.name, lazy(k.value, env), k.name_span.to(k.value.span)) for k in e.kwargs])
            seen: set[str] = set()
            for k in e.kwargs:
                if k.name in seen:
                    raise ArgumentError(f"argument '{k.name}' is given twice", k.name_span)
                seen.add(k.name)
        frame = env.get(FRAME)
        if builtin and func not in self.defs.networks and (frame is None or func not in frame.declared):
            known = self.builtin(func)  # most calls: a built-in layer, as resolve would find it
            if known is not None:
                return LayerCall(e.span, func, e.func_span, known[0], None, known[1], args, kwargs)
        callee = self.resolve(func, e.func_span, env)
        if not isinstance(callee, LayerCall):
            what = (f"{kind_of(callee)} ({show(callee)})" if not isinstance(callee, LayerValue)
                    else "a named value" if isinstance(callee, LayerRef) else "a composed layer")
            raise ArgumentError(
                f"'{e.func}' is {what} and cannot be called",
                e.func_span,
                hint="only layers, blocks and parameters holding a plain layer or block name take arguments",
            )
        if callee.args or callee.kwargs:
            raise ArgumentError(
                f"'{e.func}' already has its arguments ({show(callee)}); it cannot take more",
                e.func_span,
            )
        return LayerCall(e.span, callee.name, e.func_span, callee.op, callee.block, callee.kernel, args, kwargs,
                         callee.origin)

    def _function(self, e: S.Call, env):
        """min, max, floor, ceil, round: arithmetic that channel counts and repeats need
        (EfficientNet's widths round to multiples of 8, its depths up)."""
        low, high, _ = FUNCTIONS[e.func]
        if e.kwargs:
            k = e.kwargs[0]
            raise ArgumentError(f"{e.func} takes no keyword arguments", k.name_span.to(k.value.span))
        if not low <= len(e.args) <= high:
            count = f"{low}" if low == high else f"at least {low}"
            raise ArgumentError(f"{e.func} takes {count} argument{'s' if high > 1 else ''}, got {len(e.args)}",
                                e.span, hint=FUNCTIONS[e.func][2])
        values = [self.number(a, env) for a in e.args]
        if e.func in ("min", "max"):
            return (min if e.func == "min" else max)(values)
        (x,) = values
        value = {"floor": math.floor, "ceil": math.ceil, "round": round}[e.func](x)
        return _check_number(value, e.span)

    def _merge(self, e: S.Call, op: type[Op], env) -> LayerMerge:
        # one fault, one message: keyword arguments, then extra arguments, then the branches
        if e.kwargs:
            k = e.kwargs[0]
            raise ArgumentError(
                f"{e.func} takes no keyword arguments, only branches",
                k.name_span.to(k.value.span),
                hint=f"drop '{k.name}=...'; write {e.func}(a | b)",
            )
        if len(e.args) != 1:
            raise ArgumentError(
                f"{e.func} takes its branches separated by '|', not ','" if e.args else f"{e.func} needs branches",
                e.args[1].span if len(e.args) > 1 else e.span,
                hint=f"write {e.func}(a | b), e.g. {e.func}(conv3x3 | identity)",
            )
        if not isinstance(e.args[0], S.Alt):
            raise ArgumentError(
                f"{e.func} needs at least two branches, separated by '|'",
                e.args[0].span,
                hint=f"write {e.func}(a | b); add(f | identity) adds f's output to its input",
            )
        branches = tuple(self.layer(b, env, f"as a branch of {e.func}") for b in e.args[0].branches)
        return LayerMerge(e.span, op, branches)

    def _residual(self, e: S.Call, env) -> LayerResidual:
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
        return LayerResidual(e.span, self.layer(e.args[0], env, "as the body of residual"), shortcut)

    def _Chain(self, e: S.Chain, env):
        items: list[LayerValue] = []
        for item in e.items:
            if type(item) is S.Name or type(item) is S.Call:  # most items: `layer`, with a layer call first
                value = self.lazy(item, env)
                if type(value) is not LayerCall:
                    value = self.checked_layer(item, value, "in a chain")
            else:
                value = self.layer(item, env, "in a chain")
            items.extend(value.items if isinstance(value, LayerChain) else (value,))
        self.work.spend(len(items), e.span)  # flattening copies: a chain passed down doubles
        return LayerChain(e.span, tuple(items))

    def _Alt(self, e: S.Alt, env):
        raise ArgumentError(
            "'|' separates the branches of add(...) or concat(...)",
            e.span,
            hint="write add(a | b) to sum two branches, concat(a | b) to stack their channels",
        )

    def condition(self, e: S.Expr, env, what: str) -> bool:
        value = self.eval(e, env)
        if type(value) is not bool:
            raise ArgumentError(
                f"{what} must be true or false, got {kind_of(value)} ({show(value)})",
                e.span,
                hint="compare numbers to get a condition: t == 1, stride > 1, c != in_c",
            )
        return value

    def _For(self, e: S.For, env):
        count = self.eval(e.count, env)
        if type(count) is not int or count < 0:
            raise ArgumentError(f"'for' counts with an integer of at least 0, got {kind_of(count)} ({show(count)})",
                                e.count.span, hint="for i in 3: stage(64 * 2 ** i)")
        if count > self.limits_repeat:
            raise LimitError(f"a 'for' of {count:,} steps is over the limit of {self.limits_repeat:,}", e.count.span)
        items: list[LayerValue] = []
        for i in range(count):
            value = self.layer(e.body, {**env, e.name: i}, "as the body of 'for'")
            items.extend(value.items if isinstance(value, LayerChain) else (value,))
            self.work.spend(1, e.span)
        return LayerChain(e.span, tuple(items))

    def _If(self, e: S.If, env):
        return self.eval(e.then if self.condition(e.cond, env, "the condition of 'if'") else e.otherwise, env)

    def _Not(self, e: S.Not, env):
        return not self.condition(e.operand, env, "the operand of 'not'")

    def _logic(self, e: S.BinOp, env) -> bool:
        left = self.condition(e.left, env, f"the left side of '{e.op}'")
        if (e.op == "and") != left:  # false and ..., true or ...: decided
            return left
        return self.condition(e.right, env, f"the right side of '{e.op}'")

    def _compare(self, e: S.BinOp, env) -> bool:
        left, right = self.eval(e.left, env), self.eval(e.right, env)
        for side, value in ((e.left, left), (e.right, right)):
            if isinstance(value, LayerValue):
                raise ArgumentError(f"'{e.op}' compares numbers, booleans and tuples, not layers", side.span)
        if e.op not in ("==", "!=") and (type(left) is bool or type(right) is bool
                                          or not isinstance(left, (int, float)) or not isinstance(right, (int, float))):
            raise ArgumentError(f"'{e.op}' compares numbers", e.op_span)
        return COMPARISONS[e.op](left, right)

    def _Neg(self, e: S.Neg, env):
        return _check_number(-self.number(e.operand, env), e.span)

    def _BinOp(self, e: S.BinOp, env):
        if e.op in ("and", "or"):
            return self._logic(e, env)
        if e.op in COMPARISONS:
            return self._compare(e, env)
        left = self.eval(e.left, env)
        if isinstance(left, LayerValue):
            if e.op != "*":
                raise ArgumentError(f"'{e.op}' does not apply to layers", e.op_span, hint="join layers with '->'")
            count = self.lazy(e.right, env)
            if isinstance(count, HoleRef):
                raise NeedChoice(count, purpose="repeat")
            if type(count) is not int:
                raise ArgumentError(
                    f"a repeat count must be an integer, got {kind_of(count)} ({show(count)})", e.right.span
                )
            if count < 0:
                raise ArgumentError(
                    f"negative repeat count {count}", e.right.span, hint="'* 0' leaves the input unchanged; counts must be >= 0"
                )
            return LayerRepeat(e.span, left, count)
        if not isinstance(left, (int, float)) or type(left) is bool:
            raise ArgumentError(f"'{e.op}' does not apply to {kind_of(left)}", e.op_span)
        right = self.eval(e.right, env)
        if isinstance(right, LayerValue) and e.op == "*":
            raise ArgumentError(
                "the repeat count goes after the layer", e.span, hint=f"write {show(right)} * {show(left)}"
            )
        if not isinstance(right, (int, float)) or type(right) is bool:
            raise ArgumentError(f"'{e.op}' does not apply to {kind_of(right)}", e.right.span)
        try:
            value = OPERATORS[e.op](left, right)
        except ZeroDivisionError:
            raise ArgumentError("division by zero", e.right.span) from None
        except OverflowError:
            raise LimitError("the number is too large", e.span, hint=f"numbers are limited to {MAX_INT:,}") from None
        if isinstance(value, complex):
            raise ArgumentError("the result is not a real number", e.span)
        return _check_number(value, e.span)


def _check_holes(op: type[Op], e: S.Call) -> None:
    """A hole stands for a whole number: refuse one where the op takes something else."""
    given = [(spec, a) for spec, a in zip(op.args, e.args)]
    by_name = {spec.name: spec for spec in op.args}
    given += [(by_name[k.name], k.value) for k in e.kwargs if k.name in by_name]
    for spec, a in given:
        if isinstance(a, S.Hole) and spec.kind not in INTEGER_KINDS:
            raise ArgumentError(
                f"a hole stands for a whole number, but {op.name}'s '{spec.name}' is {ARG_WORDS.get(spec.kind, spec.kind)}",
                a.span,
                hint="holes go in integer arguments: channels, kernel, stride, pad, dilation, groups, widths, repeats",
            )


def _check_number(value, span: Span):
    if isinstance(value, int) and abs(value) > MAX_INT:
        raise LimitError("the number is too large", span, hint=f"numbers are limited to {MAX_INT:,}")
    if isinstance(value, float) and not math.isfinite(value):
        raise LimitError("the number is too large", span)
    return value
