"""Backend: an IR graph -> an ONNX model, built straight from the IR with onnx.helper
(no tracing). Each op emits its own nodes (`Op.onnx_nodes`); this module supplies the
builder they write into, the weights, and the model around them.

- One pinned opset (`OPSET`), high enough for every op of the language.
- Named input `input` and output `output`, a symbolic batch dimension `batch`.
- Node and value names are the IR's names (`stem1.cbn1.conv1`), so the graph reads like the
  spec and ONNX's shape inference can be checked against archlang's, value by value.
- Weights come from a built torch module's state_dict (same function in both runtimes), or
  from `archlang.build(..., seed=seed)`'s initialisation. Same spec and seed: same bytes.

Writing a file does not build the weights into protobuf messages at all: the model is
serialised without them, and each weight is written straight from the tensor's memory as a
length-delimited `initializer` entry of the graph (protobuf fields may come in any order and
repeated fields concatenate). Parsing the file gives exactly `onnx_model()`'s message.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from ..analysis import totals
from ..ir import Graph

__all__ = ["OPSET", "OnnxBuilder", "onnx_model", "model_chunks", "export_onnx", "value_name"]

OPSET = 21  # GroupNormalization with per-channel scale (21), Gelu (20), LayerNormalization (17)
IR_VERSION = 10  # the ONNX IR version that opset 21 came with; ONNX Runtime reads it


def value_name(graph: Graph, name: str) -> str:
    """The ONNX value a node produces: its own name, `input` and `output` at the ends."""
    if name == graph.output:
        return "output"
    return name


class OnnxBuilder:
    """What an op's `onnx_nodes` writes into: nodes, weights and constants."""

    def __init__(self, weights: Mapping[str, np.ndarray]) -> None:
        self.weights = weights
        self.nodes: list[onnx.NodeProto] = []
        self.consts: list[onnx.TensorProto] = []  # small tensors made by the lowerings
        self.used: list[tuple[str, np.ndarray]] = []  # the network's weights, in order of use
        self._names: set[str] = set()
        self.node_name = ""

    def node(self, op_type: str, inputs: list[str], outputs: list[str], suffix: str = "", **attrs: Any) -> None:
        name = self.node_name + (f"/{suffix}" if suffix else "")
        self.nodes.append(helper.make_node(op_type, inputs, outputs, name=name, **attrs))

    def temp(self, suffix: str) -> str:
        """A name for an intermediate value inside one layer's lowering."""
        return f"{self.node_name}/{suffix}"

    def weight(self, tensor: str) -> str:
        """The initializer holding this node's `tensor` (`weight`, `bias`, `running_mean`...)."""
        key = f"{self.node_name}.{tensor}"
        if key not in self._names:
            self._names.add(key)
            self.used.append((key, np.ascontiguousarray(self.weights[key])))
        return key

    def const(self, suffix: str, value: np.ndarray) -> str:
        key = self.temp(suffix)
        if key not in self._names:
            self._names.add(key)
            self.consts.append(numpy_helper.from_array(np.ascontiguousarray(value), key))
        return key


def _value_info(name: str, shape: tuple[int, ...]) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, ["batch", *shape])


def _skeleton(graph: Graph, weights: Mapping[str, np.ndarray]) -> tuple[onnx.ModelProto, list]:
    """The model with every initializer but the network's weights, and those weights."""
    from .. import __version__

    builder = OnnxBuilder(weights)
    values = {"input": "input"}
    for node in graph.layers:
        out = value_name(graph, node.name)
        builder.node_name = node.name
        node.op.onnx_nodes(builder, [values[i] for i in node.inputs], out, graph.input_types(node))
        values[node.name] = out
    if graph.output == "input":  # a network without layers
        builder.node_name = "output"
        builder.node("Identity", ["input"], ["output"])
    model = onnx.ModelProto()
    model.ir_version = IR_VERSION
    model.producer_name = "archlang"
    model.producer_version = __version__
    model.opset_import.append(helper.make_opsetid("", OPSET))
    g = model.graph
    g.name = graph.name
    params, macs = totals(graph)
    g.doc_string = f"{graph.name}: {params:,} parameters, {macs:,} MACs"
    g.node.extend(builder.nodes)
    g.input.append(_value_info("input", graph.input.type.shape))
    g.output.append(_value_info("output", graph.output_type.shape))
    g.initializer.extend(builder.consts)
    return model, builder.used


def onnx_model(graph: Graph, weights: Mapping[str, np.ndarray]) -> onnx.ModelProto:
    """The ONNX model of a graph with the given weights (state_dict names -> arrays)."""
    model, used = _skeleton(graph, weights)
    model.graph.initializer.extend(numpy_helper.from_array(array, name) for name, array in used)
    return model


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(number: int, payload_len: int) -> bytes:
    """The key and length of a length-delimited protobuf field."""
    return _varint(number << 3 | 2) + _varint(payload_len)


_GRAPH = onnx.ModelProto.DESCRIPTOR.fields_by_name["graph"].number
_INITIALIZER = onnx.GraphProto.DESCRIPTOR.fields_by_name["initializer"].number
_RAW_DATA = onnx.TensorProto.DESCRIPTOR.fields_by_name["raw_data"].number


def model_chunks(graph: Graph, weights: Mapping[str, np.ndarray]) -> list:
    """The serialised model as buffers to write in order; the weights are views, not copies."""
    model, used = _skeleton(graph, weights)
    graph_head = model.graph.SerializeToString(deterministic=True)
    model.ClearField("graph")
    tensors = []
    graph_len = len(graph_head)
    for name, array in used:
        meta = onnx.TensorProto(name=name, dims=array.shape, data_type=helper.np_dtype_to_tensor_dtype(array.dtype))
        raw = memoryview(array.astype(array.dtype.newbyteorder("<"), copy=False)).cast("B")
        head = meta.SerializeToString(deterministic=True) + _field(_RAW_DATA, raw.nbytes)
        entry = _field(_INITIALIZER, len(head) + raw.nbytes) + head
        tensors += [entry, raw]
        graph_len += len(entry) + raw.nbytes
    return [model.SerializeToString(deterministic=True), _field(_GRAPH, graph_len), graph_head, *tensors]


def _weights_of(source, seed: int | None) -> tuple[Graph, dict[str, np.ndarray]]:
    from ..program import Network

    if isinstance(source, Network):
        module = source.to_torch(seed=seed)
        network = source
    else:
        module = source
        network = getattr(module, "network", None)
        if network is None:
            from ..errors import ArchError

            raise ArchError(
                "this module was not built by archlang (it has no .network)",
                hint="pass archlang.build(...)'s module, or the analysed network itself",
            )
    return network.graph, {k: v.detach().cpu().numpy() for k, v in module.state_dict().items()}


def export_onnx(source, path: str | Path | None = None, *, seed: int | None = None,
                inputs=()) -> onnx.ModelProto | None:
    """Export an archlang-built module (its weights) or an analysed network (weights as
    `archlang.build(seed=seed)` makes them) to ONNX. With a path, writes the file atomically
    (and returns None), never over one of `inputs`; without one, returns the onnx.ModelProto."""
    graph, weights = _weights_of(source, seed)
    if path is None:
        return onnx_model(graph, weights)
    from ..output import write_atomic

    chunks = model_chunks(graph, weights)

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            for chunk in chunks:
                f.write(chunk)

    write_atomic(path, write, inputs=inputs)
    return None
