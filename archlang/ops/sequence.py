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
attention(heads, causal=false, bias=true, dropout=0): multi-head self-attention. Q, K, V are
           one D -> 3D projection, H heads of D/H features attend with softmax(QK^T/sqrt(D/H))
           (each token only to itself and earlier ones when causal), an output projection
           D -> D. Parameters 4D^2 + 4D (3D^2 + 3D in, D^2 + D out; no biases: 4D^2).
           MACs 4LD^2 (the projections) + 2L^2D (QK^T and the weighted sum of V, the full L x L
           even when causal, as the field counts it): quadratic in L. Its receptive field is
           every token (causal: every earlier one). torch: archlang's SelfAttention
           (ops/modules.py; scaled_dot_product_attention); ONNX: MatMul, Softmax.
token(i):  token i's features, [L]xD -> D (the class token: token(0)).
meantokens: the mean over the tokens, [L]xD -> D.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from ..ir import TensorType
from .base import GLOBAL, REQUIRED, Arg, Bound, Family, Init, Op, OpError, StateTensor, register
from .formula import Formula, maps


@dataclass(frozen=True)
class _SequenceOp(Op):
    """Takes token sequences, and no feature maps."""

    sequences = True
    feature_maps = False


@register
@dataclass(frozen=True)
class Tokens(Op):
    name = "tokens"
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
        return (Formula(" x ".join(map(str, x.spatial)), out.tokens, "L = " + " x ".join("HW" if x.rank == 2 else "DHW"[-x.rank:]),
                        "one token per position", (0,)),
                Formula("", out.channels, "D = C", "the channels become each token's features", (1,)))

    def explain_channels(self, inputs, out):
        return f"each position's {out.channels} channels become one token's features: {maps(out)}"


