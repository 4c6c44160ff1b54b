"""Import: a model (an ONNX file, a torch module) -> the `.arch` spec a person would write.

    spec = archlang.from_torch(model, "3x224x224")     # an Imported
    spec.text                                          # blocks, `* n` repeats, residual(...)
    net = archlang.build(archlang.parse(spec.text))    # ... and back
    archlang.load_weights(net, spec.state_dict())

The pipeline: a reader (`torch_capture`, `onnx_reader`) gives a flat graph of archlang layers
(`flat`); `spelling` writes each layer as a person would; `refold` finds the structure. The
text is then analysed by archlang itself and checked against the flat graph node for node
(`_match`: every op with its resolved arguments, on the same inputs), so an import gives the
model's graph or an error, never a different network; the same matching maps the weights.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..ir import Graph, TensorType, _op_text
from .flat import FlatGraph, ModelImportError

__all__ = ["Imported", "from_torch", "from_onnx", "ModelImportError", "parse_shape", "same_graph"]


@dataclass
class Imported:
    """An imported model: the spec's text, its analysed network, and the source's weights
    keyed by the spec's own layer names (`state_dict()`, loadable into archlang.build)."""

    text: str
    name: str
    network: Any  # network.Network
    structured: bool  # False: written with named values (the graph is not a tree of branches)
    _weights: dict

    def state_dict(self):
        """The weights as torch tensors under the built module's names."""
        import torch

        out = {}
        for key, value in self._weights.items():
            out[key] = value if isinstance(value, torch.Tensor) else torch.from_numpy(value.copy())
        return out

    @property
    def lines(self) -> int:
        return len([l for l in self.text.splitlines() if l.strip() and not l.lstrip().startswith("#")])


def parse_shape(text) -> TensorType:
    """`3x224x224` (or a tuple, or a TensorType) as an input type."""
    if isinstance(text, TensorType):
        return text
    if isinstance(text, (tuple, list)):
        dims = tuple(int(d) for d in text)
    elif re.fullmatch(r"\s*\[\d+\](x\d+)?\s*", str(text)):  # a sequence [197]x768, token ids [1024]
        tokens, _, width = str(text).strip()[1:].partition("]")
        if int(tokens) <= 0 or width and int(width[1:]) <= 0:
            raise ModelImportError(f"'{text}' is not an input shape", hint="sizes are positive: [197]x768")
        return TensorType(int(width[1:]), (), int(tokens)) if width else TensorType(1, (), int(tokens), True)
    else:
        m = re.fullmatch(r"\s*\d+(?:\s*[x@]\s*\d+)*\s*", str(text))
        if not m:
            raise ModelImportError(f"'{text}' is not an input shape", hint="write it as a spec does: 3x224x224")
        dims = tuple(int(d) for d in re.split(r"\s*[x@]\s*", str(text).strip()))
    if not dims or any(d <= 0 for d in dims) or len(dims) > 4:
        raise ModelImportError(f"'{text}' is not an input shape",
                               hint="channels, then 0 to 3 spatial sizes, each positive: 3x224x224")
    return TensorType(dims[0], dims[1:])


def _name(text: str) -> str:
    name = re.sub(r"[^A-Za-z0-9_]", "_", text).strip("_").lower() or "imported"
    if name[0].isdigit():
        name = "net_" + name
    from ..parser import KEYWORDS

    return name + "_" if name in KEYWORDS else name


def from_torch(module, input_shape, *, name: str | None = None) -> Imported:
    """A torch module as a spec (captured with torch.fx: nothing runs on real data)."""
    from ..extras import require

    require("torch", job="from_torch")
    from .torch_capture import capture_torch

    shapes = input_shape if isinstance(input_shape, dict) else {"input": parse_shape(input_shape)}
    shapes = {k: parse_shape(v) for k, v in shapes.items()}
    fg = capture_torch(module, shapes, _name(name or type(module).__name__))
    return finish(fg)


