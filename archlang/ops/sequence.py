"""Token sequences: from feature maps and token indices to sequences and back, and the layers
that work on them (docs/language.md, "Sequences").

A sequence `[L]xD` is L tokens of D features (torch and ONNX: N x L x D, features last, as
torchvision's ViT and every GPT hold them); token indices `[L]` are L integers.

tokens:    C x H x W -> [H*W]xC, row by row (ViT's patches after the patch convolution:
           768x14x14 -> [196]x768). torch: x.flatten(2).transpose(1, 2).
grid(h, w): the reverse, [h*w]xD -> D x h x w (w defaults to h).
embed(vocab, dim): token indices -> vectors, a learned table of vocab x dim (nn.Embedding,
           N(0, 1) as torch starts it); parameters vocab * dim, MACs 0 (a lookup).
posembed(positions): x + a learned vector per position, for sequences up to `positions` long
           (default: this sequence's length); parameters positions * D; N(0, 0.02^2) as ViT and
           GPT-2 start them. A longer sequence than the table is an error.
clstoken:  a learned D-vector put before the tokens (ViT's class token, starting at 0):
           [L]xD -> [L+1]xD, parameters D.
attention:  multi-head self-attention, in ops/attention.py.
token(i):  token i's features, [L]xD -> D (the class token: token(0)).
meantokens: the mean over the tokens, [L]xD -> D.
"""

from __future__ import annotations

from ..ir import TensorType
from ..records import record
from .base import GLOBAL, REQUIRED, Arg, Bound, Family, Init, Op, OpError, StateTensor, register
from .formula import Formula, maps


@record
class _SequenceOp(Op):
    """Takes token sequences, and no feature maps."""

    sequences = True
    feature_maps = False