@register
@dataclass(frozen=True)
class Grid(_SequenceOp):
    name = "grid"
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
@dataclass(frozen=True)
class Embed(Op):
    name = "embed"
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
@dataclass(frozen=True)
class PosEmbed(_SequenceOp):
    name = "posembed"
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
@dataclass(frozen=True)
class ClsToken(_SequenceOp):
    name = "clstoken"
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
@dataclass(frozen=True)
class Attention(_SequenceOp):
    name = "attention"
    family = Family.ATTENTION
    output_overwritable = True
    args = (Arg("heads", "int", REQUIRED, "the number of heads, e.g. attention(12)"),
            Arg("causal", "bool", False, "each token attends only to itself and earlier tokens"),
            Arg("bias", "bool", True, "biases in the projections"),
            Arg("dropout", "prob", 0.0, "dropout on the attention weights while training"),
            Arg("separate", "bool", False, "Q, K and V as three D x D projections (BERT's query, key, value), "
                "not one D -> 3D"))
    dim: int
    heads: int
    causal: bool
    bias: bool
    dropout: float
    separate: bool = field(default=False, metadata={"quiet": True})

    @classmethod
    def make(cls, a: Bound, x: TensorType):
        if x.channels % a["heads"]:
            raise OpError(f"attention: {a['heads']} heads do not divide the {x.channels} features", arg="heads",
                          kind="shape", hint="each head takes D / heads features: choose heads dividing "
                          f"{x.channels} (" + ", ".join(str(h) for h in range(1, min(x.channels, 64) + 1)
                                                         if x.channels % h == 0)[-40:] + ")")
        return cls(x.channels, a["heads"], a["causal"], a["bias"], a["dropout"], a["separate"])

    def macs(self, inputs, out) -> int:
        length, d = out.tokens, self.dim
        return 4 * length * d * d + 2 * length * length * d

    def window(self):
        return GLOBAL

    def _projections(self) -> tuple[tuple[str, int], ...]:
        return tuple((f"{p}_proj", self.dim) for p in "qkv") if self.separate else (("in_proj", 3 * self.dim),)

    def tensors(self):
        d = self.dim
        out: tuple[StateTensor, ...] = ()
        for name, rows in (*self._projections(), ("out_proj", d)):
            out += (StateTensor(f"{name}_weight", (rows, d)),) + ((StateTensor(f"{name}_bias", (rows,)),) if self.bias else ())
        return out

    init = (Init("in_proj_weight", "xavier_uniform"), Init("out_proj_weight", "kaiming_uniform", a=math.sqrt(5)),
            Init("in_proj_bias", "zeros"), Init("out_proj_bias", "zeros"))
    init_is_torch_default = True  # SelfAttention's reset_parameters, nn.MultiheadAttention's rule

    def init_rules(self):
        if not self.separate:
            return type(self).init
        names = [name for name, _ in self._projections()]
        return (*(Init(f"{n}_weight", "xavier_uniform") for n in names),
                Init("out_proj_weight", "kaiming_uniform", a=math.sqrt(5)),
                *(Init(f"{n}_bias", "zeros") for n in names), Init("out_proj_bias", "zeros"))

    def torch_spec(self, inputs):
        kwargs = {"causal": self.causal} if self.causal else {}
        if not self.bias:
            kwargs["bias"] = False
        if self.dropout:
            kwargs["dropout"] = self.dropout
        if self.separate:
            kwargs["separate"] = True
        return "SelfAttention", (self.dim, self.heads), kwargs

    def onnx_nodes(self, g, inputs, output, types):
        import numpy as np

        (x,) = types
        d, h = self.dim, self.heads
        t = g.temp

        def linear(src, weight, bias, dst, word):
            g.node("Transpose", [weight], [t(word + "_wt")], suffix=word + "_wt", perm=[1, 0])
            if self.bias:
                g.node("MatMul", [src, t(word + "_wt")], [t(word + "_mm")], suffix=word + "_mm")
                g.node("Add", [t(word + "_mm"), bias], [dst], suffix=word if dst != output else "")
            else:
                g.node("MatMul", [src, t(word + "_wt")], [dst], suffix=word if dst != output else "")

        if self.separate:  # one 3D x D projection, stacked in the graph (constant-folded by runtimes)
            for part in ("weight",) + (("bias",) if self.bias else ()):
                g.node("Concat", [g.weight(f"{p}_proj_{part}") for p in "qkv"], [t(f"in_proj_{part}")],
                       suffix=f"in_proj_{part}", axis=0)
            weight, bias = t("in_proj_weight"), t("in_proj_bias")
        else:
            weight = g.weight("in_proj_weight")
            bias = g.weight("in_proj_bias") if self.bias else ""
        linear(inputs[0], weight, bias, t("qkv"), "qkv")
        g.node("Reshape", [t("qkv"), g.const("heads_shape", np.array([0, 0, 3, h, d // h], np.int64))], [t("split")],
               suffix="split")
        g.node("Transpose", [t("split")], [t("qkv_heads")], suffix="qkv_heads", perm=[2, 0, 3, 1, 4])
        for i, word in enumerate("qkv"):
            g.node("Gather", [t("qkv_heads"), g.const(f"index_{word}", np.array(i, np.int64))], [t(word)], suffix=word,
                   axis=0)
        g.node("Mul", [t("q"), g.const("scale", np.array(1 / math.sqrt(d // h), np.float32))], [t("q_scaled")],
               suffix="q_scaled")
        g.node("Transpose", [t("k")], [t("k_t")], suffix="k_t", perm=[0, 1, 3, 2])
        g.node("MatMul", [t("q_scaled"), t("k_t")], [t("scores")], suffix="scores")
        scores = t("scores")
        if self.causal:  # -inf where a key comes after its query, built for the run's length
            g.node("Shape", [inputs[0]], [t("length1")], suffix="length1", start=1, end=2)
            g.node("Squeeze", [t("length1")], [t("length")], suffix="length")
            g.node("Range", [g.const("zero", np.array(0, np.int64)), t("length"), g.const("one", np.array(1, np.int64))],
                   [t("positions")], suffix="positions")
            g.node("Unsqueeze", [t("positions"), g.const("axis1", np.array([1], np.int64))], [t("queries")],
                   suffix="queries")
            g.node("Greater", [t("positions"), t("queries")], [t("later")], suffix="later")  # L x L: key > query
            g.node("Where", [t("later"), g.const("minus_inf", np.array(-np.inf, np.float32)),
                             g.const("nothing", np.array(0, np.float32))], [t("mask")], suffix="mask")
            g.node("Add", [scores, t("mask")], [t("masked")], suffix="masked")
            scores = t("masked")
        g.node("Softmax", [scores], [t("weights")], suffix="weights", axis=-1)
        g.node("MatMul", [t("weights"), t("v")], [t("mixed")], suffix="mixed")
        g.node("Transpose", [t("mixed")], [t("tokens_first")], suffix="tokens_first", perm=[0, 2, 1, 3])
        g.node("Reshape", [t("tokens_first"), g.const("merged_shape", np.array([0, 0, d], np.int64))], [t("merged")],
               suffix="merged")
        linear(t("merged"), g.weight("out_proj_weight"), g.weight("out_proj_bias") if self.bias else "", output, "out")

    def explain_params(self):
        d = self.dim
        if self.bias:
            return Formula(f"3 x {d} x {d} + 3 x {d} biases + {d} x {d} + {d} biases", 4 * d * d + 4 * d,
                           "4D^2 + 4D", note=("Q, K, V projections" if self.separate else "Q, K, V in one projection")
                           + "; the output projection")
        return Formula(f"4 x {d} x {d}", 4 * d * d, "4D^2", note="Q, K, V and output projections, no biases")

    def explain_macs(self, inputs, out):
        length, d = out.tokens, self.dim
        return Formula(f"4 x {length} x {d} x {d} + 2 x {length} x {length} x {d}", self.macs(inputs, out),
                       "4LD^2 + 2L^2D", note="projections, then QK^T and the weighted sum of V over the full "
                       f"{length} x {length} scores: quadratic in L")

    def explain_channels(self, inputs, out):
        how = "itself and the tokens before it" if self.causal else "every token"
        return (f"{self.heads} heads of {self.dim // self.heads} features; each token a weighted mix of {how}: "
                f"{maps(out)}")

    def label(self) -> str:
        return f"attention {self.heads} heads" + (", causal" if self.causal else "")


@register
@dataclass(frozen=True)
class Token(_SequenceOp):
    name = "token"
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
@dataclass(frozen=True)
class MeanTokens(_SequenceOp):
    name = "meantokens"
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