def from_onnx(path, *, name: str | None = None, input_shape=None) -> Imported:
    """An ONNX file (or ModelProto) as a spec; `input_shape` where the file's is dynamic."""
    from ..extras import require

    require("onnx", "numpy", job="from_onnx")
    from .onnx_reader import read_onnx

    shape = parse_shape(input_shape) if input_shape is not None else None
    default = Path(path).stem if isinstance(path, (str, Path)) else "imported"
    fg = read_onnx(path, shape, _name(name or default))
    return finish(fg)


def finish(fg: FlatGraph) -> Imported:
    """Spell, refold, analyse and check: the Imported, or an error if the text is not the graph."""
    from ..program import parse
    from .refold import NotATree, refold, render_flat
    from .spelling import spell

    _prune(fg)
    _nest_concats(fg)
    spelled = {l.name: spell(l, fg.types[l.inputs[0]]) for l in fg.layers}
    joined = _join_merges(fg)
    texts = []
    # merges joined (`a + b + c` as one add) where that leaves a tree; else as the model has them
    for graph in (joined, fg) if len(joined.layers) != len(fg.layers) else (fg,):
        try:
            texts.append((refold(graph, spelled), True, graph))
            break
        except NotATree:
            pass
    texts.append((render_flat(fg, spelled), False, fg))
    problems = []
    for text, structured, graph in texts:
        text = _formatted(text)
        try:
            net = parse(text, f"{graph.name}.arch").network(graph.name)
        except Exception as err:  # a refolding archlang cannot read back: try the plainer form
            problems.append(f"{type(err).__name__}: {err}")
            continue
        mapping = _match(net.graph, graph)
        if mapping is None:
            problems.append("the refolded graph differs")
            continue
        return Imported(text, graph.name, net, structured, _weights(net.graph, graph, mapping))
    raise ModelImportError(f"{fg.origin}: the imported graph could not be written as a spec ({'; '.join(problems)})",
                           hint="this is a bug in archlang's importer; please report it with the model")


def _formatted(text: str) -> str:
    """The text as `archlang fmt` lays it out (the importer's own text, written to parse)."""
    from ..formatter import format_source

    return format_source(text)


def _join_merges(fg: FlatGraph) -> FlatGraph:
    """add(add(a, b), c) -> add(a, b, c) (and mul, concat) where the inner one has no other
    reader: exporters and torch's `a + b + c` write a many-branch merge as a chain of two-input
    ones; archlang writes it as the one merge it is."""
    from ..ops.base import lookup

    readers: dict[str, int] = {}
    for layer in fg.layers:
        for i in layer.inputs:
            readers[i] = readers.get(i, 0) + 1
    for o in fg.outputs:
        readers[o] = readers.get(o, 0) + 1
    from dataclasses import replace

    layers = [replace(l) for l in fg.layers]
    by_name = {l.name: l for l in layers}
    gone = set()
    for layer in layers:
        if layer.call not in ("add", "mul", "concat"):
            continue
        ins = []
        for i in layer.inputs:
            inner = by_name.get(i)
            if inner is not None and inner.call == layer.call and readers[i] == 1 and i not in gone:
                ins.extend(inner.inputs)
                gone.add(i)
            else:
                ins.append(i)
        if len(ins) != len(layer.inputs):
            cls = lookup(layer.call)
            layer.inputs = tuple(ins)
            layer.op = cls.make(None, tuple(fg.types[i] for i in ins))
    return replace(fg, layers=[l for l in layers if l.name not in gone])


