"""Channel slicing and shuffling (ShuffleNet's units).

slice(start, stop): channels start to stop - 1 of the input (spatial axes kept); 0 <= start <
stop <= C. With tuples it splits: `(slice(0, in_c // 2), slice(in_c // 2, in_c) -> branch)`.
shuffle(groups): ShuffleNet's channel shuffle: C = g * k channels viewed as g x k, transposed
to k x g, flattened; g must divide C.
Neither has parameters or MACs; both keep the receptive field (they only move channels).
torch: slicing (no module) and nn.ChannelShuffle; ONNX: Slice, and Reshape-Transpose-Reshape.
"""

from __future__ import annotations

from ..ir import TensorType
from ..records import record
from .base import REQUIRED, Arg, Bound, Family, Op, OpError, register
from .formula import Formula, maps


@register
@record
class Slice(Op):
    name = "slice"
    work_rule = "0: a view"

    def work(self, inputs, out):
        return 0

    family = Family.OTHER
    args = (Arg("start", "int0", REQUIRED, "the first channel (0-based)"),
            Arg("stop", "int", REQUIRED, "one past the last channel"))
    start: int
    stop: int

    @classmethod
    def make(cls, a: Bound, x: TensorType):
        start, stop = a["start"], a["stop"]
        if not start < stop <= x.channels:
            raise OpError(
                f"slice({start}, {stop}) does not fit the {x.channels} channels of {x}",
                arg="stop" if stop > x.channels else "start", kind="shape",
                hint=f"0 <= start < stop <= {x.channels}; halves are slice(0, in_c // 2) and slice(in_c // 2, in_c)",
            )
        return cls(start, stop)

    def infer(self, inputs):
        (x,) = inputs
        return TensorType(self.stop - self.start, x.spatial)

    def torch_spec(self, inputs):
        return None

    def torch_fx(self, graph, args, inplace):
        import operator

        return graph.call_function(operator.getitem, (args[0], (slice(None), slice(self.start, self.stop))))

    def torch_source(self, args, inplace):
        return f"{args[0]}[:, {self.start}:{self.stop}]"

    def onnx_nodes(self, g, inputs, output, types):
        import numpy as np

        g.node("Slice", [inputs[0], g.const("starts", np.array([self.start], np.int64)),
                         g.const("ends", np.array([self.stop], np.int64)), g.const("axes", np.array([1], np.int64))],
               [output])

    def explain_shape(self, inputs, out):
        return (Formula(f"{self.stop} - {self.start}", self.stop - self.start, "C = stop - start", axes=(0,)),)

    def explain_channels(self, inputs, out):
        return f"channels {self.start} to {self.stop - 1} of the {inputs[0].channels}: {maps(out)}"

    def label(self) -> str:
        return f"slice {self.start}:{self.stop}"


@register
@record
class Shuffle(Op):
    name = "shuffle"
    work_rule = "0: a permutation"

    def work(self, inputs, out):
        return 0

    family = Family.OTHER
    args = (Arg("groups", "int", REQUIRED, "the number of groups, e.g. shuffle(2)"),)
    groups: int

    @classmethod
    def make(cls, a: Bound, x: TensorType):
        if x.channels % a["groups"]:
            raise OpError(f"shuffle: {a['groups']} groups do not divide the {x.channels} channels", arg="groups",
                          hint="choose a number of groups that divides the channel count")
        return cls(a["groups"])

    def torch_spec(self, inputs):
        return "ChannelShuffle", (self.groups,), {}

    def onnx_nodes(self, g, inputs, output, types):
        import numpy as np

        (x,) = types
        k = x.channels // self.groups
        g.node("Reshape", [inputs[0], g.const("groups", np.array([0, self.groups, k, -1], np.int64))],
               [g.temp("grouped")], suffix="grouped")
        g.node("Transpose", [g.temp("grouped")], [g.temp("swapped")], suffix="swapped", perm=[0, 2, 1, 3])
        g.node("Reshape", [g.temp("swapped"), g.const("back", np.array([0, *x.shape], np.int64))], [output])

    def explain_channels(self, inputs, out):
        k = out.channels // self.groups
        return (f"the {out.channels} channels read as {self.groups} groups of {k}, transposed to {k} x {self.groups}: "
                f"each group's channels spread over the next layer's groups; {maps(out)}")

    def label(self) -> str:
        return f"shuffle {self.groups}"
