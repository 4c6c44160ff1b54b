"""Structural ops: flatten, identity, dropout, and a residual branch's stochastic depth and
layer scale.

flatten:  CxHxW -> C*H*W features (the receptive field becomes global).
identity: the unit of '->': lowers to no node at all (`norm=identity` leaves no trace).
dropout:  zeroes each element with probability p while training; shape kept; p = 0.5 default.
stochasticdepth: while training, zeroes each sample's whole tensor (a row of the batch) with
          probability p and scales the rest by 1/(1 - p); batch=true zeroes the whole batch at
          once. Identity at inference. torchvision's StochasticDepth (ConvNeXt, EfficientNet).
layerscale: x * gamma, one learnable gamma per channel starting at `init` (1e-6, ConvNeXt's):
          parameters C, MACs 0 (elementwise).
torch: nn.Flatten, nn.Dropout (identity has no module); stochasticdepth has no module either:
its forward is `stochastic_depth` below (the module's `training` flag chooses); layerscale is
archlang's LayerScale (ops/modules.py, gamma shaped C x 1 x ... x 1 as torchvision holds it).
ONNX (inference): Identity for dropout and stochasticdepth, Mul for layerscale.
"""

from __future__ import annotations

from ..ir import TensorType
from ..records import record
from .base import GLOBAL, REQUIRED, Arg, Bound, Family, Init, Op, StateTensor, register
from .formula import Formula, maps, product


@register
@record
class Flatten(Op):
    name = "flatten"
    work_rule = "0: a view"

    def work(self, inputs, out):
        return 0

    family = Family.OTHER
    sequences = True  # [L]xD -> L*D features

    def infer(self, inputs):
        return TensorType(inputs[0].numel)

    def window(self):
        return GLOBAL

    def explain_shape(self, inputs, out):
        (x,) = inputs
        rule = "F = " + " x ".join(("C", *{1: ("L",), 2: ("H", "W"), 3: ("D", "H", "W")}.get(x.rank, ())))
        return (Formula(product(x.shape), x.numel, rule, axes=(0,)),)

    def explain_channels(self, inputs, out):
        (x,) = inputs
        return f"every value of {x} becomes one feature: {maps(out)}"

    def torch_spec(self, inputs):
        return "Flatten", (), {}

    def onnx_nodes(self, g, inputs, output, types):
        g.node("Flatten", inputs, [output], axis=1)


@register
@record
class Identity(Op):
    name = "identity"
    work_rule = "0: no operation"

    def work(self, inputs, out):
        return 0

    family = Family.OTHER
    sequences = token_ids = True
    elide = True  # lowering drops it; these rules serve code that keeps it

    def torch_spec(self, inputs):
        return "Identity", (), {}

    def onnx_nodes(self, g, inputs, output, types):
        g.node("Identity", inputs, [output])


@register
@record
class Dropout(Op):
    name = "dropout"
    work_rule = "0: the identity at inference"

    def work(self, inputs, out):
        return 0

    family = Family.OTHER
    sequences = True
    aliases_input = True  # nn.Dropout returns its input itself at inference
    args = (Arg("p", "prob", 0.5, "the probability of zeroing an element"),)
    p: float

    @classmethod
    def make(cls, a: Bound, x):
        return cls(a["p"])

    def torch_spec(self, inputs):
        return "Dropout", (self.p,), {}

    def onnx_nodes(self, g, inputs, output, types):
        g.node("Identity", inputs, [output])  # inference: dropout passes its input through

    def label(self) -> str:
        return f"dropout {self.p:g}"


def stochastic_depth(x, p: float, batch: bool, training: bool):
    """torchvision.ops.stochastic_depth: while training, x times a 0-or-1/(1 - p) mask drawn
    per sample (per batch with `batch`); x itself otherwise. Tensor methods only, so this
    module needs no torch import."""
    if not training or p == 0.0:
        return x
    survival = 1.0 - p
    shape = (1,) * x.dim() if batch else (x.shape[0],) + (1,) * (x.dim() - 1)
    noise = x.new_empty(shape).bernoulli_(survival)
    if survival > 0.0:
        noise.div_(survival)
    return x * noise


@register
@record
class StochasticDepth(Op):
    name = "stochasticdepth"
    work_rule = "0: the identity at inference"

    def work(self, inputs, out):
        return 0

    family = Family.OTHER
    sequences = True
    aliases_input = True  # at inference its output is its input: as overwritable as that is
    args = (
        Arg("p", "prob", REQUIRED, "the probability of dropping a sample's branch, e.g. stochasticdepth(0.1)"),
        Arg("batch", "bool", False, "drop the whole batch at once (torchvision's mode 'batch'); default per sample"),
    )
    p: float
    batch: bool

    @classmethod
    def make(cls, a: Bound, x):
        return cls(a["p"], a["batch"])

    def torch_spec(self, inputs):
        return None

    def torch_fx(self, graph, args, inplace):
        training = graph.get_attr("training")  # the GraphModule's own flag: train() and eval() switch it
        return graph.call_function(stochastic_depth, (args[0], self.p, self.batch, training))

    def torch_source(self, args, inplace):
        (x,) = args
        if self.p == 0.0:
            return x
        survival = 1.0 - self.p
        shape = f"(1,) * {x}.dim()" if self.batch else f"({x}.shape[0],) + (1,) * ({x}.dim() - 1)"
        noise = f"{x}.new_empty({shape}).bernoulli_({survival!r})" + (f".div_({survival!r})" if survival else "")
        return f"({x} * {noise} if self.training else {x})"

    def onnx_nodes(self, g, inputs, output, types):
        g.node("Identity", inputs, [output])  # inference: the branch is always kept

    def label(self) -> str:
        return f"stochasticdepth {self.p:g}" + (", batch" if self.batch else "")


@register
@record
class LayerScale(Op):
    name = "layerscale"
    work_rule = "1 per element: multiply by its channel's scale"

    def work(self, inputs, out):
        return out.numel

    family = Family.OTHER
    output_overwritable = True  # backward reads its input and gamma, not its output
    args = (Arg("init", "float", 1e-6, "gamma's starting value (ConvNeXt's 1e-6)"),)
    num_channels: int
    rank: int
    init_value: float

    @classmethod
    def make(cls, a: Bound, x: TensorType):
        return cls(x.channels, x.rank, a["init"])


    def tensors(self):
        return (StateTensor("weight", (self.num_channels,) + (1,) * self.rank),)

    def explain_params(self):
        return Formula(f"{self.num_channels} (gamma)", self.num_channels, note="one scale per channel")

    def explain_channels(self, inputs, out):
        return f"each channel times its own learnt gamma: {maps(out)}"

    init = (Init("weight", "constant", value=1e-6),)  # the default; `init_rules` gives this layer's
    init_is_torch_default = True  # LayerScale's constructor fills in the value

    def init_rules(self):
        return (Init("weight", "constant", value=self.init_value),)

    def torch_spec(self, inputs):
        return "LayerScale", (self.num_channels, self.rank), {"init_value": self.init_value}

    def onnx_nodes(self, g, inputs, output, types):
        g.node("Mul", [inputs[0], g.weight("weight")], [output])

    def label(self) -> str:
        return f"layerscale {self.init_value:g}"


@record
class Input(Op):
    """The graph's input node (not a language op: never registered)."""

    name = "input"
    family = Family.INPUT
    type: TensorType

    def infer(self, inputs):
        return self.type

    def label(self) -> str:
        return "input"
