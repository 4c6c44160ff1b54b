"""Merges: the ops that join branches, written `add(a | b)` and `concat(a | b | c)`.

add:    every branch has the same shape; the output has it too. Drawn as a circled '+', the
        inputs after the first as skip edges (a residual's shortcut).
concat: along channels; the spatial sizes must agree; C_out = sum of C_i. Drawn as 'C'.
mul:    elementwise product with broadcasting (an SE gate Cx1x1 times CxHxW). Drawn as '×'.
Each branch starts from the merge's input. Receptive field: the largest over the branches.
`residual(f)` is sugar for add(f | shortcut), expanded by `lower`.
torch: no module; a sum of the branches (in place on the first where that is safe, as
torchvision's `out += identity`), torch.cat(dim=1).
"""

from __future__ import annotations

import operator

from ..ir import TensorType
from ..records import record
from .base import Family, Op, OpError, register
from .formula import Formula, maps


def _fold_fx(graph, function, args):
    """((a op b) op c) ...: a binary function over every branch, as torch.fx nodes."""
    out = args[0]
    for other in args[1:]:
        out = graph.call_function(function, (out, other))
    return out


def _fold_onnx(g, op_type: str, word: str, inputs, output) -> None:
    """The same chain as ONNX nodes: intermediate values `<node>/<word>i`, the last is `output`."""
    acc = inputs[0]
    for i, other in enumerate(inputs[1:], 1):
        out = output if i == len(inputs) - 1 else g.temp(f"{word}{i}")
        g.node(op_type, [acc, other], [out], suffix="" if out == output else f"{word}{i}")
        acc = out


@record
class _Merge(Op):
    """What every merge shares: branches in, no arguments, no module (its forward is a
    function: `torch_fx`, `torch_source`), and an output its backward does not read."""

    family = Family.MERGE
    merge = True
    output_overwritable = True

    @classmethod
    def make(cls, a, inputs: tuple[TensorType, ...]):
        return cls()

    def torch_spec(self, inputs):
        return None


@register
@record
class Add(_Merge):
    name = "add"
    work_rule = "(branches - 1) per element"

    def work(self, inputs, out):
        return (len(inputs) - 1) * out.numel

    sequences = True
    inplace = True
    skip_inputs = True
    glyph = "+"

    def torch_fx(self, graph, args, inplace):
        return _fold_fx(graph, operator.iadd if inplace else operator.add, args)

    def torch_source(self, args, inplace):
        return args[0] + "".join(f".add_({a})" for a in args[1:]) if inplace else " + ".join(args)

    def onnx_nodes(self, g, inputs, output, types):
        _fold_onnx(g, "Add", "sum", inputs, output)

    def explain_channels(self, inputs, out):
        return f"the branches summed element by element: {maps(out)}"

    def infer(self, inputs):
        first = inputs[0]
        for i, t in enumerate(inputs[1:], 1):
            if t != first:
                what = "channels" if t.spatial == first.spatial else "sizes"
                raise OpError(
                    f"add: branch {i + 1} gives {t} but branch 1 gives {first}",
                    branch=i,
                    other_branch=0,
                    kind="shape",
                    hint=f"the branches of add must have equal shapes; their {what} differ"
                    + ("; a 1x1 convolution (conv1x1) can change the channels" if what == "channels" else ""),
                )
        return first


