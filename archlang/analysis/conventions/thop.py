"""`--count thop`: what thop 0.1.1.post2209072238 returns for the module `archlang.build` makes.

`thop.profile(model, inputs=(x,))` returns (ops, params) as floats, per sample at batch 1. It
hooks every module whose *exact* type is in its `register_hooks` table (thop/profile.py:
convolutions and transposed ones, Linear, BatchNorm*d, LayerNorm, InstanceNorm*d, Softmax,
ReLU, ReLU6, LeakyReLU, PReLU, the pooling classes, Upsample, Dropout, nn.RNN/GRU/LSTM and
their cells) and adds up what the hooks count (thop/vision/basic_hooks.py and calc_func.py,
thop/rnn_hooks.py). Nothing else is counted: not other modules (archlang's own classes,
GELU, GroupNorm, Embedding...), and not functions (a residual's `a + b`, torch.cat).

The rules below are those hooks for each of archlang's ops, from the op's resolved arguments
and tensor types alone (no torch, no thop). tests/test_counts_ptflops_thop.py runs thop on
every bundled network and checks these rules against it, total and layer by layer.
"""

from __future__ import annotations

from math import prod
from typing import Callable

from ..counting import Convention, by_name, register_convention, torch_group

__all__ = ["THOP", "RULES", "VERSION", "QUIRKS"]

VERSION = "0.1.1.post2209072238"

Rule = Callable[..., int]


def _zero(op, inputs, out) -> int:
    return 0


def _macs(op, inputs, out) -> int:
    # count_convNd and count_linear: products only, no bias (archlang's own MACs)
    return op.macs(inputs, out)


def _transposed(op, inputs, out) -> int:
    # count_convNd, shared with Conv*d: output elements x (C_in / G) x prod(K), as if the layer
    # were a convolution making its output from an input of C_in channels
    return out.numel * (op.in_channels // op.groups) * prod(op.kernel_size)


def _norm(op, inputs, out) -> int:
    # calculate_norm: 2 per element; doubled for an affine (or elementwise_affine) module
    return 4 * inputs[0].numel


def _softmax(op, inputs, out) -> int:
    # count_softmax: per vector of C features, C exps, C - 1 adds and C divides
    c = inputs[0].channels
    return inputs[0].numel // c * (3 * c - 1)


def _adaptive_avg(op, inputs, out) -> int:
    # count_adap_avgpool: in float64, the bin (prod of I/O, a fraction where O does not divide I)
    # plus one divide, times the output's elements, truncated by int()
    (x,) = inputs
    bins = 1.0
    for i, o in zip(x.spatial, out.spatial):
        bins *= i / o
    return int((bins + 1) * out.numel)


_UPSAMPLE = {"nearest": 1, "linear": 5, "bilinear": 11}  # "trilinear": not accepted, 0


def _upsample(op, inputs, out) -> int:
    # count_upsample: per output element by mode; calculate_upsample has a trilinear factor
    # (31), but count_upsample accepts only nearest, linear, bilinear and bicubic, and warns
    return _UPSAMPLE.get(op.mode(), 0) * out.numel


RULES: dict[str, Rule] = {
    "relu": _zero,  # zero_ops
    "relu6": _zero,  # zero_ops
    "leakyrelu": _zero,  # count_relu: calculate_relu_flops returns 0
    "elu": _zero,  # no rule
    "gelu": _zero,
    "silu": _zero,
    "sigmoid": _zero,
    "tanh": _zero,
    "softmax": _softmax,
    "logsoftmax": _zero,
    "hardswish": _zero,
    "hardsigmoid": _zero,
    "tokens": _zero,
    "grid": _zero,
    "embed": _zero,
    "posembed": _zero,
    "clstoken": _zero,
    "token": _zero,
    "meantokens": _zero,
    "attention": _zero,  # archlang's SelfAttention: no rule
    "slice": _zero,
    "shuffle": _zero,
    "conv": _macs,
    "dwconv": _macs,
    "crop": _zero,
    "fc": _macs,
    "add": _zero,
    "concat": _zero,
    "mul": _zero,
    "bn": _norm,
    "lrn": _zero,
    "layernorm": _norm,
    "groupnorm": _zero,  # no rule for nn.GroupNorm
    "layernorm2d": _zero,  # archlang's LayerNorm2d: an nn.LayerNorm subclass, not in the table
    "flatten": _zero,
    "identity": _zero,
    "dropout": _zero,
    "stochasticdepth": _zero,
    "layerscale": _zero,
    "maxpool": _zero,  # zero_ops
    "avgpool": lambda op, inputs, out: out.numel,  # count_avgpool: one per output element
    "globalavgpool": _adaptive_avg,  # nn.AdaptiveAvgPool*d(1)
    "globalmaxpool": _zero,
    "adaptiveavgpool": _adaptive_avg,
    "lstm": _zero,  # archlang's SequenceLSTM: an nn.LSTM subclass, not in the table
    "gru": _zero,
    "upsample": _upsample,
    "convtranspose": _transposed,
}


QUIRKS = (
    "thop counts a module only when its exact type is in its table (register_hooks), so archlang's "
    "own classes count 0: SelfAttention, SequenceLSTM and SequenceGRU (nn.LSTM and nn.GRU subclasses), "
    "LayerNorm2d (an nn.LayerNorm subclass), LayerScale, PositionEmbedding; a table keyed by exact "
    "type does not guess what a subclass's forward does",
    "modules it has no rule for count 0 too: GELU, SiLU, ELU, Sigmoid, Tanh, Hardswish, Hardsigmoid, "
    "LogSoftmax, GroupNorm, LocalResponseNorm, Embedding, ChannelShuffle",
    "functions count 0: thop hooks modules only, so residual adds, squeeze-and-excitation gates "
    "(a * b) and concatenation are not seen",
    "convolutions and fc layers count their products only, without the bias: archlang's MACs",
    "a transposed convolution counts output elements x C_in/G x prod(K), as if it were a "
    "convolution making its output: count_convNd serves Conv and ConvTranspose alike and reads "
    "the input's channels as the filters' depth, prod(stride) times the layer's real MACs "
    "C_in x prod(I) x C_out/G x prod(K) for O = S x I (a known bug; archlang's `macs` counts the "
    "real ones)",
    "batch norm and layer norm count 4 per element: calculate_norm counts 2 (subtract the mean, "
    "divide by the deviation) and an affine module doubles it (scale and shift)",
    "softmax counts 3C - 1 per vector of C features (C exps, C - 1 adds, C divides)",
    "ReLU, ReLU6, LeakyReLU and max pooling count 0 (comparisons are not counted); average pooling "
    "1 per output element; adaptive and global average pooling I/O + 1 per output element (a bin's "
    "adds and a divide), computed in floating point and truncated, so a global pool counts H x W + 1 "
    "per channel",
    "upsampling counts 1 per output element for nearest, 5 for linear, 11 for bilinear and 0 for "
    "trilinear: count_upsample accepts only nearest, linear, bilinear and bicubic, and warns "
    "(calculate_upsample's trilinear factor is never reached)",
)

THOP = register_convention(Convention(
    "thop", "MACs",
    "what thop returns: convolution and fc MACs without biases, batch and layer norm 4 per element, "
    "softmax and average pooling; activations, attention, recurrent layers and merges 0",
    by_name("thop", RULES),
    tool="thop",
    version=VERSION,
    quirks=QUIRKS,
    group=torch_group,
))
