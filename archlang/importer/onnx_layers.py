"""Import from ONNX, the layer rules: how each ONNX node (or a pattern of nodes torch's
exporters write) becomes archlang layers. `LayerRules` is the part of the reader that knows
ONNX's operators; `onnx_reader` walks the graph, tracks constants and shape arithmetic, and
finds the multi-node patterns these rules receive (`op_SiLU`, `op_LayerNorm2d`, ...).
Each rule adds its layers to the reader's FlatGraph, or returns why it cannot (a reason the
reader reports once per op type).
"""

from __future__ import annotations

from typing import Any

from .flat import FlatGraph

__all__ = ["LayerRules", "BATCH", "attrs", "f32", "perm", "source", "skip_sizes"]

BATCH = "N"  # the symbolic batch size in shape arithmetic


def attrs(node) -> dict[str, Any]:
    from onnx import helper

    return {a.name: f32(helper.get_attribute_value(a)) if a.type == a.FLOAT else helper.get_attribute_value(a)
            for a in node.attribute}


def f32(value: float) -> float:
    """A float32 attribute as the decimal it was written as: 1e-3, not 0.001000000047."""
    import numpy as np

    return float(np.format_float_positional(np.float32(value), unique=True, trim="0"))


def perm(node) -> list[int]:
    perm = list(attrs(node).get("perm", []))
    return [p % len(perm) for p in perm]


def source(node, weight_names: list[str]) -> str:
    """The node's module path in the exporting model: from its weight's name
    (`layer1.0.conv1.weight`), else from the node's scope name (`/layer1/layer1.0/relu/Relu`)."""
    for w in weight_names:
        if w and "." in w and not w.startswith("onnx::"):
            return w.rsplit(".", 1)[0]
    parts = [p for p in node.name.split("/") if p][:-1]
    path = ""
    for part in parts:  # each scope names a module by its full path or by its own name
        path = part if not path or part.startswith(path + ".") else f"{path}.{part}"
    return path



def skip_sizes(a) -> int:
    return 0 if a.get("axes") is not None else 2


