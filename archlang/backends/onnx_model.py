"""Backend: an IR graph -> an ONNX model, built straight from the IR with onnx.helper
(no tracing, no torch). Each op emits its own nodes (`Op.onnx_nodes`); this module supplies
the builder they write into, the weights, and the model around them.

- One pinned opset (`OPSET`), high enough for every op of the language.
- Named input `input` and output `output`, a symbolic batch dimension `batch`.
- Node and value names are the IR's names (`stem1.cbn1.conv1`), so the graph reads like the
  spec and ONNX's shape inference can be checked against archlang's, value by value.
- Weights: a network's are drawn with numpy from its ops' declared initialisation rules
  (backends/initial_weights: the rules the torch builder follows, the same distributions,
  other values), so exporting a network never imports torch; same spec and seed, same
  bytes. A built module's are its own state_dict, checked first against the tensors its
  network declares (names, shapes, float32): a module changed since it was built is refused
  with an ArchError naming the first tensor that differs, never exported as an invalid model.

Writing a file does not build the weights into protobuf messages at all: the model is
serialised without them, and each weight is written straight from the array's memory as a
length-delimited `initializer` entry of the graph (protobuf fields may come in any order and
repeated fields concatenate). Parsing the file gives exactly `onnx_model()`'s message.

Protobuf cannot hold a message of 2 GiB or more, so when the weights exceed
`EXTERNAL_DATA_THRESHOLD` (2 GiB less a margin for the graph) they go to a side file,
ONNX's external data: `<name>.onnx.data` beside `<name>.onnx`, named in the model by that
relative location, each tensor at an offset aligned as onnx-ir and ONNX Runtime align them
(tensors over 1 MiB at a multiple of 64 KiB, for mmap). Both files are written atomically,
the data file first; if the model then fails, the new data file is removed.

What is checked before success is reported: onnx.checker with full shape inference on the
graph without its weights (each weight a typed input in its place: milliseconds, however
large the weights), before anything is written; after writing, every file's size equals
what was meant to be written (and the one-file model is under protobuf's 2 GiB), and with
external data the checker runs on the written model, which finds the data file beside it.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from ..analysis import totals
from ..ir import Graph
from .initial_weights import draw_weights, state_tensors

__all__ = [
    "OPSET", "OnnxBuilder", "onnx_model", "model_chunks", "write_onnx", "export_onnx", "value_name",
    "EXTERNAL_DATA_THRESHOLD", "external_data_path",
]

OPSET = 21  # GroupNormalization with per-channel scale (21), Gelu (20), LayerNormalization (17)
IR_VERSION = 10  # the ONNX IR version that opset 21 came with; ONNX Runtime reads it


def value_name(graph: Graph, name: str) -> str:
    """The ONNX value a node produces: its own name, or the graph output's name (`output`, or
    `c3`... with several) where it is one. Inputs are named as the network's (`input`)."""
    if name in graph.outputs and graph.node(name).inputs:
        return graph.output_names[graph.outputs.index(name)]
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
        self.dynamic_tokens = False  # sequences may be shorter at run time than declared

    def node(self, op_type: str, inputs: list[str], outputs: list[str], suffix: str = "", **attrs: Any) -> None:
        name = self.node_name + (f"/{suffix}" if suffix else "")
        self.nodes.append(helper.make_node(op_type, inputs, outputs, name=name, **attrs))

    def temp(self, suffix: str) -> str:
        """A name for an intermediate value inside one layer's lowering."""
        return f"{self.node_name}/{suffix}"

    def weight(self, tensor: str, of: str | None = None) -> str:
        """The initializer holding this node's `tensor` (`weight`, `bias`, `running_mean`...),
        or node `of`'s (a tied layer reads its partner's)."""
        key = f"{of or self.node_name}.{tensor}"
        if key not in self._names:
            self._names.add(key)
            self.used.append((key, np.ascontiguousarray(self.weights[key])))
        return key

    def const(self, suffix: str, value: np.ndarray) -> str:
        key = self.temp(suffix)
        if key not in self._names:
            self._names.add(key)
            # a scalar stays a scalar (np.ascontiguousarray would make it 1-d: Gather then keeps the axis)
            self.consts.append(numpy_helper.from_array(np.ascontiguousarray(value) if value.ndim else value, key))
        return key


def _value_info(name: str, t, dynamic_tokens: bool = False) -> onnx.ValueInfoProto:
    """A graph input or output: float, or int64 for token indices, with a dynamic batch; in a
    network that reads token indices, sequences have a dynamic length too (`tokens`, up to
    the length the spec declares)."""
    shape = ["batch", *t.shape]
    if dynamic_tokens and t.tokens:
        shape[1] = "tokens"
    return helper.make_tensor_value_info(name, TensorProto.INT64 if t.ids else TensorProto.FLOAT, shape)


