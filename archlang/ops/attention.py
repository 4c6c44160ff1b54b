"""Multi-head self-attention on token sequences.

attention(heads, causal=false, bias=true, dropout=0): multi-head self-attention. Q, K, V are
           one D -> 3D projection, H heads of D/H features attend with softmax(QK^T/sqrt(D/H))
           (each token only to itself and earlier ones when causal), an output projection
           D -> D. Parameters 4D^2 + 4D (3D^2 + 3D in, D^2 + D out; no biases: 4D^2).
           MACs 4LD^2 (the projections) + 2L^2D (QK^T and the weighted sum of V, the full L x L
           even when causal, as the field counts it): quadratic in L. Its receptive field is
           every token (causal: every earlier one). torch: archlang's SelfAttention
           (ops/modules.py; scaled_dot_product_attention); ONNX: MatMul, Softmax.
"""

from __future__ import annotations

import math
from dataclasses import field

from ..ir import TensorType
from ..records import record
from .base import GLOBAL, REQUIRED, Arg, Bound, Family, Init, OpError, StateTensor, register
from .formula import Formula, maps
from .sequence import _SequenceOp


@register
@record
class Attention(_SequenceOp):
    name = "attention"
    work_rule = ("2 per multiply-accumulate, 1 per projection output for the biases (4 L D), and per head 6 per "
                 "score (scale by 1/sqrt(D/heads); softmax: max, subtract, exp, sum, divide)")

    def work(self, inputs, out):
        length, d = out.tokens, self.dim
        return 2 * self.macs(inputs, out) + (4 * length * d if self.bias else 0) + 6 * self.heads * length * length

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
