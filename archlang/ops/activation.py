"""Pointwise activations: shape kept, no parameters, no MACs, receptive field unchanged.

relu max(0, x) · relu6 min(max(0, x), 6) · leakyrelu x if x > 0 else slope * x ·
elu x if x > 0 else alpha (e^x - 1) · gelu x * Phi(x) (exact erf form; tanh=true: GPT-2's
0.5x(1 + tanh(sqrt(2/pi)(x + 0.044715x^3)))) · silu x * sigmoid(x) ·
sigmoid 1 / (1 + e^-x) · tanh · softmax over the channel axis (axis 1 with the batch) ·
logsoftmax log(softmax(x)) over the same axis, computed stably (x - max - log sum exp) ·
hardswish x * relu6(x + 3) / 6 · hardsigmoid relu6(x + 3) / 6 (MobileNetV3's; ONNX HardSwish,
and HardSigmoid with alpha 1/6, beta 1/2).
torch: the nn module of the same name (nn.Softmax(dim=1)); relu, relu6 and hardswish
run in place where the backend proves it safe, as torchvision's ReLU(inplace=True) and
MobileNetV3's Hardswish(inplace=True) and EfficientNet's SiLU(inplace=True) do (hardsigmoid, its
squeeze-excitation gate, does not).
"""

from __future__ import annotations

from ..records import record
from .base import Arg, Bound, Family, Op, register


@record
class _Activation(Op):
    family = Family.ACTIVATION
    sequences = True  # pointwise: any layout
    torch_class = ""
    onnx_op = ""
    per_element = 1  # arithmetic operations per element (`work`)
    work_rule = "1 per element"

    def work(self, inputs, out):
        return self.per_element * out.numel

    def torch_spec(self, inputs):
        return self.torch_class, (), {}

    def onnx_nodes(self, g, inputs, output, types):
        g.node(self.onnx_op, inputs, [output], **self.onnx_attrs())

    def onnx_attrs(self) -> dict:
        return {}


@register
@record
class ReLU(_Activation):
    name = "relu"
    work_rule = "1 per element: max(x, 0)"
    onnx_op = "Relu"
    torch_class = "ReLU"
    inplace = True


@register
@record
class ReLU6(_Activation):
    name = "relu6"
    per_element = 2
    work_rule = "2 per element: min(max(x, 0), 6)"
    torch_class = "ReLU6"
    inplace = True

    def onnx_nodes(self, g, inputs, output, types):
        import numpy as np

        g.node("Clip", [inputs[0], g.const("min", np.array(0, np.float32)), g.const("max", np.array(6, np.float32))],
               [output])


@register
@record
class LeakyReLU(_Activation):
    name = "leakyrelu"
    per_element = 2
    work_rule = "2 per element: compare, multiply by the slope"
    args = (Arg("slope", "float", 0.01, "the slope for x < 0"),)
    slope: float

    @classmethod
    def make(cls, a: Bound, x):
        return cls(a["slope"])

    onnx_op = "LeakyRelu"

    def torch_spec(self, inputs):
        return "LeakyReLU", (self.slope,), {}

    def onnx_attrs(self):
        return {"alpha": self.slope}

    def label(self) -> str:
        return f"leakyrelu {self.slope:g}"


@register
@record
class ELU(_Activation):
    name = "elu"
    per_element = 4
    work_rule = "4 per element: compare, exp, subtract 1, multiply by alpha"
    args = (Arg("alpha", "float", 1.0),)
    alpha: float

    @classmethod
    def make(cls, a: Bound, x):
        return cls(a["alpha"])

    onnx_op = "Elu"

    def torch_spec(self, inputs):
        return "ELU", (self.alpha,), {}

    def onnx_attrs(self):
        return {"alpha": self.alpha}


@register
@record
class GELU(_Activation):
    name = "gelu"
    work_rule = ("5 per element: x / sqrt(2), erf, + 1, * x, * 0.5; tanh=true 9: x^3 (2), * 0.044715, + x, "
                 "* sqrt(2/pi), tanh, + 1, * x, * 0.5")

    def work(self, inputs, out):
        return (9 if self.tanh else 5) * out.numel
    onnx_op = "Gelu"
    torch_class = "GELU"
    args = (Arg("tanh", "bool", False, "the tanh approximation (GPT-2's), not the exact erf form"),)
    tanh: bool = False

    @classmethod
    def make(cls, a: Bound, x):
        return cls(a["tanh"])

    def torch_spec(self, inputs):
        return "GELU", (), ({"approximate": "tanh"} if self.tanh else {})

    def onnx_attrs(self):
        return {"approximate": "tanh"} if self.tanh else {}

    def label(self) -> str:
        return "gelu (tanh)" if self.tanh else "gelu"


@register
@record
class SiLU(_Activation):
    name = "silu"
    per_element = 4
    work_rule = "4 per element: x / (1 + exp(-x)): negate, exp, add, divide"
    torch_class = "SiLU"
    inplace = True  # as torchvision's EfficientNet runs it (SiLU(inplace=True) after batch norm)

    def onnx_nodes(self, g, inputs, output, types):
        g.node("Sigmoid", inputs, [g.temp("sigmoid")], suffix="sigmoid")
        g.node("Mul", [inputs[0], g.temp("sigmoid")], [output])


@register
@record
class Sigmoid(_Activation):
    name = "sigmoid"
    per_element = 4
    work_rule = "4 per element: 1 / (1 + exp(-x)): negate, exp, add, divide"
    onnx_op = "Sigmoid"
    torch_class = "Sigmoid"


@register
@record
class Tanh(_Activation):
    name = "tanh"
    work_rule = "1 per element: tanh"
    onnx_op = "Tanh"
    torch_class = "Tanh"


@register
@record
class Softmax(_Activation):
    name = "softmax"
    per_element = 5
    work_rule = "5 per element: the row's max, subtract it, exp, sum, divide"

    onnx_op = "Softmax"

    def torch_spec(self, inputs):
        return "Softmax", (), {"dim": -1 if inputs[0].is_sequence else 1}

    def onnx_nodes(self, g, inputs, output, types):
        g.node(self.onnx_op, inputs, [output], axis=-1 if types[0].is_sequence else 1)


@register
@record
class LogSoftmax(_Activation):
    name = "logsoftmax"
    work_rule = "5 per element (max, subtract, exp, sum, subtract the log) and 1 per row (log)"

    def work(self, inputs, out):
        return 5 * out.numel + out.numel // out.channels
    onnx_op = "LogSoftmax"

    def torch_spec(self, inputs):
        return "LogSoftmax", (), {"dim": -1 if inputs[0].is_sequence else 1}

    def onnx_nodes(self, g, inputs, output, types):
        g.node(self.onnx_op, inputs, [output], axis=-1 if types[0].is_sequence else 1)


@register
@record
class Hardswish(_Activation):
    name = "hardswish"
    per_element = 5
    work_rule = "5 per element: x * min(max(x + 3, 0), 6) / 6"
    onnx_op = "HardSwish"
    torch_class = "Hardswish"
    inplace = True
    output_overwritable = True  # backward reads its input, not its output


@register
@record
class Hardsigmoid(_Activation):
    name = "hardsigmoid"
    per_element = 4
    work_rule = "4 per element: min(max(x + 3, 0), 6) / 6"
    onnx_op = "HardSigmoid"
    torch_class = "Hardsigmoid"
    output_overwritable = True  # backward reads its input, not its output

    def onnx_attrs(self):
        return {"alpha": 1 / 6, "beta": 0.5}