def _nest_concats(fg: FlatGraph) -> None:
    """concat(x0, n1, ..., nk) where concat(x0, ..., n(k-1)) is an earlier value -> concat(that,
    nk): DenseNet as torchvision writes it concatenates every earlier output again in each
    layer; as one concat after another (`concat(identity | dense_layer)`) it is a chain of
    the same values, and reads as the block a person writes. A concat of one value is that value."""
    from ..ops.base import lookup

    earlier: dict[tuple[str, ...], str] = {}  # the values a concat stacks, in order -> that concat
    expanded: dict[str, tuple[str, ...]] = {}
    keep = []

    def flat(values) -> tuple[str, ...]:
        return tuple(x for v in values for x in expanded.get(v, (v,)))

    for layer in fg.layers:
        layer.inputs = tuple(fg.value(i) for i in layer.inputs)
        if layer.call == "concat":
            ins = layer.inputs
            if len(ins) == 1:
                fg.same(layer.name, ins[0])
                continue
            for cut in range(len(ins) - 1, 1, -1):
                prefix = earlier.get(flat(ins[:cut]))
                if prefix is not None:
                    ins = (prefix, *ins[cut:])
                    break
            if ins != layer.inputs:
                layer.inputs = ins
                layer.op = lookup("concat").make(None, tuple(fg.types[i] for i in ins))
            expanded[layer.name] = flat(ins)
            earlier.setdefault(expanded[layer.name], layer.name)
        keep.append(layer)
    fg.layers = keep
    fg.outputs = [fg.value(o) for o in fg.outputs]


def _prune(fg: FlatGraph) -> None:
    """Drop layers whose values reach no output (a forward's unused computations)."""
    live = set(fg.outputs)
    for layer in reversed(fg.layers):
        if layer.name in live:
            live.update(layer.inputs)
    fg.layers = [l for l in fg.layers if l.name in live]


_COMMUTATIVE = ("add", "mul")


def _keyed(op, inputs: tuple[str, ...]) -> tuple[str, tuple[str, ...]]:
    """(op key, inputs): a tied layer's partner is named in its graph, so it counts as one more
    input (its identity), not as text."""
    tied = getattr(op, "tied", "")
    if tied:
        from dataclasses import replace

        return _op_key(replace(op, tied="")) + "{tied}", (*inputs, tied)
    return _op_key(op), inputs


