"""Stage 2: surface tree -> IR graph, in two steps:

    evaluate.py     expressions -> values: numbers, tuples, layer values (values.py)
    instantiate.py  layer values applied to tensors -> typed, named IR nodes

`limits.py` bounds both (nodes, repeats, nesting, and the work done before any node exists).
`lower_network` runs them for one network and verifies the result.
"""

from __future__ import annotations

import keyword

from .. import syntax as S
from ..errors import DefinitionError, LimitError, Note, ShapeError
from ..ir import Graph, Node, TensorType
from ..ops.base import MAX_SIZE
from ..ops.other import Input
from .evaluate import FRAME, Definitions, Evaluator, declared_values
from .holes import Assignment
from .instantiate import GraphBuilder, check_used
from .limits import MAX_INT, Limits, Work
from .values import Frame

__all__ = ["Limits", "Definitions", "lower_network", "input_type"]


def input_type(shape: S.Shape) -> TensorType:
    dims = shape.dims
    if dims[0] is None:
        raise ShapeError(
            "the input's channel count cannot be open", shape.span,
            hint="write it (3x?x? leaves only the spatial sizes open)",
        )
    if None in dims:
        raise ShapeError(
            f"the input's sizes are open ({shape.text()}); analysing the network needs them", shape.span,
            hint="write the sizes to analyse, such as " + "x".join(str(d or 64) for d in dims),
        )
    if shape.layout != "map":
        for d in dims:
            if d < 1:
                raise ShapeError("every size in the input shape must be at least 1", shape.span)
            if d > MAX_SIZE:
                raise LimitError(f"the input size {d:,} is too large", shape.span, hint="sizes must fit in a 32-bit integer")
        if shape.layout == "ids":
            return TensorType(1, (), tokens=dims[0], ids=True)
        t = TensorType(dims[1], (), tokens=dims[0])
        if t.numel > MAX_INT:
            raise LimitError(f"the input {t} has {t.numel:,} elements, more than a 64-bit size can count", shape.span)
        return t
    if len(dims) > 4:
        raise ShapeError(
            f"the input shape has {len(dims) - 1} spatial axes; archlang handles 0 to 3",
            shape.span,
            hint="write channels then up to 3 sizes: 3x224x224, 1x16000, 3x16x112x112",
        )
    for d in dims:
        if d < 1:
            raise ShapeError("every size in the input shape must be at least 1", shape.span)
        if d > MAX_SIZE:
            raise LimitError(f"the input size {d:,} is too large", shape.span, hint="sizes must fit in a 32-bit integer")
    t = TensorType(dims[0], tuple(dims[1:]))
    if t.numel > MAX_INT:
        raise LimitError(
            f"the input {t} has {t.numel:,} elements, more than a 64-bit size can count", shape.span
        )
    return t


def lower_network(net: S.Network, defs: Definitions, limits: Limits | None = None,
                  holes: Assignment | None = None, failed: list | None = None) -> Graph:
    """Lower one network definition to a verified IR graph; raises ArchError. With `holes`
    (the solver's), holes take their values from it, and lowering stops with NeedChoice at
    the first one it has no value for (see holes.py). With a `failed` list, a shape
    assertion that does not hold is appended there instead of raised (diagrams of a failing
    spec draw it, marked)."""
    from ..verify import verify

    limits = limits or Limits()
    work = Work(limits)
    builder = GraphBuilder(Evaluator(defs, work, limits.max_repeat, holes), limits, work)
    builder.lenient = failed is not None
    inputs: dict[str, S.InputDecl] = {}
    for decl in net.inputs:
        if decl.name in inputs:
            raise DefinitionError(
                f"network {net.name} has two inputs named '{decl.name}'", decl.name_span,
                notes=[Note("the first is here", inputs[decl.name].name_span)],
            )
        if net.named_inputs and (decl.name.startswith("__") or keyword.iskeyword(decl.name) or decl.name in defs.blocks):
            raise DefinitionError(
                f"'{decl.name}' cannot name an input", decl.name_span,
                hint="inputs become argument names of the generated code: use a plain name such as image or left",
            )
        inputs[decl.name] = decl
        xt = input_type(decl.shape)
        builder.nodes.append(Node(decl.name, Input(xt), (), xt, decl.shape.span))
        builder.types[decl.name] = xt
        builder.reserved.add(decl.name)
    taken = {b: "a block" for b in defs.blocks}
    frame = Frame(declared_values(net.body, taken, {n: d.name_span for n, d in inputs.items()}), f"network {net.name}",
                  set(inputs) if net.named_inputs else set())
    for name in inputs:
        frame.values[name] = name
        frame.bound_at[name] = inputs[name].name_span
    if not net.named_inputs:
        frame.used.add("input")  # the chain starts from it
    try:
        body = builder.ev.layer(net.body, {FRAME: frame}, f"as the body of network {net.name}")
        out = builder.inst(body, None if net.named_inputs else "input", ())
        returned = (out,) if isinstance(out, str) else out or ()
        frame.used.update(n for n, v in frame.values.items() if v in returned)  # a name on an output names it
        check_used(frame)
    except RecursionError:
        raise LimitError(
            "the spec nests too deeply to analyse", net.span, hint="reduce the nesting of blocks and parentheses"
        ) from None
    if out is None:
        raise ShapeError(f"network {net.name} computes nothing", net.body.span,
                         hint="end the body with a value: a layer, a named value, or a tuple of them")
    outputs = (out,) if isinstance(out, str) else out
    if net.outputs is not None:
        _check_outputs(net, outputs, builder)
    graph = Graph(net.name, tuple(builder.nodes), outputs, net.span, _output_names(outputs, frame, inputs),
                  tuple(builder.assertions))
    verify(graph)
    if failed is not None:
        failed.extend(builder.failed)
    return graph


def _check_outputs(net: S.Network, outputs: tuple[str, ...], builder: GraphBuilder) -> None:
    """The declared output shapes (`-> 10`, `-> (256x8x8, 512x4x4)`): assertions on what the body gives."""
    declared = net.outputs
    if len(declared) != len(outputs):
        def count(n: int) -> str:
            return "one output" if n == 1 else f"{n} outputs"
        raise ShapeError(
            f"network {net.name} declares {count(len(declared))} but its body gives {count(len(outputs))}",
            declared[0].span.to(declared[-1].span),
            notes=[Note("the body", net.body.span)],
            hint="declare one shape per output, in order: -> (256x8x8, 512x4x4)",
        )
    for node, shape in zip(outputs, declared):
        builder.check_shape(node, shape, f"network {net.name} declares")


def _output_names(outputs: tuple[str, ...], frame: Frame, inputs) -> tuple[str, ...]:
    """`output` for one output; for several, the name each has in the body (`c3`), or
    `output{i}` where it has none or the name is taken."""
    if len(outputs) == 1:
        return ("output",)
    names: list[str] = []
    for i, node in enumerate(outputs):
        named = [n for n, v in frame.values.items() if v == node and n not in inputs]
        name = named[0] if named else f"output{i}"
        names.append(name if name not in names and name not in inputs else f"output{i}")
    return tuple(names)