def _skeleton(graph: Graph, weights: Mapping[str, np.ndarray]) -> tuple[onnx.ModelProto, list]:
    """The model with every initializer but the network's weights, and those weights."""
    from .. import __version__

    builder = OnnxBuilder(weights)
    builder.dynamic_tokens = any(n.type.ids for n in graph.inputs)
    values = {n.name: n.name for n in graph.inputs}
    for node in graph.layers:
        out = value_name(graph, node.name)
        builder.node_name = node.name
        node.op.onnx_nodes(builder, [values[i] for i in node.inputs], out, graph.input_types(node))
        values[node.name] = out
    for node, name in zip(graph.outputs, graph.output_names):
        if values[node] != name:  # an input returned as it is, or a value returned twice
            builder.node_name = name
            builder.node("Identity", [values[node]], [name])
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
    dynamic = any(n.type.ids for n in graph.inputs)
    g.input.extend(_value_info(n.name, n.type, dynamic) for n in graph.inputs)
    g.output.extend(_value_info(name, graph.node(node).type, dynamic)
                    for node, name in zip(graph.outputs, graph.output_names))
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


def _initializer_chunks(used: list[tuple[str, np.ndarray]]) -> tuple[list, int]:
    """Each weight as a length-delimited `initializer` entry: (header, raw bytes) buffers, the
    bytes a view of the array; and their total length."""
    chunks: list = []
    total = 0
    for name, array in used:
        meta = onnx.TensorProto(name=name, dims=array.shape, data_type=helper.np_dtype_to_tensor_dtype(array.dtype))
        raw = _raw(array)
        head = meta.SerializeToString(deterministic=True) + _field(_RAW_DATA, raw.nbytes)
        entry = _field(_INITIALIZER, len(head) + raw.nbytes) + head
        chunks += [entry, raw]
        total += len(entry) + raw.nbytes
    return chunks, total


def _raw(array: np.ndarray) -> memoryview:
    """An array's bytes, little-endian as ONNX stores them, without a copy where it is already."""
    return memoryview(array.astype(array.dtype.newbyteorder("<"), copy=False)).cast("B")


def _chunks(model: onnx.ModelProto, used: list[tuple[str, np.ndarray]]) -> list:
    graph_head = model.graph.SerializeToString(deterministic=True)
    head = onnx.ModelProto()
    head.CopyFrom(model)
    head.ClearField("graph")
    tensors, tensors_len = _initializer_chunks(used)
    return [head.SerializeToString(deterministic=True), _field(_GRAPH, len(graph_head) + tensors_len), graph_head, *tensors]


def model_chunks(graph: Graph, weights: Mapping[str, np.ndarray]) -> list:
    """The serialised model as buffers to write in order; the weights are views, not copies."""
    return _chunks(*_skeleton(graph, weights))


# -- files: one protobuf, or a protobuf and its external data

PROTOBUF_LIMIT = 2**31  # protobuf refuses to parse a message of 2 GiB or more
EXTERNAL_DATA_THRESHOLD = PROTOBUF_LIMIT - 2**26
"""Weights of more bytes than this go to `<name>.onnx.data` (ONNX external data); 64 MiB of
the 2 GiB are left for the graph itself (a 100,000-layer graph is about 10 MB). A model
whose one file would still reach 2 GiB goes external too. Tests lower it."""
ALIGN_THRESHOLD = 2**20  # external tensors larger than this start at a multiple of ALIGNMENT
ALIGNMENT = 2**16  # onnx-ir's and ONNX Runtime's allocation granularity (mmap on Windows; 4 KiB pages divide it)


def external_data_path(path: str | Path) -> Path:
    """The side file of a model written with external data: `<name>.onnx.data` beside it."""
    path = Path(path)
    return path.with_name(path.name + ".data")


def _check_graph(model: onnx.ModelProto, used: list[tuple[str, np.ndarray]]) -> None:
    """onnx.checker with full shape inference on the model without its weights: each weight is
    a graph input of its type and shape instead, so this costs what the graph costs."""
    light = onnx.ModelProto()
    light.CopyFrom(model)
    light.graph.input.extend(
        helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(a.dtype), a.shape) for name, a in used
    )
    onnx.checker.check_model(light, full_check=True)


def _check_size(path: Path, expected: int, what: str) -> None:
    size = os.stat(path).st_size
    if size != expected:
        from ..output import OutputError

        raise OutputError(f"writing {what} went wrong: the file has {size:,} bytes, not the {expected:,} written")


def _write_chunks(chunks: list, tmp: Path) -> None:
    with open(tmp, "wb") as f:
        for chunk in chunks:
            f.write(chunk)


