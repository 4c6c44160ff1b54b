"""Import from ONNX: a model file -> a FlatGraph.

Each node becomes an archlang layer (`Layer`), with its attributes read as the op's
arguments and its initializers as the layer's weights. What torch's exporters write is
recognised: Conv with its bias, BatchNormalization (or a batch norm folded into the
convolution, which then reads as a conv with a bias: what the file computes), Gemm with
transB, MatMul + Add, Flatten or a Reshape to (batch, -1) however its shape is computed
(Shape -> Gather -> Unsqueeze -> Concat), Pad + Conv, Sigmoid + Mul (SiLU), Clip(0, 6)
(ReLU6), Identity and Dropout (the value itself). Every node it cannot map is listed, once
per op type, in one error.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..ir import TensorType
from .flat import FlatGraph, ModelImportError, Unsupported
from .onnx_layers import BATCH, LayerRules, attrs, perm, source
from .onnx_adaptive import AdaptivePoolRules
from .onnx_sequences import SequenceRules

__all__ = ["read_onnx"]



def _load(path):
    import onnx

    if not isinstance(path, (str, Path)):
        return path, "model"
    shown = str(path)
    p = Path(path)
    if not p.is_file():
        raise ModelImportError(f"{shown}: no such file" if not p.exists() else f"{shown} is not a file",
                               hint="give the path of an .onnx file")
    try:
        model = onnx.load(str(p))
    except Exception as err:  # protobuf's DecodeError, a truncated file, missing external data
        raise ModelImportError(
            f"{shown} is not a readable ONNX model ({type(err).__name__}: {str(err) or 'no detail'})",
            hint="the file may be truncated, or another format (a torch .pt file: use archlang.from_torch)",
        ) from None
    if not model.graph.node:
        raise ModelImportError(f"{shown} is not an ONNX model with a graph (no nodes were read)",
                               hint="the file may be truncated, or another format")
    return model, p.name


class _Reader(SequenceRules, AdaptivePoolRules, LayerRules):
    def __init__(self, model, origin: str, input_shape: TensorType | None, name: str) -> None:
        from onnx import numpy_helper

        self.model = model
        self.fg = FlatGraph(name, origin)
        g = model.graph
        self.consts: dict[str, Any] = {i.name: numpy_helper.to_array(i) for i in g.initializer}
        self.shapes: dict[str, list] = {}  # symbolic shapes from Shape nodes
        self.pads: dict[str, tuple[str, list[int]]] = {}  # Pad outputs waiting for their Conv
        self.reshaped: dict[str, Any] = {}  # constants reshaped in the graph
        self.users: dict[str, list] = {}
        self.producer = {}
        for node in g.node:
            for i in node.input:
                self.users.setdefault(i, []).append(node)
            for o in node.output:
                self.producer[o] = node
        self.skip: set[int] = set()
        self.rename: dict[int, str] = {}
        self.layernorm2d: dict[int, tuple[str, str]] = {}  # LayerNormalization -> (map in, map out)
        self.shuffles: dict[int, Any] = {}  # the last Reshape of a shuffle -> its first
        self.lrn_nd: dict[int, tuple[str, str]] = {}  # LRN on a map folded to 4D -> (map in, map out)
        self.tokens: dict[int, str] = {}  # the Transpose of a map's positions as tokens -> the map
        self.grids: dict[int, str] = {}  # the Reshape of a sequence laid out as a map -> the sequence
        self.attention: dict[int, dict] = {}  # the last node of an attention region -> the region
        self.matmul_add: dict[int, Any] = {}  # a MatMul by a weight -> the Add of its bias
        self.parts: dict[str, list[str]] = {}  # a weight folded from a Concat of weights -> their names
        self.recurrent: dict[int, dict] = {}  # the last node of an LSTM or GRU stack -> the stack
        self.partial: dict[str, tuple[str, dict]] = {}  # a map pooled on some axes -> (the map, {axis: size})
        self.permuted: dict[str, tuple[str, list]] = {}  # a map with an axis moved last -> (it, the order)
        self.origins: dict[str, str] = {}  # a weight transposed (folded) -> the initializer it is
        self.owners: dict[str, str] = {}  # an initializer -> the layer that has it as its weight (embed)
        self.tables: dict[str, Any] = {}  # rows of a position table sliced to a sequence's length -> the table
        self.expanded: dict[str, Any] = {}  # a class token expanded to the batch -> the token
        self.input_shape = input_shape
        self.missing: list[Unsupported] = []
        self.readable: int | None = None

    # -- inputs ---------------------------------------------------------------------------
    def inputs(self) -> None:
        g = self.model.graph
        real = [i for i in g.input if i.name not in self.consts]
        if not real:
            raise ModelImportError(f"{self.fg.origin}: the graph has no input")
        for k, value in enumerate(real):
            t = value.type.tensor_type
            dims = [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in t.shape.dim]
            # the size given applies to the first input, and to every other input of the same rank whose
            # sizes the file leaves open (BERT's token ids and token types)
            open_sizes = any(not isinstance(d, int) or d <= 0 for d in dims[1:])
            given = self.input_shape if k == 0 or open_sizes and self.input_shape is not None and \
                len(self.input_shape.shape) == len(dims) - 1 else None
            shown = "x".join(str(d) for d in dims) or "a scalar"
            if given is not None:
                if len(given.shape) != len(dims) - 1:
                    raise ModelImportError(
                        f"{self.fg.origin}: --input-shape {given} has {len(given.shape)} axes but the input "
                        f"'{value.name}' has {len(dims) - 1} after its batch axis ({shown})",
                        hint="give channels and spatial sizes, without the batch")
                self.fg.add_input(value.name, given)
                continue
            if len(dims) < 2:
                raise ModelImportError(f"{self.fg.origin}: the input '{value.name}' ({shown}) has no batch axis",
                                       hint="archlang's networks take a batch first: N x C x ...")
            if any(not isinstance(d, int) or d <= 0 for d in dims[1:]):
                raise ModelImportError(
                    f"{self.fg.origin}: the input '{value.name}' has dynamic sizes ({shown})",
                    hint="give the size to import it at: archlang import MODEL --input-shape 3x224x224 "
                    "(channels and spatial sizes, without the batch)")
            elem = t.elem_type
            if elem == 7:  # int64 token ids
                self.fg.add_input(value.name, TensorType(1, (), dims[1], True))
            else:
                self.fg.add_input(value.name, TensorType(dims[1], tuple(dims[2:])))

    # -- patterns over several nodes ------------------------------------------------------
    def patterns(self) -> None:
        for node in self.model.graph.node:
            if id(node) in self.skip or id(node) in self.rename:  # folded, or part of an attention
                continue
            users = self.users.get(node.output[0], []) if node.output else []
            if node.op_type == "Sigmoid" and len(users) == 1 and users[0].op_type == "Mul":
                mul = users[0]
                if set(mul.input) == {node.input[0], node.output[0]}:
                    self.skip.add(id(node))
                    self.rename[id(mul)] = "SiLU"
            if node.op_type == "Transpose" and len(users) == 1 and users[0].op_type == "LayerNormalization":
                norm = users[0]
                after = self.users.get(norm.output[0], [])
                order = perm(node)
                rank = len(order) - 2
                if rank > 0 and order == [0, *range(2, 2 + rank), 1] and len(after) == 1 \
                        and after[0].op_type == "Transpose" \
                        and perm(after[0]) == [0, 1 + rank, *range(1, 1 + rank)]:
                    self.skip.update((id(node), id(after[0])))  # channels last, normalise, channels first
                    self.rename[id(norm)] = "LayerNorm2d"
                    self.layernorm2d[id(norm)] = (node.input[0], after[0].output[0])
            if node.op_type == "Reshape" and len(users) == 1 and users[0].op_type == "LRN":
                after = self.users.get(users[0].output[0], [])
                target = self.shape_value(node.input[1])
                if target is not None and len(target) == 4 and target[2:] == [-1, 1] and len(after) == 1 \
                        and after[0].op_type == "Reshape":
                    self.skip.update((id(node), id(after[0])))  # LRN on N x C x (positions) x 1, and back
                    self.rename[id(users[0])] = "LRNnd"
                    self.lrn_nd[id(users[0])] = (node.input[0], after[0].output[0])
            if node.op_type == "Reshape" and len(users) == 1 and users[0].op_type == "Transpose" \
                    and perm(users[0]) == [0, 2, 1]:
                self.skip.add(id(node))  # N x C x (positions), then tokens first: x.flatten(2).transpose(1, 2)
                self.rename[id(users[0])] = "Tokens"
                self.tokens[id(users[0])] = node
            if node.op_type == "Transpose" and perm(node) == [0, 2, 1] and len(users) == 1 \
                    and users[0].op_type == "Reshape":
                self.skip.add(id(node))  # features first, then the positions as a map
                self.rename[id(users[0])] = "Grid"
                self.grids[id(users[0])] = node.input[0]
            if node.op_type == "Reshape" and len(users) == 1 and users[0].op_type == "Transpose":
                swap = users[0]
                after = self.users.get(swap.output[0], [])
                if perm(swap) == [0, 2, 1, 3] and len(after) == 1 \
                        and after[0].op_type == "Reshape":
                    self.skip.update((id(node), id(swap)))
                    self.rename[id(after[0])] = "ChannelShuffle"
                    self.shuffles[id(after[0])] = node
            if node.op_type == "MatMul" and node.input[1] in self.consts and len(users) == 1 \
                    and users[0].op_type == "Add" and any(i in self.consts for i in users[0].input):
                self.rename[id(node)] = "MatMulAdd"
                self.skip.add(id(users[0]))
                self.matmul_add[id(node)] = users[0]

    # -- the nodes ------------------------------------------------------------------------
    def read(self) -> FlatGraph:
        self.inputs()
        self.fold_constants()
        self.expand_shapes()
        self.attention_regions()
        self.recurrent_regions()
        self.patterns()
        nodes = list(self.model.graph.node)
        fused = {o for n in nodes if id(n) in self.skip for o in n.output}  # read by the pattern's other node
        for index, node in enumerate(nodes):
            if id(node) in self.skip:
                continue
            kind = self.rename.get(id(node), node.op_type)
            reads = [i for i in self.real_inputs(node, fused)
                     if i not in self.consts and i not in self.shapes and i not in self.reshaped
                     and i not in self.tables and i not in self.expanded and i not in self.partial
                     and i not in self.permuted]
            handler = getattr(self, f"op_{kind}", None)
            if handler is not None and any(self.fg.value(i) not in self.fg.types and i not in self.pads
                                           for i in reads):
                if self.missing:
                    continue  # reads a value that could not be imported: its cause is reported
                reason = "reads a value that no earlier node gives"
            else:
                try:
                    reason = f"no archlang layer for {kind}" if handler is None else handler(node, attrs(node))
                except (KeyError, IndexError, TypeError, ValueError, AttributeError) as err:
                    # a form of the op these rules do not know (its inputs are not what they expect)
                    reason = f"a form archlang does not read ({type(err).__name__}: {err})"
            if reason:
                if self.readable is None:
                    self.readable = index
                self.missing.append(Unsupported(node.name or node.output[0], node.op_type,
                                                "" if reason.startswith("no archlang") else reason))
        if self.missing:
            raise self.fg.unsupported_error(
                self.missing, len(nodes), self.readable or 0, "node",
                hint="archlang reads ONNX's convolutions, norms, activations, pooling, Gemm and MatMul, Flatten and "
                "Reshape, Add, Mul and Concat, Resize, Slice and Pad, and the forms exporters give attention, LSTM, "
                "GRU and embeddings, as layers")
        outs = [o.name for o in self.model.graph.output]
        for o in outs:
            if self.fg.value(o) not in self.fg.types:
                raise ModelImportError(f"{self.fg.origin}: the output '{o}' is not computed from the inputs",
                                       hint="archlang imports networks whose outputs depend on their inputs")
        self.fg.outputs = [self.fg.value(o) for o in outs]
        return self.fg

    def real_inputs(self, node, fused: set[str]) -> list[str]:
        """The values a node reads, through the nodes a pattern folded into it."""
        out = []
        for i in node.input:
            if not i:
                continue
            if i in fused and self.fg.value(i) not in self.fg.types:
                out += self.real_inputs(self.producer[i], fused)
            else:
                out.append(i)
        return out

    def x(self, node, k: int = 0) -> str:
        return self.fg.value(node.input[k])

    def add(self, node, call: str, inputs=None, weights=(), **kwargs) -> None:
        src = source(node, list(weights))
        self.fg.add(node.output[0], call, inputs if inputs is not None else [self.x(node)], where=node.name or
                    node.output[0], source=src, weights=tuple(self.consts.get(w) for w in weights) or None,
                    **kwargs)

    def const(self, name: str):
        if name in self.consts:
            return self.consts[name]
        p = self.producer.get(name)
        if p is not None and p.op_type == "Identity" and p.input[0] in self.consts:
            return self.consts[p.input[0]]
        return None

    def window(self, a: dict, rank: int, node) -> tuple | str:
        """(kernel, strides, pads) of a Conv or pool, or why they cannot be read."""
        if a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET", b"VALID", "VALID"):
            return f"auto_pad={a['auto_pad']!r}"
        pads = list(a.get("pads", [0] * 2 * rank))
        begin, end = pads[:rank], pads[rank:]
        pending = self.pads.pop(node.input[0], None)
        if pending is not None:
            begin = [b + p for b, p in zip(begin, pending[1][:rank])]
            end = [e + p for e, p in zip(end, pending[1][rank:])]
        if begin != end:
            return f"asymmetric padding {pads}"
        return tuple(a.get("strides", [1] * rank)), tuple(begin)

    def rank(self, node) -> int:
        name = self.pads[node.input[0]][0] if node.input[0] in self.pads else self.x(node)
        return self.fg.types[self.fg.value(name)].rank

    def input_of(self, node) -> str:
        return self.fg.value(self.pads[node.input[0]][0]) if node.input[0] in self.pads else self.x(node)

    # shapes
    def op_Flatten(self, node, a):
        if a.get("axis", 1) != 1:
            return f"flatten from axis {a.get('axis')}"
        self.add(node, "flatten")

    def op_Reshape(self, node, a):
        data = self.const(node.input[0])
        if data is not None:  # a weight reshaped for broadcasting: C -> C x 1 x 1
            shape = self.shape_value(node.input[1])
            if shape is None:
                return "a reshape of a constant to a computed shape"
            self.reshaped[node.output[0]] = data.reshape(shape)
            return None
        t = self.fg.types[self.x(node)]
        target = self.shape_value(node.input[1])
        if target is None:
            return "a reshape to a shape computed in the graph"
        if len(target) == 2 and target[0] in (BATCH, -1, 0, 1) and target[1] in (-1, t.numel) and not t.tokens:
            if t.rank == 0:
                self.fg.same(node.output[0], node.input[0])
            else:
                self.add(node, "flatten")
            return None
        return f"a reshape to {target}"

    def op_Squeeze(self, node, a):
        t = self.fg.types[self.x(node)]
        axes = a.get("axes")
        if axes is None and len(node.input) > 1:
            axes = self.const(node.input[1])
        axes = sorted(int(v) % (t.rank + 2) for v in axes) if axes is not None else None
        if t.rank and all(s == 1 for s in t.spatial) and axes in (None, list(range(2, t.rank + 2))):
            self.add(node, "flatten")
            return None
        return "a squeeze other than of a pooled map's 1x1"

    def op_Shape(self, node, a):
        t = self.fg.types[self.x(node)]
        dims = [BATCH, *t.shape]
        self.shapes[node.output[0]] = dims[a.get("start", 0):a.get("end", len(dims))]

    def shape_value(self, name: str):
        if name in self.shapes:
            return self.shapes[name]
        c = self.const(name)
        return None if c is None else [int(v) for v in c.reshape(-1)]

    def _shape_op(self, node, fn):
        ins = [self.shape_value(i) for i in node.input if i]
        if any(v is None for v in ins):
            return f"{node.op_type} on a computed value"
        self.shapes[node.output[0]] = fn(ins)

    def shape_gather(self, node, a):
        if node.input[0] not in self.shapes:
            return "a Gather of data"
        idx = self.const(node.input[1])
        values = self.shapes[node.input[0]]
        self.shapes[node.output[0]] = [values[int(i)] for i in idx.reshape(-1)] if idx is not None else None
        return None if idx is not None else "a Gather at computed indices"

    def op_Unsqueeze(self, node, a):
        if node.input[0] not in self.shapes and self.const(node.input[0]) is None:
            return "an unsqueeze of data"
        return self._shape_op(node, lambda ins: ins[0])

    def op_Cast(self, node, a):
        value = self.shape_value(node.input[0])
        if value is None:
            return "a cast of data"
        self.shapes[node.output[0]] = value

    def op_Concat(self, node, a):
        if node.input[0] in self.shapes or all(self.shape_value(i) is not None for i in node.input):
            return self._shape_op(node, lambda ins: [v for part in ins for v in part])
        if len(node.input) == 2 and node.input[0] in self.expanded:  # the class token before the tokens
            x = self.fg.value(node.input[1])
            if not self.fg.types[x].is_sequence or a.get("axis") not in (1, -2):
                return "a concatenation of a parameter and a value that is not a class token"
            self.fg.add(node.output[0], "clstoken", [x], where=node.name, source=source(node, []),
                        weights=(self.expanded[node.input[0]].reshape(-1),))
            return None
        t = self.fg.types[self.x(node)]
        if a.get("axis") % (len(t.shape) + 1) != 1 or t.tokens:
            return f"concatenation along axis {a.get('axis')}"
        self.add(node, "concat", [self.fg.value(i) for i in node.input])

    def op_Expand(self, node, a):
        token = self.const(node.input[0])
        if token is None or token.size != max(token.shape, default=1):
            return "an expand of data"
        self.expanded[node.output[0]] = token  # a class token, one per sample: its Concat reads it
        return None

    def op_Constant(self, node, a):
        from onnx import numpy_helper

        if "value" not in a:
            return "a constant other than a tensor"
        self.consts[node.output[0]] = numpy_helper.to_array(a["value"])

    def op_Identity(self, node, a):
        if node.input[0] in self.consts:
            self.consts[node.output[0]] = self.consts[node.input[0]]
        elif node.input[0] in self.shapes:
            self.shapes[node.output[0]] = self.shapes[node.input[0]]
        else:
            self.fg.same(node.output[0], node.input[0])

    def op_Dropout(self, node, a):
        if len(node.output) > 1 and node.output[1] and self.users.get(node.output[1]):
            return "a dropout whose mask is used"
        self.fg.same(node.output[0], node.input[0])


def read_onnx(path, input_shape: TensorType | None, name: str) -> FlatGraph:
    model, origin = _load(path)
    return _Reader(model, origin, input_shape, name).read()