@register
@record
class Tokens(Op):
    name = "tokens"
    work_rule = "0: a reshape"

    def work(self, inputs, out):
        return 0

    family = Family.OTHER

    @classmethod
    def make(cls, a: Bound, x: TensorType):
        if x.rank == 0:
            raise OpError(f"tokens needs a feature map with spatial axes, but this input is {x} (a feature vector)",
                          hint="a vector is one token already; a sequence comes from a C x H x W map", kind="shape")
        return cls()

    def infer(self, inputs):
        (x,) = inputs
        return TensorType(x.channels, tokens=x.numel // x.channels)

    def torch_spec(self, inputs):
        return None

    def torch_fx(self, graph, args, inplace):
        return graph.call_method("transpose", (graph.call_method("flatten", (args[0], 2)), 1, 2))

    def torch_source(self, args, inplace):
        return f"{args[0]}.flatten(2).transpose(1, 2)"

    def onnx_nodes(self, g, inputs, output, types):
        import numpy as np

        (x,) = types
        g.node("Reshape", [inputs[0], g.const("shape", np.array([0, x.channels, -1], np.int64))], [g.temp("flat")],
               suffix="flat")
        g.node("Transpose", [g.temp("flat")], [output], perm=[0, 2, 1])

    def explain_shape(self, inputs, out):
        (x,) = inputs
        return (Formula(" x ".join(map(str, x.spatial)), out.tokens, "L = " + {1: "I", 2: "H x W", 3: "D x H x W"}[x.rank],
                        "one token per position", (0,)),
                Formula("", out.channels, "D = C", "the channels become each token's features", (1,)))

    def explain_channels(self, inputs, out):
        return f"each position's {out.channels} channels become one token's features: {maps(out)}"


@register
@record
class Grid(_SequenceOp):
    name = "grid"
    work_rule = "0: a reshape"

    def work(self, inputs, out):
        return 0

    family = Family.OTHER
    args = (Arg("h", "int", REQUIRED, "the grid's height, e.g. grid(14) for 196 tokens"),
            Arg("w", "int0", 0, "its width (default: the height)"))
    size: tuple[int, ...]

    @classmethod
    def make(cls, a: Bound, x: TensorType):
        h, w = a["h"], a["w"] or a["h"]
        if h * w != x.tokens:
            raise OpError(f"grid({h}, {w}) holds {h * w} tokens, but the sequence has {x.tokens}",
                          arg="h", kind="shape", hint="the grid's height x width must be the number of tokens")
        return cls((h, w))

    def infer(self, inputs):
        return TensorType(inputs[0].channels, self.size)

    def torch_spec(self, inputs):
        return None

    def torch_fx(self, graph, args, inplace):
        return graph.call_method("unflatten", (graph.call_method("transpose", (args[0], 1, 2)), 2, self.size))

    def torch_source(self, args, inplace):
        return f"{args[0]}.transpose(1, 2).unflatten(2, {self.size})"

    def onnx_nodes(self, g, inputs, output, types):
        import numpy as np

        (x,) = types
        g.node("Transpose", [inputs[0]], [g.temp("channels_first")], suffix="channels_first", perm=[0, 2, 1])
        g.node("Reshape", [g.temp("channels_first"), g.const("shape", np.array([0, x.channels, *self.size], np.int64))],
               [output])

    def explain_shape(self, inputs, out):
        return (Formula("", out.channels, "C = D", "the features become channels", (0,)),
                Formula("", self.size[0], "H", "the grid's height", (1,)),
                Formula("", self.size[1], "W", "the grid's width", (2,)))

    def explain_channels(self, inputs, out):
        return f"the tokens laid out row by row on a {self.size[0]}x{self.size[1]} grid, features as channels: {maps(out)}"

    def label(self) -> str:
        return f"grid {self.size[0]}x{self.size[1]}"


@register
@record
class Embed(Op):
    name = "embed"
    work_rule = "0: a table look-up"

    def work(self, inputs, out):
        return 0

    family = Family.EMBED
    token_ids = True
    feature_maps = False
    args = (Arg("vocab", "int", REQUIRED, "the number of distinct tokens, e.g. embed(50257, 768)"),
            Arg("c", "channels", REQUIRED, "the vector size, e.g. embed(50257, 768)"))
    vocab: int
    dim: int

    @classmethod
    def check_input(cls, x):
        if not x.ids:
            raise OpError(f"embed reads token indices ([L]), but this input is {x}", kind="shape",
                          hint="a network of token indices declares them so: network lm : [1024] = embed(...)")

    @classmethod
    def make(cls, a: Bound, x: TensorType):
        return cls(a["vocab"], a["c"])

    def infer(self, inputs):
        return TensorType(self.dim, tokens=inputs[0].tokens)

    def tensors(self):
        return (StateTensor("weight", (self.vocab, self.dim)),)

    init = (Init("weight", "normal", value=1.0),)
    init_is_torch_default = True

    def torch_spec(self, inputs):
        return "Embedding", (self.vocab, self.dim), {}

    def onnx_nodes(self, g, inputs, output, types):
        g.node("Gather", [g.weight("weight"), inputs[0]], [output], axis=0)

    def explain_shape(self, inputs, out):
        return (Formula("", out.tokens, "L", "one vector per token", (0,)),
                Formula("", self.dim, "D", "the vector size", (1,)))

    def explain_params(self):
        return Formula(f"{self.vocab} x {self.dim}", self.vocab * self.dim, note="one vector per token of the vocabulary")

    def explain_macs(self, inputs, out):
        return Formula("", 0, note="a table lookup")

    def explain_channels(self, inputs, out):
        return f"each token index looked up in a {self.vocab} x {self.dim} table: {maps(out)}"

    def label(self) -> str:
        return f"embed {self.vocab}, {self.dim}"


@register
@record
class PosEmbed(_SequenceOp):
    name = "posembed"
    work_rule = "1 per element: add the position's vector"

    def work(self, inputs, out):
        return out.numel

    family = Family.EMBED
    args = (Arg("positions", "int0", 0, "the longest sequence it holds vectors for (default: this one's length)"),)
    positions: int
    dim: int

    @classmethod
    def make(cls, a: Bound, x: TensorType):
        positions = a["positions"] or x.tokens
        if x.tokens > positions:
            raise OpError(f"the sequence has {x.tokens} tokens, more than the {positions} positions of posembed",
                          arg="positions", kind="shape",
                          hint=f"posembed({x.tokens}) holds this sequence; or shorten it")
        return cls(positions, x.channels)

    def tensors(self):
        return (StateTensor("weight", (self.positions, self.dim)),)

    init = (Init("weight", "normal", value=0.02),)
    init_is_torch_default = True  # PositionEmbedding's reset_parameters draws the same

    def torch_spec(self, inputs):
        return "PositionEmbedding", (self.positions, self.dim), {}

    def onnx_nodes(self, g, inputs, output, types):
        import numpy as np

        (x,) = types
        if x.tokens == self.positions and not g.dynamic_tokens:  # the whole table, as declared
            g.node("Add", [inputs[0], g.weight("weight")], [output])
            return
        # the rows for the sequence's length, which may be shorter at run time than declared
        g.node("Shape", [inputs[0]], [g.temp("length")], suffix="length", start=1, end=2)
        g.node("Slice", [g.weight("weight"), g.const("zero", np.array([0], np.int64)), g.temp("length"),
                         g.const("axis", np.array([0], np.int64))], [g.temp("rows")], suffix="rows")
        g.node("Add", [inputs[0], g.temp("rows")], [output])

    def explain_params(self):
        return Formula(f"{self.positions} x {self.dim}", self.positions * self.dim, note="one vector per position")

    def explain_channels(self, inputs, out):
        return f"each token plus a learned vector for its position: {maps(out)}"

    def label(self) -> str:
        return f"posembed {self.positions}"


@register
@record
class ClsToken(_SequenceOp):
    name = "clstoken"
    work_rule = "0: a copy"

    def work(self, inputs, out):
        return 0

    family = Family.EMBED
    dim: int

    @classmethod
    def make(cls, a: Bound, x: TensorType):
        return cls(x.channels)

    def infer(self, inputs):
        return TensorType(self.dim, tokens=inputs[0].tokens + 1)

    def tensors(self):
        return (StateTensor("weight", (self.dim,)),)

    init = (Init("weight", "zeros"),)
    init_is_torch_default = True

    def torch_spec(self, inputs):
        return "ClassToken", (self.dim,), {}

    def onnx_nodes(self, g, inputs, output, types):
        import numpy as np

        g.node("Shape", [inputs[0]], [g.temp("batch")], suffix="batch", start=0, end=1)
        g.node("Concat", [g.temp("batch"), g.const("one_dim", np.array([1, self.dim], np.int64))], [g.temp("shape")],
               suffix="shape", axis=0)
        g.node("Expand", [g.weight("weight"), g.temp("shape")], [g.temp("token")], suffix="token")
        g.node("Concat", [g.temp("token"), inputs[0]], [output], axis=1)

    def explain_shape(self, inputs, out):
        return (Formula(f"{inputs[0].tokens} + 1", out.tokens, "L = L + 1", "the class token first", (0,)),)

    def explain_channels(self, inputs, out):
        return f"a learned token put before the {inputs[0].tokens}: {maps(out)}"


@register
@record
class Token(_SequenceOp):
    name = "token"
    work_rule = "0: a view"

    def work(self, inputs, out):
        return 0

    family = Family.OTHER
    args = (Arg("index", "int0", 0, "which token, from 0 (the class token)"),)
    index: int

    @classmethod
    def make(cls, a: Bound, x: TensorType):
        if a["index"] >= x.tokens:
            raise OpError(f"token({a['index']}) is past the {x.tokens} tokens of {x}", arg="index", kind="shape",
                          hint=f"tokens count from 0 to {x.tokens - 1}")
        return cls(a["index"])

    def infer(self, inputs):
        return TensorType(inputs[0].channels)

    def torch_spec(self, inputs):
        return None

    def torch_fx(self, graph, args, inplace):
        import operator

        return graph.call_function(operator.getitem, (args[0], (slice(None), self.index)))

    def torch_source(self, args, inplace):
        return f"{args[0]}[:, {self.index}]"

    def onnx_nodes(self, g, inputs, output, types):
        import numpy as np

        g.node("Gather", [inputs[0], g.const("index", np.array(self.index, np.int64))], [output], axis=1)

    def explain_shape(self, inputs, out):
        return (Formula("", out.channels, "F = D", f"token {self.index}'s features", (0,)),)

    def explain_channels(self, inputs, out):
        return f"the features of token {self.index}: {maps(out)}"

    def label(self) -> str:
        return f"token {self.index}"


@register
@record
class MeanTokens(_SequenceOp):
    name = "meantokens"
    work_rule = "1 per input element: (L - 1) adds and 1 divide per feature"

    def work(self, inputs, out):
        return inputs[0].numel

    family = Family.POOL

    def infer(self, inputs):
        return TensorType(inputs[0].channels)

    def window(self):
        return GLOBAL

    def torch_spec(self, inputs):
        return None

    def torch_fx(self, graph, args, inplace):
        return graph.call_method("mean", (args[0], 1))

    def torch_source(self, args, inplace):
        return f"{args[0]}.mean(1)"

    def onnx_nodes(self, g, inputs, output, types):
        import numpy as np

        g.node("ReduceMean", [inputs[0], g.const("axis", np.array([1], np.int64))], [output], keepdims=0)

    def explain_shape(self, inputs, out):
        return (Formula("", out.channels, "F = D", "the mean over the tokens of each feature", (0,)),)

    def explain_channels(self, inputs, out):
        return f"the mean of the {inputs[0].tokens} tokens, feature by feature: {maps(out)}"
