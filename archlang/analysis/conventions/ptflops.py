"""`--count ptflops`: what ptflops 0.7.5 prints for the module `archlang.build` makes.

`ptflops.get_model_complexity_info(model, input_res, as_strings=False)` with its default
backend ("pytorch"), per sample. That backend counts in two ways at once, and both matter:
- a forward hook on every module whose *exact* type is in its MODULES_MAPPING
  (ptflops/pytorch_ops.py): Conv*d and ConvTranspose*d, Linear, BatchNorm*d, GroupNorm,
  LayerNorm, ReLU, ReLU6, LeakyReLU, ELU, GELU, the pooling classes, Upsample, nn.LSTM/GRU,
  nn.MultiheadAttention; every other module (archlang's own classes too) counts 0;
- torch.nn.functional functions and torch / Tensor methods it replaces while the model runs
  (FUNCTIONAL_MAPPING, TENSOR_OPS_MAPPING): F.relu, F.elu, F.relu6, F.gelu, F.silu,
  F.softmax, F.*pool*, F.interpolate count their input's (or output's) elements; matmul,
  mm, bmm, addmm count a product's MACs; torch.add / Tensor.add, torch.mul / Tensor.mul an
  element each. A module's own forward calling one of those is counted again.

The rules below are those two for each of archlang's ops, from the op's resolved arguments
and tensor types alone (no torch, no ptflops: `check` stays fast). What each module's forward
calls is what matters for the second half: see `QUIRKS`. Counts are per sample (batch 1).
tests/test_counts_ptflops_thop.py runs ptflops on every bundled network and checks these
rules against it, total and layer by layer.
"""

from __future__ import annotations

from math import prod
from typing import Callable

from ..counting import Convention, by_name, register_convention, torch_group

__all__ = ["PTFLOPS", "RULES", "VERSION", "QUIRKS"]

VERSION = "0.7.5"

Rule = Callable[..., int]


def _zero(op, inputs, out) -> int:
    return 0


def _in(times: int) -> Rule:
    """`times` per input element."""
    return lambda op, inputs, out: times * inputs[0].numel


def _conv(op, inputs, out) -> int:
    # the hook: prod(K) x C_in x C_out/G per output position (a transposed one: per input
    # position), plus one per output element for the bias; the same MACs as archlang's
    return op.macs(inputs, out) + (out.numel if op.bias else 0)


def _fc(op, inputs, out) -> int:
    # (F_in x F_out + F_out for the bias) per row: per token on a sequence
    return (op.in_features * op.out_features + (op.out_features if op.bias else 0)) * (out.tokens or 1)


