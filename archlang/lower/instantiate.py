"""Lowering, step 2: layer values applied to tensors -> IR nodes.

This is where shapes become known: each op call is bound and made against its input type
(`Op.bind`, `Op.make`), blocks are expanded into scopes, repeats unrolled, residual shortcuts
chosen, and every node gets its type and its name. An op call written again on the same input
is made once (`made`); a block call made again is copied from its first expansion
(expansions.py).

Naming rule: in each scope (the network, or one block instance) the n-th layer of op `conv`
is `conv{n}` and the n-th instance of block `stage` is `stage{n}`; where the base name ends
in a digit or '_', a '_' goes before the counter (block `fc1` gives `fc1_1`, `fc1_2`), so
that no two (base, n) pairs give the same name. A node's name is the dotted path of its
scopes and its own name (`stage2.conv1`), as state_dict keys will read. A counter skips the
names of the network's inputs (`network n(conv1 : ...)` makes its first conv `conv2`).

What flows along a chain is one node's name, a tuple of them (several values, from a tuple
or a multi-input network's start), or nothing (the start of a body with several inputs,
before a named input is used). Named values live in `Frame`s, one per network and per block
instance; a frame is checked when its body is done: every named value must have been used.
"""

from __future__ import annotations

from .. import syntax as S
from ..errors import ArchError, ArgumentError, DefinitionError, LimitError, Note, ShapeError, Span, suggest
from ..ir import Assertion, Node, Scope, TensorType
from ..ops import Op, OpError, lookup
from ..ops.base import LayerOf
from .evaluate import FRAME, IN_C, ORIGIN, Evaluator, declared_values
from .expansions import Expansion, input_key, plain
from .assertions import AssertionFailed, asserted_calls, shape_difference, shape_matches
from .holes import CallSite, HoleRef, NeedChoice
from .labels import call_label
from .limits import MAX_INT, Limits, Work
from .values import (
    Frame, LayerAssert, LayerCall, LayerChain, LayerMerge, LayerNamed, LayerRef, LayerRepeat, LayerResidual, LayerTuple,
    LayerValue, Value, key,
)

__all__ = ["GraphBuilder", "counted_name", "Flow", "check_used", "PROJECTION"]

PROJECTION = "projection"  # the identity tag of a shortcut scope that residual() inserted

Flow = "str | tuple[str, ...] | None"  # what flows along a chain: one value, several, or none


def counted_name(base: str, n: int) -> str:
    """The n-th name made from `base` in a scope: `conv3`, `fc1_2` (see the module docstring)."""
    return f"{base}_{n}" if base[-1:].isdigit() or base.endswith("_") else f"{base}{n}"


