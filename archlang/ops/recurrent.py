"""Recurrent layers on token sequences, as PyTorch's nn.LSTM and nn.GRU compute them.

lstm(hidden, layers=1, bidirectional=false, last=false): [L]xD -> [L]x(H*dirs), the output of
     every step; with last=true the last layer's final hidden state, H*dirs features (both
     directions side by side, as torch.cat([h_n[-2], h_n[-1]], 1)).
     Parameters per layer and direction: 4H(I + H) + 8H (input and hidden weights, two
     biases as PyTorch keeps them), I = D for the first layer and H*dirs after.
     MACs: 4H(I + H) per step, layer and direction (the gates' products; their elementwise
     work is not counted), L steps.
gru(...): the same with 3 gates: 3H(I + H) + 6H parameters, 3H(I + H) MACs a step.
Every output step depends on every earlier input (a bidirectional layer: on every input):
the receptive field is global.
torch: archlang's SequenceLSTM / SequenceGRU (ops/modules.py: nn.LSTM / nn.GRU, batch first,
the same state), weights U(-1/sqrt(H), 1/sqrt(H)) as torch starts them. ONNX: LSTM / GRU
nodes, one per layer, sequence first, with the gates reordered from PyTorch's (i, f, g, o
and r, z, n) to ONNX's (i, o, f, c and z, r, h) by Gather nodes on the weights, and GRU's
linear_before_reset=1, PyTorch's formulation.
"""

from __future__ import annotations

from typing import ClassVar

from ..ir import TensorType
from ..records import record
from .base import GLOBAL, REQUIRED, Arg, Bound, Family, Init, Op, OpError, StateTensor, register
from .formula import Formula, maps


