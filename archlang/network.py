"""An analysed network: its IR graph with each layer's shape, parameters, MACs and receptive
field (`Network`, one `LayerInfo` row per layer, from analysis/walk.py's one pass), and what it
gives: counts under other conventions, memory, a torch module, a drawing, JSON.
`Program.network` (program.py) makes one.
"""

from __future__ import annotations

from functools import cached_property

from .analysis import ReceptiveField
from .analysis.walk import walk
from .ir import Graph, Node, TensorType
from .lower.instantiate import PROJECTION
from .ops import Family
from .records import record

__all__ = ["Network", "LayerInfo"]


@record(one_write=True)  # made for every layer, read once for the table or JSON
class LayerInfo:
    """One row of a network's summary."""

    name: str
    op: str
    family: Family
    output_shape: tuple[int, ...]
    params: int
    macs: int
    receptive_field: ReceptiveField | None
    node: Node

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "op": self.op,
            "output_shape": list(self.output_shape),
            **_layout("output", self.node.type),
            "params": self.params,
            "macs": self.macs,
            "receptive_field": self.receptive_field.to_dict() if self.receptive_field else None,
        }


def _layout(key: str, t: TensorType) -> dict:
    """For a token sequence or token indices, `{key}_layout` ("tokens x features" or "token
    indices") and `{key}_text` (`[197]x768`), so that JSON never reads them as a feature map;
    nothing for a feature map or vector (their JSON is as it always was)."""
    if not t.tokens:
        return {}
    prefix = f"{key}_" if key else ""
    return {f"{prefix}layout": "token indices" if t.ids else "tokens x features", f"{prefix}text": str(t)}


