"""The one walk that the per-node analyses share: in graph order, each node with its
parameters, MACs and receptive field (costs.py and receptive_field.py state the rules; the
ops give the numbers).

Nodes made from one call written again share their op and input types (a long chain's
conv3x3(64) -> bn -> relu), so each op's numbers and window are asked once per distinct input,
found again by the ids of the op and the input types (the graph keeps them alive while the
walk runs); only the receptive field, which grows along the chain, is stepped per node.
"""

from __future__ import annotations

from collections.abc import Iterator

from ..ir import Graph, Node
from .receptive_field import ReceptiveField, input_field, through, widest

__all__ = ["walk"]


def walk(graph: Graph) -> Iterator[tuple[Node, int, int, ReceptiveField | None]]:
    """(node, parameters, MACs, receptive field) for every node, inputs first (0, 0, and the
    field of one input unit)."""
    types: dict[str, object] = {}
    fields: dict[str, ReceptiveField | None] = {}
    known: dict[tuple, tuple] = {}  # (ids of an op and its input types) -> (params, MACs, window)
    for node in graph.nodes:
        inputs, t, name = node.inputs, node.type, node.name
        types[name] = t
        if not inputs:
            field = fields[name] = input_field(t)
            yield node, 0, 0, field
            continue
        op = node.op
        single = len(inputs) == 1
        key = (id(op), id(types[inputs[0]])) if single else (id(op), *[id(types[i]) for i in inputs])
        numbers = known.get(key)
        if numbers is None:
            ins = tuple([types[i] for i in inputs])
            numbers = known[key] = (op.param_count(), op.macs(ins, t), op.window_on(ins))
        params, macs, window = numbers
        if single:
            field = fields[inputs[0]]
        else:
            ins_fields = [fields[i] for i in inputs]
            field = None if None in ins_fields else widest(ins_fields)
        if field is not None and not (window is None and len(t.spatial) == len(field.size) and t.spatial):
            field = through(field, window, t)  # (a pointwise layer on a map keeps the field: most layers)
        fields[name] = field
        yield node, params, macs, field