@record
class _Recurrent(Op):
    family = Family.RECURRENT
    sequences = True
    feature_maps = False
    gates = 0
    torch_name = ""
    onnx_op = ""
    onnx_order: ClassVar[tuple[int, ...]] = ()  # ONNX's gates, as indices of PyTorch's
    args = (Arg("c", "channels", REQUIRED, "the hidden size, e.g. lstm(128)"),
            Arg("layers", "int", 1, "stacked layers, each reading the one before"),
            Arg("bidirectional", "bool", False, "a second pass from the last token back, its states beside the first's"),
            Arg("last", "bool", False, "the last layer's final hidden state instead of every step's output"))
    input_size: int
    hidden: int
    layers: int
    bidirectional: bool
    last: bool

    @classmethod
    def check_input(cls, x):
        if x.is_sequence or x.ids:
            super().check_input(x)
            return
        raise OpError(f"{cls.name} reads a token sequence ([L]xD), but this input is {x}", kind="shape",
                      hint="'tokens' turns a C x H x W map into [H*W]xC; a signal C x L is 'tokens' too ([L]xC)")

    @classmethod
    def make(cls, a: Bound, x: TensorType):
        return cls(x.channels, a["c"], a["layers"], a["bidirectional"], a["last"])

    @property
    def dirs(self) -> int:
        return 2 if self.bidirectional else 1

    def infer(self, inputs):
        width = self.hidden * self.dirs
        return TensorType(width) if self.last else TensorType(width, tokens=inputs[0].tokens)

    def _inputs(self, layer: int) -> int:
        return self.input_size if layer == 0 else self.hidden * self.dirs

    def tensors(self):
        g, h = self.gates * self.hidden, self.hidden
        out = []
        for layer in range(self.layers):
            for suffix in ("", "_reverse")[: self.dirs]:
                k = f"l{layer}{suffix}"
                out += [StateTensor(f"weight_ih_{k}", (g, self._inputs(layer))), StateTensor(f"weight_hh_{k}", (g, h)),
                        StateTensor(f"bias_ih_{k}", (g,)), StateTensor(f"bias_hh_{k}", (g,))]
        return tuple(out)

    def init_rules(self):  # torch's reset_parameters: every tensor U(-1/sqrt(H), 1/sqrt(H)), in order
        return tuple(Init(t.name, "fan_in_uniform", of="weight_hh_l0") for t in self.tensors())

    init_is_torch_default = True

    def macs(self, inputs, out) -> int:
        steps = inputs[0].tokens
        return sum(self.gates * self.hidden * (self._inputs(layer) + self.hidden) * steps * self.dirs
                   for layer in range(self.layers))

    step_work = 0  # arithmetic per hidden unit per step besides the products (`work_rule`)

    def work(self, inputs, out) -> int:
        steps = inputs[0].tokens
        return 2 * self.macs(inputs, out) + self.step_work * self.hidden * steps * self.dirs * self.layers

    def window(self):
        return GLOBAL

    def torch_spec(self, inputs):
        kwargs = {}
        if self.layers != 1:
            kwargs["num_layers"] = self.layers
        if self.bidirectional:
            kwargs["bidirectional"] = True
        if self.last:
            kwargs["last"] = True
        return self.torch_name, (self.input_size, self.hidden), kwargs

    def onnx_nodes(self, g, inputs, output, types):
        import numpy as np

        h = self.hidden
        order = np.concatenate([np.arange(i * h, (i + 1) * h) for i in self.onnx_order]).astype(np.int64)
        rows = g.const("gate_order", order)
        g.node("Transpose", [inputs[0]], [g.temp("steps")], suffix="steps", perm=[1, 0, 2])  # L x N x D
        x = g.temp("steps")
        for layer in range(self.layers):
            parts: dict[str, list[str]] = {"W": [], "R": [], "B": []}
            for suffix in ("", "_reverse")[: self.dirs]:
                k = f"l{layer}{suffix}"
                for kind, tensors in (("W", [f"weight_ih_{k}"]), ("R", [f"weight_hh_{k}"]),
                                      ("B", [f"bias_ih_{k}", f"bias_hh_{k}"])):
                    reordered = []
                    for t in tensors:
                        g.node("Gather", [g.weight(t), rows], [g.temp(f"{t}_onnx")], suffix=f"{t}_onnx", axis=0)
                        reordered.append(g.temp(f"{t}_onnx"))
                    if kind == "B":
                        g.node("Concat", reordered, [g.temp(f"B_{k}")], suffix=f"B_{k}", axis=0)
                        reordered = [g.temp(f"B_{k}")]
                    g.node("Unsqueeze", [reordered[0], g.const("axis0", np.array([0], np.int64))],
                           [g.temp(f"{kind}_{k}_1")], suffix=f"{kind}_{k}_1")
                    parts[kind].append(g.temp(f"{kind}_{k}_1"))
            stacked = []
            for kind, names in parts.items():
                name = g.temp(f"{kind}_layer{layer}")
                if len(names) == 1:
                    g.node("Identity", names, [name], suffix=f"{kind}_layer{layer}")
                else:
                    g.node("Concat", names, [name], suffix=f"{kind}_layer{layer}", axis=0)
                stacked.append(name)
            y, y_h = g.temp(f"Y_l{layer}"), g.temp(f"Y_h_l{layer}")
            attrs = {"hidden_size": h, "direction": "bidirectional" if self.bidirectional else "forward"}
            if self.onnx_op == "GRU":
                attrs["linear_before_reset"] = 1
            g.node(self.onnx_op, [x, *stacked], [y, y_h], suffix=f"l{layer}", **attrs)  # Y: L x dirs x N x H
            g.node("Transpose", [y], [g.temp(f"Y_t_l{layer}")], suffix=f"Y_t_l{layer}", perm=[0, 2, 1, 3])
            last_layer = layer == self.layers - 1
            if last_layer and self.last:
                g.node("Transpose", [y_h], [g.temp("h_t")], suffix="h_t", perm=[1, 0, 2])  # N x dirs x H
                g.node("Reshape", [g.temp("h_t"), g.const("flat", np.array([0, self.dirs * h], np.int64))], [output])
                return
            seq_shape = g.const("seq_shape", np.array([0, 0, self.dirs * h], np.int64))
            g.node("Reshape", [g.temp(f"Y_t_l{layer}"), seq_shape], [g.temp(f"out_l{layer}")], suffix=f"out_l{layer}")
            x = g.temp(f"out_l{layer}")  # L x N x H*dirs
        g.node("Transpose", [x], [output], perm=[1, 0, 2])

    def explain_params(self):
        terms, total = [], 0
        for layer in range(self.layers):
            i, h = self._inputs(layer), self.hidden
            each = self.gates * h * (i + h) + 2 * self.gates * h
            terms.append(f"{self.dirs} x ({self.gates} x {h} x ({i} + {h}) + 2 x {self.gates} x {h})")
            total += self.dirs * each
        return Formula(" + ".join(terms), total, note=f"{self.gates} gates; input and hidden weights, two biases"
                       + (", per layer" if self.layers > 1 else ""))

    def explain_macs(self, inputs, out):
        steps = inputs[0].tokens
        terms = [f"{steps} x {self.dirs} x {self.gates} x {self.hidden} x ({self._inputs(layer)} + {self.hidden})"
                 for layer in range(self.layers)]
        return Formula(" + ".join(terms), self.macs(inputs, out), note="the gates' products, one step per token")

    def explain_shape(self, inputs, out):
        width = Formula(f"{self.dirs} x {self.hidden}", self.hidden * self.dirs, "F = dirs x H",
                        "the hidden states" + (" of both directions" if self.bidirectional else ""),
                        (0,) if self.last else (1,))
        return (width,)

    def explain_channels(self, inputs, out):
        what = "the final hidden state" if self.last else "each step's hidden state"
        return f"{what} of the last of {self.layers} layer{'s' if self.layers > 1 else ''}: {maps(out)}"

    def label(self) -> str:
        extra = [f"{self.layers} layers"] * (self.layers > 1) + ["bidirectional"] * self.bidirectional + ["last"] * self.last
        return f"{self.name} {self.hidden}" + "".join(f", {e}" for e in extra)


@register
@record
class LSTM(_Recurrent):
    name = "lstm"
    gates = 4
    step_work = 30
    work_rule = ("2 per multiply-accumulate, and per hidden unit per step 30: sum the two products and two biases "
                 "of 4 gates (12), 3 sigmoids (12), 2 tanh, c = f c + i g (3), h = o tanh(c) (1)")
    torch_name = "SequenceLSTM"
    onnx_op = "LSTM"
    onnx_order = (0, 3, 1, 2)  # i, o, f, c from PyTorch's i, f, g, o


@register
@record
class GRU(_Recurrent):
    name = "gru"
    gates = 3
    step_work = 23
    work_rule = ("2 per multiply-accumulate, and per hidden unit per step 23: r and z (2 x 3 adds, 2 sigmoids of 4), "
                 "n = tanh(x_n + b + r (h_n + b)) (5), h = (1 - z) n + z h (4)")
    torch_name = "SequenceGRU"
    onnx_op = "GRU"
    onnx_order = (1, 0, 2)  # z, r, h from PyTorch's r, z, n