class GraphBuilder:
    def __init__(self, evaluator: Evaluator, limits: Limits, work: Work) -> None:
        self.ev = evaluator
        self.limits = limits
        self.work = work
        self.nodes: list[Node] = []
        self.types: dict[str, TensorType] = {}
        self.ops: dict[str, Op] = {}  # every layer node's op, for arguments that name a layer (tie=)
        self.counter_of: dict[int, tuple] = {}  # id of a block instance's Scope -> (it, its names' counts)
        self.top_counter: dict[str, int] = {}  # the network's own names' counts
        self.prefixes: dict[str, str] = {}  # a base name -> what its counted names start with (`conv`, `fc1_`)
        self.paths: dict[int, tuple[Scope, str]] = {}  # id of a block instance's Scope -> (it, its dotted path)
        self.expansions: dict[tuple, Expansion] = {}  # (id of a block, its call's identity, input types) -> one
        self.deepest = 0  # the most block calls open at once in the call being lowered (Expansion.nesting)
        self.declared_of: dict[int, tuple] = {}  # id of a block -> (it, the values its body declares)
        self.stack: list[tuple[str, Span]] = []  # active block calls
        self.reserved: set[str] = set()  # the network's input names, which counters skip
        self.targets: dict[int, S.Shape] = {}  # id(op call) -> the shape an assertion right after it asks
        self.assertions: list[Assertion] = []  # every assertion checked, for the graph
        self.lenient = False  # keep failed assertions in `failed` instead of raising
        # (op class, arguments, input type) -> (op, output type): a layer written again with the
        # same arguments on the same input (a long chain's conv3x3(64) -> bn -> relu) is one op,
        # bound, checked and typed once; ops are immutable, so nodes share them
        self.made: dict[tuple, tuple] = {}
        self.failed: list[ArchError] = []

    # -- naming

    def fresh(self, scopes: tuple[Scope, ...], base: str) -> str:
        if scopes:  # names are counted per block instance (each its own Scope)
            owner = scopes[-1]
            known = self.counter_of.get(id(owner))
            if known is None or known[0] is not owner:
                known = self.counter_of[id(owner)] = (owner, {})
            counter = known[1]
        else:
            counter = self.top_counter
        while True:
            n = counter[base] = counter.get(base, 0) + 1
            prefix = self.prefixes.get(base)
            if prefix is None:
                prefix = self.prefixes[base] = counted_name(base, 0)[:-1]
            name = f"{prefix}{n}"
            if scopes or name not in self.reserved:
                return name

    def emit(self, base: str, op: Op, inputs: tuple[str, ...], type_: TensorType, span: Span, scopes) -> str:
        if len(self.nodes) > self.limits.max_nodes:  # nodes[0] is the input
            raise LimitError(
                f"the network has more than {self.limits.max_nodes:,} layers",
                span,
                hint="check the repeat counts; the limit can be raised (Limits.max_nodes, --max-nodes)",
            )
        if type_.numel > MAX_INT:
            raise LimitError(
                f"the tensor {type_} has {type_.numel:,} elements, more than a 64-bit size can count", span
            )
        return self.node(base, op, inputs, type_, span, scopes)

    def node(self, base: str, op: Op, inputs: tuple[str, ...], type_: TensorType, span: Span, scopes) -> str:
        """`emit` for a type emitted before (a layer made again from `made`): checked then."""
        if len(self.nodes) > self.limits.max_nodes:
            self.emit(base, op, inputs, type_, span, scopes)  # raises the limit's error
        name = self.fresh(scopes, base)
        if scopes:
            name = f"{self.paths[id(scopes[-1])][1]}.{name}"
        self.nodes.append(Node(name, op, inputs, type_, span, scopes))
        self.types[name] = type_
        self.ops[name] = op
        return name

    # -- application of layer values

    def enter(self, scopes: tuple[Scope, ...], scope: Scope) -> tuple[Scope, ...]:
        """`scopes` with a new block instance inside, its dotted path kept for its nodes' names."""
        path = f"{self.paths[id(scopes[-1])][1]}.{scope.name}" if scopes else scope.name
        self.paths[id(scope)] = (scope, path)
        return (*scopes, scope)

    def one(self, x, layer: LayerValue, what: str) -> str:
        """The single value a layer needs, or an error that says what arrives instead."""
        if isinstance(x, str):
            return x
        if x is None:
            raise ShapeError(
                f"nothing flows into {what} here",
                layer.span,
                hint="with several inputs, each path starts from one of them by name: left -> ...",
            )
        raise ShapeError(
            f"{what} takes one value, but {len(x)} arrive ({', '.join(self.shown(v) for v in x)})",
            layer.span,
            hint="join them first (concat, add, mul), or pass them to a block declared with several inputs",
        )

    def check_shape(self, node: str, shape: S.Shape, how: str) -> None:
        """AssertionFailed at `shape` unless `node`'s type has it (`?` matches any size); with
        `lenient` (a diagram of a failing spec), the failure is kept and lowering goes on."""
        t = self.types[node]
        holds = shape_matches(t, shape)
        self.assertions.append(Assertion(node, shape.text(), holds, shape.span))
        if holds:
            return
        producer = next(n for n in reversed(self.nodes) if n.name == node)
        made = "the input" if not producer.inputs else f"{producer.name} ({producer.op.label()})"
        err = AssertionFailed(
            f"the shape here is {t}, not {shape.text()} as {how}",
            shape.span, got=t, expected=shape,
            notes=[Note(f"{t} is what {made} gives", producer.span)],
            detail=shape_difference(t, shape),
            hint="change the layers before it to give this shape, or the assertion to say what they give",
        )
        if not self.lenient:
            raise err
        self.failed.append(err)

    def shown(self, node: str) -> str:
        return f"{node.rpartition('.')[2]} {self.types[node]}"

    def inst(self, layer: LayerValue, x, scopes: tuple[Scope, ...]):
        self.work.spend(1, layer.span)
        if type(layer) is LayerCall:  # most layers: tested first
            return self.call_block(layer, x, scopes) if layer.block else self.call_op(layer, x, scopes)
        if isinstance(layer, LayerRef):
            frame = layer.frame
            if layer.name not in frame.values:
                raise DefinitionError(
                    f"the value '{layer.name}' is used before it is defined",
                    layer.span,
                    notes=[Note("it is defined here", frame.declared[layer.name])],
                    hint="a name can be used after the place that defines it (`f as x`), not before",
                )
            frame.used.add(layer.name)
            return frame.values[layer.name]
        if isinstance(layer, LayerNamed):
            y = self.inst(layer.body, x, scopes)
            frame = layer.frame
            if layer.name in frame.values and frame.bound_at[layer.name] != layer.name_span:
                raise DefinitionError(f"the value '{layer.name}' is defined twice", layer.name_span)
            frame.values[layer.name] = y
            frame.bound_at[layer.name] = layer.name_span
            return y
        if isinstance(layer, LayerTuple):
            return tuple(self.one(self.inst(item, x, scopes), item, "a tuple item") for item in layer.items)
        if isinstance(layer, LayerAssert):
            if self.ev.holes is not None:  # the solver keeps only the values that give this shape
                asserted_calls(layer, None, self.targets)
            y = self.inst(layer.body, x, scopes)
            self.check_shape(self.one(y, layer, "a shape assertion"), layer.shape, "asserted")
            return y
        if isinstance(layer, LayerChain):
            if self.ev.holes is not None:
                asserted_calls(layer, None, self.targets)
            work = self.work
            for item in layer.items:
                if type(item) is LayerCall and item.block is None and work.left > 0:  # most: one op, one step
                    work.left -= 1
                    x = self.call_op(item, x, scopes)
                else:
                    x = self.inst(item, x, scopes)
            return x
        if isinstance(layer, LayerRepeat):
            if layer.count > self.limits.max_repeat:
                raise LimitError(
                    f"repeat count {layer.count:,} is over the limit of {self.limits.max_repeat:,}", layer.span
                )
            for _ in range(layer.count):
                x = self.inst(layer.body, x, scopes)
            return x
        if isinstance(layer, LayerMerge):
            if not layer.branches:  # `(a, b) -> add`: what flows in is merged
                if not isinstance(x, tuple) or len(x) < 2:
                    raise ArgumentError(
                        f"{layer.op.name} needs branches, {layer.op.name}(a | b), or several values flowing in",
                        layer.span,
                        hint=f"write {layer.op.name}(a | b), or (a, b) -> {layer.op.name}",
                    )
                return self.merge(layer.op, list(x), [layer.span] * len(x), layer.span, scopes)
            outs = [self.one(self.inst(b, x, scopes), b, f"a branch of {layer.op.name}") for b in layer.branches]
            return self.merge(layer.op, outs, [b.span for b in layer.branches], layer.span, scopes)
        if isinstance(layer, LayerResidual):
            return self.residual(layer, self.one(x, layer, "residual"), scopes)
        raise AssertionError(f"unknown layer value {layer!r}")

    def call_op(self, c: LayerCall, x, scopes) -> str:
        cls = c.op
        x = x if type(x) is str else self.one(x, c, c.name)
        xt = self.types[x]
        if not c.args and not c.kwargs and c.kernel is None:  # relu, bn, identity: most layers, made before
            made = self.made.get((cls, (), (), xt))
            if made is not None:
                return x if made[1] is None else self.node(cls.name, made[0], (x,), made[1], c.span, scopes)
            written = None
        else:  # conv3x3(64): the call as written, where its values are plain data, made before?
            written = _written(c, xt)
            made = None if written is None else self.made.get(written)
            if made is not None:
                return x if made[1] is None else self.node(cls.name, made[0], (x,), made[1], c.span, scopes)
        kinds = {a.name: a.kind for a in cls.args}

        def like(value, kind):  # a named value for a "like" argument: its type; "layer": its layer
            if kind == "like" and isinstance(value, LayerRef):
                return self.types[self.one(self.inst(value, x, scopes), value, "like=")]
            if kind == "layer" and isinstance(value, LayerRef):
                made = self.one(self.inst(value, x, scopes), value, "tie=")
                return LayerOf(made, self.ops[made]) if made in self.ops else value
            return value

        positional = [like(v, cls.args[i].kind if i < len(cls.args) else None) for i, (v, _) in enumerate(c.args)]
        keyword = {k: like(v, kinds.get(k)) for k, v, _ in c.kwargs}
        spans: dict[str | int, Span] = {k: s for k, _, s in c.kwargs}
        for i, (_, s) in enumerate(c.args):
            spans[i] = s
            if i < len(cls.args):
                spans[cls.args[i].name] = s
        if c.kernel is not None:
            k_index = [a.name for a in cls.args].index("k")
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
        for v in [*positional, *keyword.values()]:
            if isinstance(v, HoleRef):  # the solver tries this call's values itself
                raise NeedChoice(v, CallSite(cls, c.name, positional, keyword, xt, c.span), target=self.targets.get(id(c)))
        key = (cls, tuple(map(_typed, positional)), tuple((k, _typed(v)) for k, v in keyword.items()), xt)
        try:
            made = self.made.get(key)
        except TypeError:  # a value that is not plain data (a layer for tie=): made each time
            key, made = None, None
        if made is None:
            try:
                cls.check_input(xt)
                op = cls.make(cls.bind(positional, keyword), xt)
                out = None if cls.elide else op.infer((xt,))
                # a shape kept (bn, relu, conv3x3 with padding) is the input's own type object:
                # the next layer's lookups then find it by identity, with no comparison
                made = (op, xt if out is not None and out is not xt and out == xt else out)
            except OpError as err:
                raise self._op_error(err, spans, c, xt) from None
            if key is not None:
                self.made[key] = made
            if written is not None:
                self.made[written] = made
        op, out = made
        return x if out is None else self.emit(cls.name, op, (x,), out, c.span, scopes)

    def _op_error(self, err: OpError, spans, c: LayerCall, xt: TensorType) -> ArchError:
        span = spans.get(err.arg, c.span) if err.arg is not None else c.span
        cls = ShapeError if err.kind == "shape" else ArgumentError
        hint = err.hint
        if err.detail:
            hint = f"the input here is {xt}; " + (hint or "")
        return cls(err.message, span, hint=hint, detail=err.detail)

    def call_block(self, c: LayerCall, x, scopes):
        block = c.block
        assert block is not None
        if block.inputs:
            if not isinstance(x, tuple) or len(x) != len(block.inputs):
                got = "nothing" if x is None else "one value" if isinstance(x, str) else f"{len(x)} values"
                raise ShapeError(
                    f"block {block.name} takes {len(block.inputs)} inputs "
                    f"({', '.join(n for n, _ in block.inputs)}), but {got} arrive{'s' if isinstance(x, str) else ''}",
                    c.span,
                    notes=[Note(f"{block.name} is defined here", block.name_span)],
                    hint=f"pass a tuple: ({', '.join(n for n, _ in block.inputs)}) -> {block.name}(...)",
                )
        elif type(x) is not str:
            x = self.one(x, c, f"block {block.name}")
        if block.name in c.origin:
            cycle = " -> ".join([*c.origin[c.origin.index(block.name):], block.name])
            raise DefinitionError(
                f"block '{block.name}' calls itself: {cycle}",
                c.func_span,
                hint="blocks cannot be recursive; use '* n' to repeat a block",
            )
        if len(self.stack) >= self.limits.max_block_depth:
            raise LimitError(f"blocks are nested more than {self.limits.max_block_depth} deep", c.span)
        known = self.declared_of.get(id(block))  # the same for every call of the block: found once
        if known is None or known[0] is not block:
            inputs = {name: span for name, span in block.inputs}
            taken = {p.name: f"a parameter of block {block.name}" for p in block.params}
            taken.update({b: "a block" for b in self.ev.defs.blocks})
            known = self.declared_of[id(block)] = (block, declared_values(block.body, taken, inputs),
                                                   f"as the body of block {block.name}")
        if block.params or c.args or c.kwargs:
            env = self.bind_block(c, block, None if block.inputs else self.types[x])
            label = call_label(c, block) if c.args or c.kwargs else block.name
            identity = (block.name, tuple(key(env[p.name]) for p in block.params))
        else:  # a block without parameters: its environment is made only if its body is lowered
            env, label, identity = None, block.name, (block.name, ())
        memo = self.memo_key(block, env, identity, x)
        if memo is not None:
            done = self.expansions.get(memo)
            if done is not None and done.block is block and done.fits(self):
                template = done.read(self.nodes, self.assertions)
                if template:
                    name = self.fresh(scopes, block.name)
                    path = f"{self.paths[id(scopes[-1])][1]}.{name}" if scopes else name
                    self.work.left -= done.steps
                    return done.copy(template, self, (*scopes, Scope(name, label, block.name, c.span, identity)),
                                     path, (x,) if type(x) is str else x)
        if env is None:
            env = self.bind_block(c, block, None if block.inputs else self.types[x])
        return self.lower_block(c, block, env, known, label, identity, scopes, x, memo)

    def memo_key(self, block: S.Block, env, identity: tuple, x) -> tuple | None:
        """The key of a block call in `expansions`, or None where its expansion cannot be copied
        (lower/expansions.py says when)."""
        if self.lenient or self.ev.holes is not None:
            return None
        if env is not None and not all(plain(env[p.name]) for p in block.params):
            return None
        types_in = (self.types[x],) if type(x) is str else input_key(self, x)
        return None if types_in is None else (id(block), identity, types_in)

    def lower_block(self, c: LayerCall, block: S.Block, env: dict, known: tuple, label: str, identity: tuple,
                    scopes, x, memo: tuple | None):
        """A block call lowered as written: its body evaluated in `env` and applied, inside a new
        scope; kept in `expansions` under `memo` (unless None) for the calls made again."""
        frame = Frame(known[1], f"block {block.name}", {name for name, _ in block.inputs})
        if block.inputs:
            for (name, span), value in zip(block.inputs, x):
                frame.values[name] = value
                frame.bound_at[name] = span
        env[FRAME] = frame  # (bind_block has set ORIGIN, for the defaults and the body alike)
        scope = Scope(self.fresh(scopes, block.name), label, block.name, c.span, identity)
        outside = len(self.stack)
        self.stack.append((block.name, c.span))
        deepest, self.deepest = self.deepest, len(self.stack)
        start, left, asserted = len(self.nodes), self.work.left, len(self.assertions)
        try:
            body = self.ev.layer(block.body, env, known[2])
            out = self.inst(body, None if block.inputs else x, self.enter(scopes, scope))
            check_used(frame)
            if memo is not None:
                self.expansions[memo] = Expansion(
                    block, start, len(self.nodes), self.paths[id(scope)][1], len(scopes),
                    (x,) if isinstance(x, str) else x, out, left - self.work.left, (asserted, len(self.assertions)),
                    self.deepest - outside)
            return out
        except ArchError as err:
            if len(err.notes) < 8:
                err.notes.append(Note(f"in {label}, called here", c.span))
            raise
        finally:
            self.stack.pop()
            self.deepest = max(deepest, self.deepest)

    def bind_block(self, c: LayerCall, block: S.Block, xt: TensorType | None) -> dict[str, Value]:
        """The block's environment for this call: its arguments, then the defaults (which,
        like the body, may use `in_c`, the channels of a single-input block's input)."""
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
        if xt is not None and all(p.name != IN_C for p in params):
            env[IN_C] = xt.channels
        env[ORIGIN] = (*c.origin, block.name)  # defaults are written in the block, like its body
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
        for i, t in enumerate(types):
            try:
                op_cls.check_input(t)
            except OpError as err:  # this branch's layout: no other branch to compare with
                raise ShapeError(err.message, spans[i], hint=err.hint) from None
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

    def residual(self, r: LayerResidual, x: str, scopes) -> str:
        y = self.inst(r.body, x, scopes)
        xt, yt = self.types[x], self.types[y]
        short_span = r.span
        if isinstance(r.shortcut, LayerCall) and r.shortcut.op is not None and r.shortcut.op.elide and xt != yt:
            raise ShapeError(
                f"residual: the body turns {xt} into {yt}, so an identity shortcut cannot be added to it",
                r.shortcut.span,
                notes=[Note(f"the body gives {yt}", r.body.span)],
                hint="leave 'shortcut' out for torchvision's projection (conv1x1 -> bn), or give one that "
                f"makes {yt}",
            )
        if r.shortcut is not None:
            scope = Scope(self.fresh(scopes, "shortcut"), "shortcut", "shortcut", r.shortcut.span,
                          ("shortcut", key(r.shortcut)))
            s = self.inst(r.shortcut, x, self.enter(scopes, scope))
            short_span = r.shortcut.span
        elif xt == yt:
            s = x
        else:
            s = self.projection(r, x, xt, yt, scopes)
        return self.merge(lookup("add"), [y, s], [r.body.span, short_span], r.span, scopes)

    def projection(self, r: LayerResidual, x: str, xt: TensorType, yt: TensorType, scopes) -> str:
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
        conv = LayerCall(span, "conv", span, lookup("conv"), None, None, (), (
            ("c", yt.channels, span), ("k", 1, span), ("stride", stride, span), ("bias", False, span)))
        bn = LayerCall(span, "bn", span, lookup("bn"), None, None)
        shortcut = LayerChain(span, (conv, bn))
        scope = Scope(self.fresh(scopes, "shortcut"), "shortcut", "shortcut", span, (PROJECTION, key(shortcut)))
        return self.inst(shortcut, x, self.enter(scopes, scope))