@register
@record
class Concat(_Merge):
    name = "concat"
    work_rule = "0: a copy"

    def work(self, inputs, out):
        return 0

    glyph = "C"

    @classmethod
    def sequence_hint(cls, x):
        return ("concat joins feature maps along their channels; sequences join with add (a residual "
                "stream), or lay them out as maps first: " + super().sequence_hint(x).split("; ", 1)[1])

    def torch_fx(self, graph, args, inplace):
        import torch

        return graph.call_function(torch.cat, (list(args),), {"dim": 1})

    def torch_source(self, args, inplace):
        return f"torch.cat([{', '.join(args)}], dim=1)"

    def onnx_nodes(self, g, inputs, output, types):
        g.node("Concat", inputs, [output], axis=1)

    def explain_shape(self, inputs, out):
        rule = "C = " + " + ".join(f"C{i + 1}" for i in range(len(inputs)))
        return (Formula(" + ".join(str(t.channels) for t in inputs), out.channels, rule, axes=(0,)),)

    def explain_channels(self, inputs, out):
        return f"the branches' channels one after another, in order: {maps(out)}"

    def infer(self, inputs):
        first = inputs[0]
        for i, t in enumerate(inputs[1:], 1):
            if t.spatial != first.spatial:
                raise OpError(
                    f"concat: branch {i + 1} gives {t} but branch 1 gives {first}",
                    branch=i,
                    other_branch=0,
                    kind="shape",
                    hint="concat joins along channels; every other axis must match",
                )
        return TensorType(sum(t.channels for t in inputs), first.spatial)


@register
@record
class Mul(_Merge):
    """Elementwise product with broadcasting: every branch has the same number of axes, and
    on each axis a size either equals the largest or is 1 (squeeze-and-excitation: a Cx1x1
    gate times a CxHxW map). The output has the largest size of each axis. No parameters;
    no MACs (an elementwise op, like add). torch: `a * b`; ONNX: Mul. Token sequences
    multiply with sequences (`[1]x768` broadcasts over the tokens)."""

    sequences = True

    name = "mul"
    work_rule = "(branches - 1) per output element (a broadcast factor is read again, not copied)"

    def work(self, inputs, out):
        return (len(inputs) - 1) * out.numel

    glyph = "×"

    def torch_fx(self, graph, args, inplace):
        return _fold_fx(graph, operator.mul, args)

    def torch_source(self, args, inplace):
        return " * ".join(args)

    def onnx_nodes(self, g, inputs, output, types):
        _fold_onnx(g, "Mul", "prod", inputs, output)

    def explain_shape(self, inputs, out):
        lines = []
        for axis, size in enumerate(out.shape):
            sizes = [t.shape[axis] for t in inputs]
            if len(set(sizes)) > 1:
                name = "C" if axis == 0 else "O"
                lines.append(Formula(f"max({', '.join(map(str, sizes))})", size, name,
                                     "a size of 1 is repeated along the other", (axis,)))
        return tuple(lines)

    def explain_channels(self, inputs, out):
        return f"the branches multiplied element by element, sizes of 1 broadcast: {maps(out)}"

    def infer(self, inputs):
        shape = list(inputs[0].shape)
        for i, t in enumerate(inputs[1:], 1):
            if t.is_sequence != inputs[0].is_sequence:
                raise OpError(
                    f"mul: branch {i + 1} gives {t} but branch 1 gives {inputs[0]}: a token sequence and a feature map",
                    branch=i, other_branch=0, kind="shape",
                    hint="multiply sequences with sequences ([1]xD broadcasts over the tokens)",
                )
            if len(t.shape) != len(shape):
                raise OpError(
                    f"mul: branch {i + 1} gives {t} but branch 1 gives {inputs[0]}: their numbers of axes differ",
                    branch=i, other_branch=0, kind="shape",
                    hint="broadcasting pairs axes one to one: a gate for CxHxW is Cx1x1 (globalavgpool keeps the axes)",
                )
            for axis, (a, b) in enumerate(zip(shape, t.shape)):
                if a != b and 1 not in (a, b):
                    which = (("tokens", "features")[axis] if t.is_sequence else
                             "channels" if axis == 0 else f"spatial axis {axis}")
                    raise OpError(
                        f"mul: branch {i + 1} gives {t} but branch 1 gives {inputs[0]}; on {which}, {b} and {a} "
                        "neither match nor broadcast",
                        branch=i, other_branch=0, kind="shape",
                        hint="each axis must be equal, or 1 in one branch (it is then repeated along the other)",
                    )
                shape[axis] = max(a, b)
        if inputs[0].is_sequence:
            return TensorType(shape[1], tokens=shape[0])
        return TensorType(shape[0], tuple(shape[1:]))