class Network:
    """An analysed network: its IR graph with shapes, parameters, MACs and receptive fields."""

    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self.solved: list = []  # (solver.Hole, value) where `check` filled in holes with their one solution
        walked = []  # (node, params, MACs, field) of each layer: the rows, made when first asked for
        projections = set()  # residual(f) shortcuts that archlang inserted because f changes the shape
        total_params = total_macs = 0
        for row in walk(graph):
            n = row[0]
            if not n.inputs:
                continue
            walked.append(row)
            total_params += row[1]
            total_macs += row[2]
            if n.scopes and n.scopes[-1].identity[:1] == (PROJECTION,):
                projections.add(n.name.rsplit(".", 1)[0])
        self._walked = walked
        self.total_params = total_params
        self.total_macs = total_macs
        self.projections = len(projections)

    @cached_property
    def layers(self) -> tuple[LayerInfo, ...]:
        """A row per layer, in graph order (made once, when first asked for: `check` writes its
        table and JSON from `described`, without them)."""
        return tuple(LayerInfo(n.name, label, n.op.family, shape, params, macs, field, n)
                     for n, label, shape, params, macs, field in self.described())

    @property
    def layer_count(self) -> int:
        """len(layers), without making the rows."""
        return len(self._walked)

    def described(self):
        """(node, its op's label, its shape, params, MACs, receptive field) per layer: what a
        LayerInfo holds, without making one; each label and shape made once per op and type
        object (the nodes of one call written again share them)."""
        labels: dict[int, str] = {}
        shapes: dict[int, tuple[int, ...]] = {}
        for n, params, macs, field in self._walked:
            op, t = n.op, n.type
            label = labels.get(id(op))
            if label is None:
                label = labels[id(op)] = op.label()
            shape = shapes.get(id(t))
            if shape is None:
                shape = shapes[id(t)] = t.shape
            yield n, label, shape, params, macs, field

    @property
    def name(self) -> str:
        return self.graph.name

    @property
    def inputs(self) -> tuple[tuple[str, TensorType], ...]:
        """(name, type) of each input: `(("input", 3x224x224),)` for `network n : 3x224x224`."""
        return tuple((n.name, n.type) for n in self.graph.inputs)

    @property
    def outputs(self) -> tuple[tuple[str, TensorType], ...]:
        """(name, type) of each output: `(("output", 1000),)` for a single output."""
        return tuple((name, self.graph.node(o).type) for name, o in zip(self.graph.output_names, self.graph.outputs))

    @property
    def input_type(self) -> TensorType:
        """The input of a single-input network (see `inputs` for several)."""
        return self.graph.input.type

    @property
    def output_type(self) -> TensorType:
        return self.graph.output_type

    @property
    def input_shape(self) -> tuple[int, ...]:
        return self.input_type.shape

    @property
    def output_shape(self) -> tuple[int, ...]:
        return self.output_type.shape

    def layer(self, name: str) -> LayerInfo:
        for info in self.layers:
            if info.name == name:
                return info
        raise KeyError(name)

    def count(self, convention: str = "macs") -> int:
        """The network's work per sample under a named convention (`check --count`): "macs",
        "flops", "fvcore", "ptflops", "thop" or "all" (docs/costs.md). UnknownConvention (a
        ValueError listing the known ones) for another name."""
        return sum(self.counts(convention).values())

    def counts(self, convention: str = "macs") -> dict[str, int]:
        """Each layer's work per sample under `convention`, by layer name."""
        from .analysis.counting import convention as named, layer_counts

        return layer_counts(self.graph, named(convention))

    def memory(self, batch: int = 1, dtype: str = "float32", optimizer: str = "sgd"):
        """Activation sizes, weights, inference peak and one training step in bytes
        (`check --memory`; analysis/memory.MemoryReport). MemoryEstimateError (a ValueError)
        for an unknown dtype or optimizer, a batch below 1 or a figure beyond 64 bits."""
        from .analysis.memory import memory

        return memory(self.graph, batch=batch, dtype=dtype, optimizer=optimizer)

    def to_torch(self, seed: int | None = None):
        """A torch.nn.Module (torch.fx GraphModule) computing this network; see backends/torch_module.
        Refuses (LimitError) before allocating when the weights and one sample's activations
        cannot fit in the memory available."""
        from .budget import activation_bytes, check_fits, human_bytes, weight_bytes
        from .extras import require

        require("torch", job="building a PyTorch module")

        check_fits(weight_bytes(self) + activation_bytes(self, 1),
                   f"building {self.name} ({human_bytes(weight_bytes(self))} of weights, "
                   f"{human_bytes(activation_bytes(self, 1))} of activations for one sample)", span=self.graph.span)
        from .backends.torch_module import build_module

        module = build_module(self.graph, seed=seed)
        module.network = self
        return module

    def render(self, path, *, collapse: bool = False, fold: bool = False, rankdir: str = "TB",
               show: tuple[str, ...] = ()):
        """Draw the network to `path` (.svg, .png, .pdf or .dot); see backends/dot. `show`
        is a tuple of figures to add to the boxes: ("params", "macs", "rf")."""
        from .extras import require

        require("graphviz", job="drawing a network")
        from .backends.dot import DiagramOptions, render

        if isinstance(show, str):
            raise TypeError(f"show takes a tuple of figures such as ('params', 'rf'), not the str {show!r}")

        return render(self.graph, path, DiagramOptions(collapse, fold, rankdir, tuple(show)))

    def _repr_svg_(self) -> str | None:
        """Jupyter shows an analysed network as its diagram (None without Graphviz's dot, or
        without archlang[viz]: Jupyter then shows the repr)."""
        try:
            from .backends.dot import DiagramOptions, dot_available, svg
        except ImportError:
            return None
        if not dot_available():
            return None
        return svg(self.graph, DiagramOptions(collapse=self.layer_count > 60, fold=self.layer_count > 60))

    def to_dict(self, written: bool = False) -> dict:
        """JSON-ready: `input_shape` and `output_shape`, or, with several inputs or outputs,
        `inputs` and `outputs` as lists of {"name", "shape"}. With `written`, each layer's row
        is its JSON text already (in a json_text.Written: what `json_text.dumps` writes for its dict),
        the parts that rows share written once: `check --json` of 100,000 layers."""
        data: dict = {"network": self.name, **self.io_dict()}
        data.update(total_params=self.total_params, total_macs=self.total_macs,
                    layers=self._written_rows() if written else [info.to_dict() for info in self.layers])
        return data

    def _written_rows(self) -> list:
        from .json_text import Written, compact, string

        # the parts of a row between its name and its field, and its field, as JSON, each by what
        # makes it (ids: the rows keep those objects alive)
        middles: dict[tuple, str] = {}
        fields: dict[int, str] = {}
        rows = Written()
        for n, label, shape, params, macs, rf in self.described():
            key = (label, id(n.type), params, macs)
            middle = middles.get(key)
            if middle is None:
                row = LayerInfo(n.name, label, n.op.family, shape, params, macs, None, n).to_dict()
                del row["name"], row["receptive_field"]
                middle = middles[key] = compact(row)[1:-1]  # '"op": ..., "macs": 0'
            field = fields.get(id(rf))
            if field is None:
                field = fields[id(rf)] = "null" if rf is None else rf.json()
            rows.append(f'{{"name": {string(n.name)}, {middle}, "receptive_field": {field}}}')
        return rows

    def io_dict(self) -> dict:
        """The JSON of the inputs and outputs (see `to_dict`)."""
        data: dict = {}
        if len(self.graph.inputs) == 1:
            data["input_shape"] = list(self.input_shape)
            data.update(_layout("input", self.input_type))
        else:
            data["inputs"] = [{"name": n, "shape": list(t.shape), **_layout("", t)} for n, t in self.inputs]
        if len(self.graph.outputs) == 1:
            data["output_shape"] = list(self.output_shape)
            data.update(_layout("output", self.output_type))
        else:
            data["outputs"] = [{"name": n, "shape": list(t.shape), **_layout("", t)} for n, t in self.outputs]
        return data

    def __repr__(self) -> str:
        return (
            f"<Network {self.name}: {self.graph.signature}, {self.layer_count} layers, "
            f"{self.total_params:,} params, {self.total_macs:,} MACs>"
        )
