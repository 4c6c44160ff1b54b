"""`fvcore`: what fvcore's `FlopCountAnalysis(module, x).total()` prints for the module
`archlang.build` makes, in inference mode (`module.eval()`), layer by layer.

fvcore traces the module with torch.jit and counts the aten ops it has a handle for
(fvcore/nn/flop_count.py, jit_handles.py): convolutions, linear and the matrix products at one
per multiply-accumulate (it calls one fused multiply-add one flop, and ignores biases), batch,
group and layer norm, 2D nearest and bilinear upsampling and 2D adaptive average pooling at its
own estimates; every other op counts 0 (most with an "Unsupported operator" warning). So its
figure is MACs for convolutions and fc layers plus a few elementwise estimates, and misses the
attention scores and recurrent layers. Each rule below is fvcore's handle for the op that the
layer's torch module is traced as; `QUIRKS` says where that surprises, and why.
resnet50: 4,111,512,576 (conv 4,087,136,256, batch norm 22,227,968, adaptive average pooling
100,352, linear 2,048,000).

No torch or fvcore import: the rules read each op's resolved attributes and the layer's types
(tests/test_counts_fvcore.py runs fvcore on every bundled network and compares).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from ...ir import TensorType
from ..counting import Convention, register_convention, torch_group

if TYPE_CHECKING:
    from ...ops.base import Op

__all__ = ["FVCORE", "FVCORE_VERSION", "QUIRKS", "RULES", "fvcore_rule"]

FVCORE_VERSION = "0.1.5.post20221221"  # the release the rules were checked against (the last; fvcore is archived)

QUIRKS = (
    "its 'flops' are one per multiply-accumulate (it counts a fused multiply-add as one flop), so its figures are "
    "MACs for convolutions and fc layers, and twice them would be FLOPs",
    "batch norm: 2 per element at inference (a scale and a shift per value, fvcore's batchnorm_flop_jit), but 5 "
    "per element in training mode (its rough estimate with the statistics computed): this convention is "
    "inference's, as published figures are, and `archlang.build` returns a module in training mode as every torch "
    "module starts, so call .eval() before FlopCountAnalysis for these figures (resnet50: 4,111,512,576; "
    "4,144,854,528 in training mode)",
    "layernorm, layernorm2d, groupnorm: 5 per element in either mode (fvcore's 'rough estimate' for normalising "
    "with a learned scale and shift)",
    "attention: only its four projections, 4LD^2 (traced as aten::linear); scaled_dot_product_attention, the "
    "scores and their weighted sum (2L^2D multiply-accumulates), has no handle in fvcore, which predates it, and "
    "counts 0 with an 'Unsupported operator' warning",
    "lstm, gru: 0: aten::lstm and aten::gru have no handle (facebookresearch/fvcore#98), so a recurrent network "
    "counts its fc layers alone",
    "global and adaptive average pooling: 1 per input element on 2D maps only (aten::adaptive_avg_pool2d); the "
    "1D and 3D ones (m5's, r3d_18's, mc3_18's) have no handle and count 0",
    "upsample: 2D only, 1 per output element for nearest and 4 for bilinear (upsample_nearest2d, "
    "upsample_bilinear2d); linear, trilinear and 1D and 3D nearest upsampling have no handle and count 0",
    "conv, dwconv, convtranspose, fc: one per multiply-accumulate, biases ignored, the same figure as `macs`; "
    "every other layer is 0, handle or none: activations, max and window average pooling, lrn, adds, "
    "concatenation, products (squeeze-excitation's gate, layerscale), embeddings and the sequence ops",
)


def _zero(op, inputs, out) -> int:
    return 0


def _macs(op, inputs, out) -> int:
    return op.macs(inputs, out)


def _adaptive_avg_pool(op, inputs, out) -> int:
    """aten::adaptive_avg_pool2d: one per input element; 1D and 3D: no handle."""
    return inputs[0].numel if inputs[0].rank == 2 else 0


def _upsample(op, inputs, out) -> int:
    """aten::upsample_nearest2d: 1 per output element, upsample_bilinear2d: 4; others: no handle."""
    if out.rank != 2:
        return 0
    return out.numel * (4 if op.linear else 1)


def _attention(op, inputs, out) -> int:
    """The projections' aten::linear: L x D x 3D in (or three L x D x D) and L x D x D out."""
    return 4 * out.tokens * op.dim * op.dim


def _norm5(op, inputs, out) -> int:
    """aten::layer_norm, aten::group_norm with an affine weight: 5 per input element."""
    return 5 * inputs[0].numel


def fvcore_batch_norm(op, inputs, out, training: bool = False) -> int:
    """aten::batch_norm with an affine weight: 2 per element in eval(), 5 in training mode."""
    return (5 if training else 2) * inputs[0].numel


RULES: dict[str, Callable[["Op", tuple[TensorType, ...], TensorType], int]] = {
    # one per multiply-accumulate: aten::_convolution (conv_flop_jit), aten::linear (linear_flop_jit)
    "conv": _macs, "dwconv": _macs, "convtranspose": _macs, "fc": _macs,
    "attention": _attention,
    "lstm": _zero, "gru": _zero,
    "bn": fvcore_batch_norm,
    "layernorm": _norm5, "layernorm2d": _norm5, "groupnorm": _norm5,
    "lrn": _zero,  # local_response_norm: mul, pad, avg_pool, pow, div: no handle
    "globalavgpool": _adaptive_avg_pool, "adaptiveavgpool": _adaptive_avg_pool,
    "globalmaxpool": _zero, "maxpool": _zero, "avgpool": _zero,
    "upsample": _upsample,
    # no handle, or a handle-less function: 0
    "relu": _zero, "relu6": _zero, "leakyrelu": _zero, "elu": _zero, "gelu": _zero, "silu": _zero,
    "sigmoid": _zero, "tanh": _zero, "softmax": _zero, "logsoftmax": _zero, "hardswish": _zero,
    "hardsigmoid": _zero,
    "tokens": _zero, "grid": _zero, "embed": _zero, "posembed": _zero, "clstoken": _zero, "token": _zero,
    "meantokens": _zero,
    "slice": _zero, "shuffle": _zero, "crop": _zero,
    "add": _zero, "concat": _zero, "mul": _zero,
    "flatten": _zero, "identity": _zero, "dropout": _zero, "stochasticdepth": _zero, "layerscale": _zero,
}


def fvcore_rule(op: "Op", inputs: tuple[TensorType, ...], out: TensorType, training: bool = False) -> int:
    """fvcore's count for one layer (batch 1); `training`: the module in training mode (batch norm's 5)."""
    if op.name == "bn":
        return fvcore_batch_norm(op, inputs, out, training)
    return RULES[op.name](op, inputs, out)


FVCORE = register_convention(Convention(
    "fvcore", "MACs",
    "what fvcore's FlopCountAnalysis prints for the built module in eval(): MACs of convolutions, fc and "
    "attention's projections, plus its estimates for norms and 2D adaptive pooling and upsampling",
    lambda op, inputs, out: fvcore_rule(op, inputs, out),
    tool="fvcore", version=FVCORE_VERSION, quirks=QUIRKS, group=torch_group,
))