class LayerRules:
    """The op_<ONNX op type> rules of `onnx_reader._Reader` (see there for its state)."""

    fg: FlatGraph
    consts: dict[str, Any]

    # convolutions and fc
    def op_Conv(self, node, a):
        w = self.const(node.input[1])
        if w is None:
            return "weights computed in the graph"
        rank = self.rank(node)
        x = self.input_of(node)
        win = self.window(a, rank, node)
        if isinstance(win, str):
            return win
        stride, pad = win
        weights = [node.input[1]] + ([node.input[2]] if len(node.input) > 2 and node.input[2] else [])
        self.consts[node.input[1]] = w
        self.add(node, "conv", [x], weights=weights, c=int(w.shape[0]), k=tuple(int(k) for k in w.shape[2:]),
                 stride=stride, pad=pad, dilation=tuple(a.get("dilations", [1] * rank)), groups=int(a.get("group", 1)),
                 bias=len(weights) > 1)

    def op_ConvTranspose(self, node, a):
        w = self.const(node.input[1])
        if w is None or "output_shape" in a:
            return "weights computed in the graph or an output_shape attribute"
        rank = self.rank(node)
        pads = list(a.get("pads", [0] * 2 * rank))
        extra = [b - e for b, e in zip(pads[:rank], pads[rank:])]  # rows kept at the far end: output padding
        if any(e < 0 for e in extra):
            return f"padding {pads} with more at the end than the start"
        a["output_padding"] = [e + o for e, o in zip(extra, a.get("output_padding", [0] * rank))]
        g = int(a.get("group", 1))
        weights = [node.input[1]] + ([node.input[2]] if len(node.input) > 2 and node.input[2] else [])
        self.consts[node.input[1]] = w
        self.add(node, "convtranspose", weights=weights, c=int(w.shape[1]) * g, k=tuple(int(k) for k in w.shape[2:]),
                 stride=tuple(a.get("strides", [1] * rank)), pad=tuple(pads[:rank]),
                 output_padding=tuple(a["output_padding"]),
                 dilation=tuple(a.get("dilations", [1] * rank)), groups=g, bias=len(weights) > 1)

    def op_Gemm(self, node, a):
        w = self.const(node.input[1])
        if w is None or a.get("transA", 0) or a.get("alpha", 1.0) != 1.0 or a.get("beta", 1.0) != 1.0:
            return "a Gemm other than x W^T + b with constant weights"
        if not a.get("transB", 0):
            w = w.T.copy()
        key = node.output[0] + "::weight"
        self.consts[key] = w
        bias = len(node.input) > 2 and bool(node.input[2])
        names = [key] + ([node.input[2]] if bias else [])
        src = source(node, [node.input[1]])
        self.fg.add(node.output[0], "fc", [self.x(node)], where=node.name, source=src,
                    weights=tuple(self.consts.get(n) for n in names), c=int(w.shape[0]), bias=bias)

    def op_MatMulAdd(self, node, a):
        if self.fg.types[self.x(node)].rank:
            return "a product along a map's last axis"
        add = self.matmul_add[id(node)]
        w = self.consts[node.input[1]].T.copy()
        b = next(self.consts[i] for i in add.input if i in self.consts)
        t = self.fg.types[self.x(node)]
        if w.shape[1] != t.channels or b.shape != (w.shape[0],):
            return "a MatMul that is not a linear layer"
        src = source(node, [node.input[1]])
        self.fg.add(add.output[0], "fc", [self.x(node)], where=node.name, source=src, weights=(w, b),
                    c=int(w.shape[0]), bias=True)

    def op_MatMul(self, node, a):
        w = self.const(node.input[1])
        if w is None or w.ndim != 2:
            return "a MatMul of two computed values"
        if node.input[0] in self.partial or node.input[0] in self.permuted or self.fg.types[self.x(node)].rank:
            return self.matmul_pool(node)  # along a map's axis: archlang's adaptive pool
        tie = self.tied_to(node.input[1])
        self.fg.add(node.output[0], "fc", [self.x(node)], where=node.name, source=source(node, [node.input[1]]),
                    weights=None if tie else (w.T.copy(),), c=int(w.shape[1]), bias=False, tie=tie)

    def tied_to(self, name: str):
        """The earlier layer whose weight this one reads (GPT-2's output layer and its embedding)."""
        owner = self.owners.get(self.origins.get(name, name))
        if owner is None:
            return None
        from ..ops.args import LayerOf

        return LayerOf(owner, next(l.op for l in self.fg.layers if l.name == owner))

    # norms
    def op_BatchNormalization(self, node, a):
        import numpy as np

        if len(node.output) > 1 and any(node.output[1:]):
            return "batch norm in training mode"
        momentum = round(1.0 - a.get("momentum", 0.9), 12)  # ONNX keeps the old statistics' share
        self.add(node, "bn", weights=list(node.input[1:5]), eps=a.get("epsilon", 1e-5), momentum=momentum)
        layer = self.fg.layers[-1]
        layer.weights = tuple(layer.weights) + (np.array(0, dtype=np.int64),)

    def op_LayerNormalization(self, node, a):
        t = self.fg.types[self.x(node)]
        axis = a.get("axis", -1) % (len(t.shape) + 1)
        if len(node.input) < 3 or not node.input[2]:
            return "a layer norm without a bias"
        normalised = t.shape[axis - 1:]
        if normalised != ((t.channels,) if t.is_sequence else t.shape):
            return f"a layer norm over axes {axis} onwards (archlang's layernorm takes every feature of a sample, " \
                   "or of a token)"
        self.add(node, "layernorm", weights=list(node.input[1:3]), eps=a.get("epsilon", 1e-5))

    def op_GroupNormalization(self, node, a):
        t = self.fg.types[self.x(node)]
        scale = self.const(node.input[1])
        if scale is None or scale.shape != (t.channels,):
            return "a group norm with per-group scales (opset 18's form)"
        self.add(node, "groupnorm", weights=list(node.input[1:3]), groups=int(a["num_groups"]),
                 eps=a.get("epsilon", 1e-5))

    def op_LRNnd(self, node, a):
        x, out = self.lrn_nd[id(node)]
        self.fg.add(out, "lrn", [self.fg.value(x)], where=node.name, source=source(node, []), size=int(a["size"]),
                    alpha=a.get("alpha", 1e-4), beta=a.get("beta", 0.75), k=a.get("bias", 1.0))

    def op_LayerNorm2d(self, node, a):
        x, out = self.layernorm2d[id(node)]
        if len(node.input) < 3 or not node.input[2] or a.get("axis", -1) != -1:
            return "a layer norm without a bias"
        self.fg.add(out, "layernorm2d", [self.fg.value(x)], where=node.name, source=source(node, list(node.input[1:3])),
                    weights=(self.consts.get(node.input[1]), self.consts.get(node.input[2])), eps=a.get("epsilon", 1e-5))

    def op_ChannelShuffle(self, node, a):
        first = self.shuffles[id(node)]
        t = self.fg.types[self.fg.value(first.input[0])]
        grouped, back = self.shape_value(first.input[1]), self.shape_value(node.input[1])
        if grouped is None or back is None or len(grouped) != 4 or not t.rank or \
                grouped[1] * (grouped[2] if grouped[2] > 0 else 1) != t.channels or back[1:] not in (list(t.shape), [-1, *t.spatial]):
            return "a reshape, transpose and reshape that is not a channel shuffle"
        self.fg.add(node.output[0], "shuffle", [self.fg.value(first.input[0])], where=node.name, source=source(node, []),
                    groups=int(grouped[1]))

    def op_Slice(self, node, a):
        import numpy as np

        def value(k):
            v = self.shape_value(node.input[k]) if len(node.input) > k and node.input[k] else None
            return None if v is None or BATCH in v else np.array(v)

        starts, ends, axes, steps = value(1), value(2), value(3), value(4)
        table = self.const(node.input[0])
        if table is not None and table.ndim == 2 and starts is not None and list(starts) == [0] \
                and (axes is None or list(axes) == [0]):
            self.tables[node.output[0]] = table  # a position table's first L rows: its Add reads it
            return None
        if node.input[0] in self.shapes:  # arithmetic on a shape: x.shape[2:]
            dims = self.shapes[node.input[0]]
            if starts is None or ends is None or len(starts) != 1 or steps is not None and np.any(steps != 1):
                return "a slice of a shape with computed bounds"
            self.shapes[node.output[0]] = dims[int(starts[0]):int(min(ends[0], len(dims)))]
            return None
        t = self.fg.types[self.x(node)]
        if starts is None or ends is None or steps is not None and np.any(steps != 1):
            return "a slice with computed bounds or a step"
        axes = [int(v) % (len(t.shape) + 1) for v in (axes if axes is not None else range(len(starts)))]
        sizes = (t.channels, *t.spatial)
        bounds = {}
        for axis, b, e in zip(axes, starts.reshape(-1), ends.reshape(-1)):
            n = sizes[axis - 1]
            b, e = int(b) + n if b < 0 else min(int(b), n), int(e) + n if e < 0 else min(int(e), n)
            bounds[axis] = (b, e)
        if t.tokens:
            return "a slice of a sequence"
        if all(bounds[axis] == (0, sizes[axis - 1]) for axis in bounds):
            # a slice that keeps what archlang's layer before it gives (a pool in ceil mode cut back
            # to PyTorch's size): nothing to import
            self.fg.same(node.output[0], node.input[0])
            return None
        if list(bounds) == [1]:
            self.add(node, "slice", start=bounds[1][0], stop=bounds[1][1])
            return None
        if 1 in bounds or not bounds:
            return "a slice of channels and spatial axes at once"
        x = self.x(node)
        previous = next((l for l in self.fg.layers if l.name == x), None)
        offsets = [0] * t.rank
        if previous is not None and previous.call == "crop" and len(self.users.get(x, [])) == 1:
            # torch writes x[:, :, a:b, c:d] as one Slice per axis: one crop
            self.fg.layers.remove(previous)
            x = previous.inputs[0]
            offsets = list(previous.op.offsets)
            t = self.fg.types[x]
        size = []
        for k in range(t.rank):
            b, e = bounds.get(k + 2, (0, self.fg.types[self.x(node)].spatial[k]))
            offsets[k] += b
            size.append(e - b)
        if any(o != (i - s) // 2 for o, i, s in zip(offsets, t.spatial, size)):
            return "a crop that is not centred (archlang's crop cuts the middle)"
        self.fg.add(node.output[0], "crop", [x], where=node.name, source=source(node, []), size=tuple(size))

    def op_LRN(self, node, a):
        self.add(node, "lrn", size=int(a["size"]), alpha=float(a.get("alpha", 1e-4)), beta=float(a.get("beta", 0.75)),
                 k=float(a.get("bias", 1.0)))

    # activations
    def op_Relu(self, node, a):
        self.add(node, "relu")

    def op_Sigmoid(self, node, a):
        self.add(node, "sigmoid")

    def op_Tanh(self, node, a):
        self.add(node, "tanh")

    def op_SiLU(self, node, a):
        sig = next(i for i in node.input if self.producer.get(i) is not None and
                   self.producer[i].op_type == "Sigmoid" and id(self.producer[i]) in self.skip)
        x = self.producer[sig].input[0]
        self.fg.add(node.output[0], "silu", [self.fg.value(x)], where=node.name, source=source(node, []))

    def op_HardSwish(self, node, a):
        self.add(node, "hardswish")

    def op_HardSigmoid(self, node, a):
        if abs(a.get("alpha", 0.2) - 1 / 6) > 1e-6 or abs(a.get("beta", 0.5) - 0.5) > 1e-6:
            return "a hard sigmoid other than torch's (x/6 + 1/2)"
        self.add(node, "hardsigmoid")

    def op_LeakyRelu(self, node, a):
        self.add(node, "leakyrelu", slope=a.get("alpha", 0.01))

    def op_Elu(self, node, a):
        self.add(node, "elu", alpha=a.get("alpha", 1.0))

    def op_Gelu(self, node, a):
        approx = a.get("approximate", b"none")
        self.add(node, "gelu", tanh=approx in (b"tanh", "tanh"))

    def op_Clip(self, node, a):
        lo = a.get("min") if "min" in a else (self.const(node.input[1]) if len(node.input) > 1 and node.input[1] else None)
        hi = a.get("max") if "max" in a else (self.const(node.input[2]) if len(node.input) > 2 and node.input[2] else None)
        if lo is None or hi is None or float(lo) != 0.0 or float(hi) != 6.0:
            return "a clip other than to [0, 6] (ReLU6)"
        self.add(node, "relu6")

    def _softmax(self, node, a, call):
        t = self.fg.types[self.x(node)]
        axis = a.get("axis", -1)
        if axis == 1 and not t.tokens or axis in (-1, 2) and t.is_sequence or axis == -1 and t.rank == 0 and not t.tokens:
            self.add(node, call)
            return None
        return f"{call} over axis {axis}"

    def op_Softmax(self, node, a):
        return self._softmax(node, a, "softmax")

    def op_LogSoftmax(self, node, a):
        return self._softmax(node, a, "logsoftmax")

    # pooling
    def _pool(self, node, a, call, **extra):
        rank = self.rank(node)
        x = self.input_of(node)
        if any(d != 1 for d in a.get("dilations", [1] * rank)):
            return "dilated pooling"
        if len(node.output) > 1 and node.output[1]:
            return "pooling that returns indices"
        win = self.window(a, rank, node)
        if isinstance(win, str):
            return win
        stride, pad = win
        self.fg.add(node.output[0], call, [x], where=node.name, source=source(node, []),
                    k=tuple(a["kernel_shape"]), stride=stride, pad=pad, ceil_mode=bool(a.get("ceil_mode", 0)), **extra)

    def op_MaxPool(self, node, a):
        return self._pool(node, a, "maxpool")

    def op_AveragePool(self, node, a):
        t = self.fg.types[self.x(node)]
        k = list(a.get("kernel_shape", []))
        if k == [1] * t.rank and list(a.get("strides", k)) == k and not any(a.get("pads", [])) \
                and node.input[0] not in self.pads:
            # torch writes an adaptive pool to the size it already has (VGG's 7x7 at 224) as a 1x1 average
            self.add(node, "adaptiveavgpool", size=t.spatial)
            return None
        include = bool(a.get("count_include_pad", 0)) or not any(a.get("pads", [])) and node.input[0] not in self.pads
        return self._pool(node, a, "avgpool", count_include_pad=include)

    def op_GlobalAveragePool(self, node, a):
        self.add(node, "globalavgpool")

    def op_GlobalMaxPool(self, node, a):
        self.add(node, "globalmaxpool")

    def spatial_mean(self, node, a, t, axes):
        axes = sorted(int(v) % (t.rank + 2) for v in axes)
        if t.rank == 0 or axes != list(range(2, t.rank + 2)):
            return f"a mean over axes {axes}"
        if a.get("keepdims", 1):
            self.add(node, "globalavgpool")
        else:
            self.fg.add(node.output[0] + "::pool", "globalavgpool", [self.x(node)], where=node.name,
                        source=source(node, []))
            self.fg.add(node.output[0], "flatten", [node.output[0] + "::pool"], where=node.name, source="")

    def _transposed_tail(self, node, pads) -> bool:
        """ConvTranspose -> Pad at the far ends: rows of output padding past the stride (archlang
        writes them so for ONNX Runtime); the layer gets them back."""
        x = self.fg.value(node.input[0])
        layer = self.fg.layers[-1] if self.fg.layers else None
        if layer is None or layer.name != x or layer.call != "convtranspose" or len(self.users.get(x, [])) != 1:
            return False
        n = len(pads) // 2
        begin, end = pads[:n], pads[n:]
        if any(begin) or any(end[:2]):
            return False
        kwargs = dict(layer.kwargs)
        kwargs["output_padding"] = tuple(o + e for o, e in zip(kwargs["output_padding"], end[2:]))
        self.fg.layers.pop()
        self.fg.add(node.output[0], "convtranspose", layer.inputs, where=node.name, source=layer.source,
                    weights=layer.weights, **kwargs)
        return True

    def _bias_after(self, node) -> bool:
        """Add(convtranspose, bias reshaped to C x 1 x ...): the layer's own bias."""
        import numpy as np

        consts = [self.const(i) if self.const(i) is not None else self.reshaped.get(i) for i in node.input]
        if len(node.input) != 2 or sum(c is not None for c in consts) != 1:
            return False
        k = 0 if consts[0] is not None else 1
        x = self.fg.value(node.input[1 - k])
        layer = self.fg.layers[-1] if self.fg.layers else None
        if layer is None or layer.name != x or layer.call != "convtranspose" or layer.kwargs.get("bias") \
                or len(self.users.get(node.input[1 - k], [])) != 1:
            return False
        bias = np.asarray(consts[k]).reshape(-1)
        if bias.shape != (layer.type.channels,):
            return False
        self.fg.layers.pop()
        self.fg.add(node.output[0], "convtranspose", layer.inputs, where=node.name, source=layer.source,
                    weights=(layer.weights[0], bias), **{**layer.kwargs, "bias": True})
        return True

    def op_Pad(self, node, a):
        pads = a.get("pads")
        if pads is None and len(node.input) > 1:
            pads = self.const(node.input[1])
        mode = a.get("mode", b"constant")
        value = self.const(node.input[2]) if len(node.input) > 2 and node.input[2] else 0
        users = self.users.get(node.output[0], [])
        if pads is None or mode not in (b"constant", "constant") or float(value if value is not None else 1) != 0:
            return "a padding that is not zeros"
        pads = [int(p) for p in pads]
        if self._transposed_tail(node, pads):
            return None
        if not users or any(u.op_type not in ("Conv", "MaxPool", "AveragePool") for u in users):
            return "a padding that is not a convolution's or pool's"
        if self._transposed_tail(node, pads):
            return None
        n = len(pads) // 2
        if pads[:2] != [0, 0] or pads[n:n + 2] != [0, 0]:
            return "a padding of the batch or channel axes"
        self.pads[node.output[0]] = (node.input[0], pads[2:n] + pads[n + 2:])

    # merges
    def _merge(self, node, call):
        if any(i in self.consts for i in node.input):
            return f"a {call} with a constant (archlang's {call} merges computed values)"
        self.add(node, call, [self.fg.value(i) for i in node.input])

    def op_Add(self, node, a):
        if self._bias_after(node):
            return None
        for k, name in enumerate(node.input[:2]):
            table = self.tables.get(name, self.const(name))
            if table is not None and len(node.input) == 2:  # a position table added to the tokens
                table = table.reshape(table.shape[-2:]) if table.ndim == 3 and table.shape[0] == 1 else table
                x = self.fg.value(node.input[1 - k])
                t = self.fg.types[x]
                if not t.is_sequence or table.ndim != 2 or table.shape[1] != t.channels:
                    return "an addition of a constant that is not a position table"
                self.fg.add(node.output[0], "posembed", [x], where=node.name, source=source(node, [name]),
                            weights=(table,), positions=int(table.shape[0]))
                return None
        return self._merge(node, "add")

    def op_Sum(self, node, a):
        return self._merge(node, "add")

    def op_Mul(self, node, a):
        consts = [self.const(i) for i in node.input]
        if len(node.input) == 2 and sum(c is not None for c in consts) == 1:
            k = 0 if consts[0] is not None else 1
            weight, x = consts[k], self.fg.value(node.input[1 - k])
            t = self.fg.types[x]
            if weight.shape == (t.channels, *(1,) * t.rank) and not t.tokens:
                # x times one learned factor per channel: ConvNeXt's layer scale
                import numpy as np

                flat = weight.reshape(-1)
                init = f32(float(flat[0])) if np.all(flat == flat[0]) else None  # as built: its starting value
                self.fg.add(node.output[0], "layerscale", [x], where=node.name, source=source(node, [node.input[k]]),
                            weights=(weight,), init=init)
                return None
        return self._merge(node, "mul")

    # resampling
    def op_Resize(self, node, a):
        t = self.fg.types[self.x(node)]
        mode = a.get("mode", b"nearest")
        mode = mode.decode() if isinstance(mode, bytes) else mode
        ctm = a.get("coordinate_transformation_mode", b"half_pixel")
        ctm = ctm.decode() if isinstance(ctm, bytes) else ctm
        scales = self.const(node.input[2]) if len(node.input) > 2 and node.input[2] else None
        sizes = self.shape_value(node.input[3]) if len(node.input) > 3 and node.input[3] else None
        if sizes is not None:
            import numpy as np

            if BATCH in sizes[skip_sizes(a):]:
                return "sizes computed from the batch"
            sizes = np.array([0 if v == BATCH else v for v in sizes])
        if mode not in ("nearest", "linear"):
            return f"mode {mode}"
        kwargs: dict = {"linear": mode == "linear"}
        if mode == "linear":
            kwargs["align_corners"] = ctm == "align_corners"
        axes = a.get("axes")
        skip = 0 if axes is not None else 2  # without axes, N and C come first
        if axes is not None and sorted(int(v) % (t.rank + 2) for v in axes) != list(range(2, t.rank + 2)):
            return f"a resize of axes {list(axes)}"
        if scales is not None and scales.size:
            s = [float(v) for v in scales.reshape(-1)[skip:]]
            if any(v != int(v) for v in s):
                return f"fractional scales {s}"
            kwargs["scale"] = tuple(int(v) for v in s)
        elif sizes is not None and sizes.size:
            kwargs["size"] = tuple(int(v) for v in sizes.reshape(-1)[skip:])
        else:
            return "scales or sizes computed in the graph"
        if t.rank == 0:
            return "a resize of a vector"
        self.add(node, "upsample", **kwargs)

    op_Upsample = op_Resize