def _lrn(op, inputs, out) -> int:
    # F.local_response_norm calls input.mul(input), then avg_pool2d/3d over the squares padded
    # by size // 2 and (size - 1) // 2 channels, then .mul(alpha) and .add(k): all four patched
    (x,) = inputs
    return 3 * x.numel + (x.channels + op.size // 2 + (op.size - 1) // 2) * prod(x.spatial)


RULES: dict[str, Rule] = {
    # activations: module hook (one per element) where the class is mapped, plus the patched
    # F.* function where the module's forward calls one
    "relu": _in(2),  # hook + F.relu
    "relu6": _in(1),  # hook; nn.ReLU6 calls F.hardtanh, not patched
    "leakyrelu": _in(1),  # hook; F.leaky_relu not patched
    "elu": _in(2),  # hook + F.elu
    "gelu": _in(2),  # hook + F.gelu
    "silu": _in(1),  # no hook; F.silu
    "sigmoid": _zero,
    "tanh": _zero,
    "softmax": _in(1),  # no hook; F.softmax
    "logsoftmax": _zero,
    "hardswish": _zero,
    "hardsigmoid": _zero,
    # sequences: tensor methods, nn.Embedding and archlang's classes, none of them counted
    "tokens": _zero,
    "grid": _zero,
    "embed": _zero,
    "posembed": _zero,  # x + weight: Python's +, not the patched Tensor.add
    "clstoken": _zero,
    "token": _zero,
    "meantokens": _zero,
    "attention": _zero,  # SelfAttention: F.linear (not patched) and scaled_dot_product_attention
    "slice": _zero,
    "shuffle": _zero,  # nn.ChannelShuffle: no rule
    "conv": _conv,
    "dwconv": _conv,
    "crop": _zero,
    "fc": _fc,
    "add": _zero,  # a + b (Tensor.__add__), not the patched Tensor.add
    "concat": _zero,
    "mul": _zero,  # a * b (Tensor.__mul__)
    # normalisation: the hook counts the input's elements, twice where the module has
    # `affine` set; nn.LayerNorm has no `affine` (it is `elementwise_affine`): once
    "bn": _in(2),
    "lrn": _lrn,
    "layernorm": _in(1),
    "groupnorm": _in(2),
    "layernorm2d": _zero,  # archlang's LayerNorm2d: an nn.LayerNorm subclass, not mapped
    "flatten": _zero,
    "identity": _zero,
    "dropout": _zero,
    "stochasticdepth": _zero,
    "layerscale": _zero,  # x * weight
    # pooling: the hook counts the input's elements, and the patched F.*pool* again
    "maxpool": _in(2),
    "avgpool": _in(2),
    "globalavgpool": _in(2),
    "globalmaxpool": _in(2),
    "adaptiveavgpool": _in(2),
    "lstm": _zero,  # archlang's SequenceLSTM: an nn.LSTM subclass, not mapped
    "gru": _zero,
    # the hook counts the output's elements, and the patched F.interpolate again (its size,
    # or the input's elements times the product of the scale factors)
    "upsample": lambda op, inputs, out: 2 * out.numel,
    "convtranspose": _conv,
}


QUIRKS = (
    "ptflops counts a module only when its exact type is in its table (MODULES_MAPPING), so "
    "archlang's own subclasses count 0: LayerNorm2d (an nn.LayerNorm), SequenceLSTM and SequenceGRU "
    "(nn.LSTM, nn.GRU), as do SelfAttention, LayerScale, PositionEmbedding and ClassToken; a table keyed "
    "by exact type does not guess what a subclass's forward does, and ptflops treats an unknown "
    "module as a zero-op",
    "attention counts 0: ptflops does not patch F.linear (patching it would count nn.Linear twice) or "
    "scaled_dot_product_attention, which are what archlang's SelfAttention calls; its attention rule "
    "is for nn.MultiheadAttention alone",
    "ReLU, ELU and GELU count 2 per element, ReLU6 and LeakyReLU 1, SiLU and Softmax 1, Sigmoid, "
    "Tanh, LogSoftmax, Hardswish and Hardsigmoid 0: the module hook counts an element each (for the "
    "classes it maps), and the F.relu, F.elu, F.gelu, F.silu or F.softmax that the module's forward "
    "calls is patched to count functional calls outside modules, and counts them again (nn.ReLU6 "
    "calls F.hardtanh and nn.LeakyReLU F.leaky_relu, which are not patched)",
    "pooling (max, average, global and adaptive) counts 2 per input element, and upsampling 2 per "
    "output element: the module hook and the patched F.max_pool2d, F.avg_pool2d, "
    "F.adaptive_avg_pool2d... or F.interpolate that its forward calls",
    "convolutions, transposed convolutions and fc layers add their bias as one MAC per output "
    "element (ptflops' hooks count a bias add with the products)",
    "batch norm and group norm count 2 per element, layer norm 1: the normalisation hook doubles "
    "for a module whose `affine` is set, and nn.LayerNorm names it `elementwise_affine` (a known bug)",
    "residual adds, squeeze-and-excitation gates, layer scale and position embeddings count 0: "
    "ptflops patches torch.add and Tensor.add, .mul by name, but Python's `a + b` and `a * b` call "
    "Tensor.__add__ and __mul__, which it does not",
    "local response norm counts 3 per element plus one per element of the channel window padded "
    "by size - 1 channels: nn.LocalResponseNorm has no hook, but F.local_response_norm calls "
    "input.mul(input), F.avg_pool3d (or 2d) over the padded squares, .mul(alpha) and .add(k), all "
    "patched",
    "embeddings, concatenation, slicing, dropout, channel shuffle and LSTM/GRU layers count 0 (no "
    "hook and no patched function for what they call)",
)

PTFLOPS = register_convention(Convention(
    "ptflops", "MACs",
    "what ptflops prints: convolution and fc MACs with their biases, plus an element each for batch "
    "norm's two steps, activations, pooling and upsampling, some counted twice (its hooks and its "
    "patched functions); attention, recurrent layers and merges 0",
    by_name("ptflops", RULES),
    tool="ptflops",
    version=VERSION,
    quirks=QUIRKS,
    group=torch_group,
))