def _op_key(op) -> str:
    """The op's text, with spellings of one computation made one: dwconv and conv(groups=C),
    upsample by a scale and to the size it gives, an adaptive average pool to a divisor of its
    input and the average pool it is, layernorm2d of a vector and layernorm."""
    from dataclasses import replace

    if op.name == "upsample" and op.scale is not None:
        op = replace(op, scale=None)
    if op.name == "adaptiveavgpool" and all(i % o == 0 for i, o in zip(op.input_size, op.output_size)) \
            and any(o != 1 for o in op.output_size):
        k = tuple(i // o for i, o in zip(op.input_size, op.output_size))
        return f"avgpool{{kernel_size={k}, stride={k}, padding={(0,) * len(k)}, ceil_mode=false}}"
    if op.name == "avgpool" and not any(op.padding):  # no padding: count_include_pad means nothing
        return _op_text(replace(op, count_include_pad=True)).replace(", count_include_pad=true", "")
    if op.name == "layernorm2d" and op.rank == 0:
        return f"layernorm{{normalized_shape=({op.num_channels},), eps={op.eps!r}}}"
    text = _op_text(op)
    if op.name == "dwconv":  # conv(groups=C) spelled for depthwise convolutions: one computation
        return "conv" + text[len("dwconv"):]
    # adaptiveavgpool(1) and globalavgpool build the same torch module: one identity
    if op.name == "adaptiveavgpool" and all(s == 1 for s in op.output_size):
        return f"globalavgpool{{rank={len(op.output_size)}}}"
    return text


def _graph_nodes(graph: Graph, ignoring: tuple[str, ...] = ()) -> tuple[list, list[str]]:
    inputs = [(n.name, n.type) for n in graph.inputs]
    same = {n.name for n in graph.layers if n.op.name == "crop" and graph.input_types(n)[0] == n.type}
    return _nodes(inputs, [(n.name, n.op, n.inputs) for n in graph.layers], graph.outputs, ignoring, same)


def _nodes(inputs, layers, outputs, ignoring: tuple[str, ...] = (), same: set[str] = frozenset()):
    """(name, op key, inputs) per node, and the outputs, in a canonical form: ops in `ignoring`
    and the layers in `same` (crops that cut nothing) taken out (their readers read their
    input), and add(add(a, b), c) read as add(a, b, c), as exporters write it."""
    readers: dict[str, list[str]] = {}
    for name, op, ins in layers:
        for i in ins:
            readers.setdefault(i, []).append(op.name)
    for o in outputs:
        readers.setdefault(o, []).append("output")
    nodes = [(name, f"input{k}:{t}", ()) for k, (name, t) in enumerate(inputs)]
    alias: dict[str, str] = {}
    inner: dict[tuple[str, str], tuple[str, ...]] = {}  # a merge read only by one of its kind: its inputs
    for name, op, ins in layers:
        ins = tuple(alias.get(i, i) for i in ins)
        if op.name == "concat":
            ins = tuple(x for i in ins for x in inner.pop(i, (i,)))
            if readers.get(name) == ["concat"]:
                inner[name] = ins
                continue
        if op.name in ignoring or name in same:
            alias[name] = ins[0]
        else:
            if op.name == "attention" and "dropout" in ignoring:  # at inference attention drops nothing either
                from dataclasses import replace

                op = replace(op, dropout=0.0)
            nodes.append((name, *_keyed(op, ins)))
    return nodes, [alias.get(o, o) for o in outputs]


def _correspond(a, a_outputs, b, b_outputs) -> dict[str, str] | None:
    """Node lists a -> b (name, op key, inputs) paired by structural identity: each value's op
    with every resolved argument, applied to the identities of its inputs (add's and mul's in
    any order); None unless every node of one has its own partner in the other."""
    if len(a) != len(b):
        return None
    table: dict[tuple, int] = {}  # one table for both, so equal computations get equal numbers

    def identities(nodes):
        sig = {}
        for key, op_text, ins in nodes:
            args = tuple(sig[i] for i in ins)
            if op_text in _COMMUTATIVE:
                args = tuple(sorted(args))
            sig[key] = table.setdefault((op_text, args), len(table))
        return sig

    sa, sb = identities(a), identities(b)
    if [sa[o] for o in a_outputs] != [sb[o] for o in b_outputs]:
        return None
    by_identity: dict[int, list[str]] = {}
    for key, _, _ in b:
        by_identity.setdefault(sb[key], []).append(key)
    mapping = {}
    for key, _, _ in a:
        partners = by_identity.get(sa[key])
        if not partners:
            return None
        mapping[key] = partners.pop(0)
    return mapping


def same_graph(a: Graph, b: Graph, *, ignoring: tuple[str, ...] = ()) -> bool:
    """Whether two graphs compute the same thing layer for layer (names and order aside),
    leaving out the ops in `ignoring` (dropout, which ONNX files drop at inference)."""
    return _correspond(*_graph_nodes(a, ignoring), *_graph_nodes(b, ignoring)) is not None


def _match(graph: Graph, fg: FlatGraph) -> dict[str, str] | None:
    """graph node -> flat layer, where the two are the same computation; None if they differ."""
    same = {l.name for l in fg.layers if l.call == "crop" and fg.types[l.inputs[0]] == l.type}
    flat = _nodes(list(fg.inputs.items()), [(l.name, l.op, l.inputs) for l in fg.layers], fg.outputs, (), same)
    mapping = _correspond(*_graph_nodes(graph), *flat)
    if mapping is None:
        return None
    # the concats folded into others have no partner of their own: pair them by position
    rest_graph = [n.name for n in graph.layers if n.name not in mapping]
    rest_flat = [l.name for l in fg.layers if l.name not in set(mapping.values())]
    if len(rest_graph) != len(rest_flat):
        return None
    mapping.update(zip(rest_graph, rest_flat))
    return mapping


def _weights(graph: Graph, fg: FlatGraph, mapping: dict[str, str]) -> dict:
    layers = {l.name: l for l in fg.layers}
    out = {}
    for node in graph.layers:
        layer = layers[mapping[node.name]]
        if layer.weights is None:
            continue
        for t, w in zip(node.op.tensors(), layer.weights):
            if w is not None:
                out[f"{node.name}.{t.name}"] = w
    for node in graph.layers:  # a shared tensor is in the state dict under both layers, as torch keeps it
        for attr, other, tensor in node.op.ties():
            if f"{other}.{tensor}" in out:
                out[f"{node.name}.{attr}"] = out[f"{other}.{tensor}"]
    return out