def check_used(frame: Frame) -> None:
    """Every value a body names, and every input it declares, must be used."""
    for name, span in frame.declared.items():
        if name in frame.bound_at and name not in frame.used:
            what = "input" if name in frame.inputs else "value"
            raise DefinitionError(
                f"the {what} '{name}' of {frame.owner} is never used",
                span,
                hint="use it (as a layer: `-> " + name + "`, or a branch: `concat(" + name + " | identity)`), or drop "
                + ("it" if what == "input" else f"'as {name}'"),
            )


def _written(c: LayerCall, xt: TensorType) -> tuple | None:
    """A key of `made` for an op call as written, (class, arguments, keywords, kernel, input
    type) with each value's type, where every value is plain data (no named value, no hole):
    the same call on the same input makes the same op. None otherwise."""
    for value, _ in c.args:
        if not plain(value):
            return None
    for _, value, _ in c.kwargs:
        if not plain(value):
            return None
    return (c.op, tuple([_typed(value) for value, _ in c.args]),
            tuple([(name, _typed(value)) for name, value, _ in c.kwargs]), c.kernel, xt)


def _typed(value):
    """An argument as a key of `made`: with its type, since 1, 1.0 and true are equal and
    hash alike in Python, but not to an op (a tuple: each item so)."""
    if isinstance(value, tuple):
        return tuple, tuple(map(_typed, value))
    return type(value), value
