"""Stage 2: surface tree -> IR graph, in two steps:

    evaluate.py     expressions -> values: numbers, tuples, layer values (values.py)
    instantiate.py  layer values applied to tensors -> typed, named IR nodes

`limits.py` bounds both (nodes, repeats, nesting, and the work done before any node exists).
`lower_network` runs them for one network and verifies the result.
"""

from __future__ import annotations

from .. import syntax as S
from ..errors import LimitError, ShapeError
from ..ir import Graph, Node, TensorType
from ..ops.base import MAX_SIZE
from ..ops.other import Input
from .evaluate import Definitions, Evaluator
from .instantiate import GraphBuilder
from .limits import MAX_INT, Limits, Work

__all__ = ["Limits", "Definitions", "lower_network", "input_type"]


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
        if d > MAX_SIZE:
            raise LimitError(f"the input size {d:,} is too large", shape.span, hint="sizes must fit in a 32-bit integer")
    t = TensorType(dims[0], tuple(dims[1:]))
    if t.numel > MAX_INT:
        raise LimitError(
            f"the input {t} has {t.numel:,} elements, more than a 64-bit size can count", shape.span
        )
    return t


def lower_network(net: S.Network, defs: Definitions, limits: Limits | None = None) -> Graph:
    """Lower one network definition to a verified IR graph; raises ArchError."""
    from ..verify import verify

    limits = limits or Limits()
    work = Work(limits)
    builder = GraphBuilder(Evaluator(defs, work), limits, work)
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