def _external_layout(used: list[tuple[str, np.ndarray]]) -> tuple[list[int], int]:
    """Each tensor's offset in the data file (aligned as onnx-ir aligns), and the file's length."""
    offsets = []
    end = 0
    for _, array in used:
        if array.nbytes > ALIGN_THRESHOLD:
            end = -(-end // ALIGNMENT) * ALIGNMENT
        offsets.append(end)
        end += array.nbytes
    return offsets, end


def _write_external(model: onnx.ModelProto, used: list[tuple[str, np.ndarray]], path: Path, inputs) -> None:
    from ..output import write_atomic

    data_path = external_data_path(path)
    location = data_path.name
    offsets, end = _external_layout(used)

    def write_data(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            for (_, array), offset in zip(used, offsets):
                f.write(b"\0" * (offset - f.tell()))
                f.write(_raw(array))
        _check_size(tmp, end, str(data_path))

    for (name, array), offset in zip(used, offsets):
        tensor = model.graph.initializer.add()
        tensor.name = name
        tensor.dims.extend(array.shape)
        tensor.data_type = helper.np_dtype_to_tensor_dtype(array.dtype)
        tensor.data_location = onnx.TensorProto.EXTERNAL
        for key, value in (("location", location), ("offset", offset), ("length", array.nbytes)):
            entry = tensor.external_data.add()
            entry.key, entry.value = key, str(value)
    data = model.SerializeToString(deterministic=True)

    def write_model(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            f.write(data)
        _check_size(tmp, len(data), str(path))
        onnx.checker.check_model(str(tmp))  # finds the data file by its location, beside tmp

    write_atomic(data_path, write_data, inputs=inputs)
    try:
        write_atomic(path, write_model, inputs=inputs)
    except BaseException:
        data_path.unlink(missing_ok=True)  # no side file without its model
        raise


def write_onnx(graph: Graph, weights: Mapping[str, np.ndarray], path: str | Path, *, inputs=()) -> tuple[Path, ...]:
    """Write the model file atomically, with its weights in it, or beside it in
    `<name>.onnx.data` when they exceed EXTERNAL_DATA_THRESHOLD; returns the files written.
    See the module docstring for what is checked before this returns."""
    from ..output import write_atomic

    model, used = _skeleton(graph, weights)
    _check_graph(model, used)
    path = Path(path)
    if sum(a.nbytes for _, a in used) <= EXTERNAL_DATA_THRESHOLD:
        chunks = _chunks(model, used)
        size = sum(len(c) if isinstance(c, bytes) else c.nbytes for c in chunks)
        if size < PROTOBUF_LIMIT:
            def write(tmp: Path) -> None:
                _write_chunks(chunks, tmp)
                _check_size(tmp, size, str(path))

            write_atomic(path, write, inputs=inputs)
            return (path,)
    _write_external(model, used, path, inputs)
    return (path, external_data_path(path))


def _module_weights(module, graph: Graph) -> dict[str, np.ndarray]:
    """A built module's state_dict as arrays, once it is checked against the tensors its
    network declares: every name present, with the declared shape and dtype (float32; int64
    for batch norm's num_batches_tracked, which ONNX does not use), and no others. A module
    changed since it was built (a replaced layer, a reshaped weight, `.half()`) is refused
    with an ArchError naming the first tensor that differs, in graph order."""
    from ..errors import ArchError

    state = module.state_dict()
    declared = state_tensors(graph)
    hint = "export the module as archlang.build() made it, or export the network with a seed"
    for key, t in declared.items():
        value = state.get(key)
        if value is None:
            raise ArchError(f"this module has no tensor '{key}', which network {graph.name} has "
                            f"({'x'.join(map(str, t.shape)) or 'a scalar'}, {t.dtype}): was its layer replaced?", hint=hint)
        shape, dtype = tuple(value.shape), str(value.dtype).removeprefix("torch.")
        if shape != t.shape:
            raise ArchError(f"the module's tensor '{key}' has shape {list(shape)}, but network {graph.name} "
                            f"declares {list(t.shape)}", hint=hint)
        if dtype != t.dtype:
            raise ArchError(f"the module's tensor '{key}' is {dtype}; ONNX export takes {t.dtype}",
                            hint="call module.float() before exporting" if t.dtype == "float32" else hint)
    shared = {f"{node.name}.{attr}" for node in graph.layers for attr, _, _ in node.op.ties()}
    for key in state:
        if key not in declared and key not in shared:
            raise ArchError(f"the module has a tensor '{key}' that network {graph.name} does not have: "
                            "was a layer replaced?", hint=hint)
    return {key: state[key].detach().cpu().numpy() for key in declared}


def _weights_of(source, seed: int | None) -> tuple[Graph, dict[str, np.ndarray]]:
    from ..network import Network

    if isinstance(source, Network):
        return source.graph, draw_weights(source.graph, seed)
    network = getattr(source, "network", None)
    if network is None:
        from ..errors import ArchError

        raise ArchError(
            "this module was not built by archlang (it has no .network)",
            hint="pass archlang.build(...)'s module, or the analysed network itself",
        )
    return network.graph, _module_weights(source, network.graph)


def export_onnx(source, path: str | Path | None = None, *, seed: int | None = None,
                inputs=()) -> onnx.ModelProto | tuple[Path, ...]:
    """Export an archlang-built module (its own weights) or an analysed network (weights drawn
    with numpy by its ops' rules, `seed` reproducible; no torch) to ONNX. With a path, writes
    the file atomically (external data beside it above EXTERNAL_DATA_THRESHOLD), never over
    one of `inputs`, and returns the files written; without one, returns the onnx.ModelProto."""
    graph, weights = _weights_of(source, seed)
    if path is None:
        return onnx_model(graph, weights)
    return write_onnx(graph, weights, path, inputs=inputs)
