"""`flops`: two operations per multiply-accumulate of every layer (each op's `macs`: convolutions,
transposed convolutions, fc, attention, lstm, gru), as torch.utils.flop_counter.FlopCounterMode
counts them.

FlopCounterMode counts the matrix products (aten mm, addmm, bmm, baddbmm), the convolutions and
torch's fused attention kernels, two FLOPs per multiply-accumulate, and nothing else: no bias,
normalisation, activation, pooling or elementwise op. Run on the module `archlang.build` makes
on meta tensors it prints 2 x `macs` for every bundled network, layer by layer (resnet50:
8,178,368,512). On CPU it drops two layers' products, each a gap in torch's formula registry
(`QUIRKS`); `flops` does not copy them, since the network does that work, and
`flop_counter_rule` gives the figure FlopCounterMode prints, so that the difference is tested
to the operation rather than left out (tests/test_counts_fvcore.py).

No torch import: the rules read each op's resolved attributes and the layer's types.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...ir import TensorType
from ..counting import Convention, register_convention

if TYPE_CHECKING:
    from ...ops.base import Op

__all__ = ["FLOPS", "QUIRKS", "TORCH_VERSION", "flop_counter_rule", "attention_core_macs"]

TORCH_VERSION = "2.13"  # the torch whose FlopCounterMode the rules and quirks were checked against

QUIRKS = (
    "attention on CPU at inference: FlopCounterMode counts only the four projections (8LD^2 FLOPs) and 0 for the "
    "scores and their weighted sum (QK^T and softmax(.)V, 4L^2D FLOPs): torch runs scaled_dot_product_attention "
    "on CPU as aten::_scaled_dot_product_flash_attention_for_cpu, which its formula registry lacks (reported as "
    "pytorch/pytorch#195460); on meta tensors, on CUDA's fused kernels and on CPU in training with dropout > 0 "
    "(the math path: two bmm) they are counted, over the full L x L scores even when causal, as `macs` counts them",
    "lstm on CPU: FlopCounterMode counts 0, since torch runs nn.LSTM on float32 CPU tensors through oneDNN "
    "(aten::mkldnn_rnn_layer), which has no formula (the same gap in torchtnt's counter: meta-pytorch/tnt#624); "
    "gru on CPU, and lstm on meta tensors or with torch.backends.mkldnn disabled, decompose into addmm per step "
    "and are counted, 2 x 4H(I + H) a step",
    "biases, normalisation, activations, pooling, upsampling, adds and products are 0: FlopCounterMode has "
    "formulas for matrix products, convolutions and attention kernels only, and addmm's and convolution's "
    "count the products alone (2 x C_in x K per output), as `macs` does",
)


def attention_core_macs(op: "Op", out: TensorType) -> int:
    """An attention layer's QK^T and weighted sum of V: 2L^2D multiply-accumulates."""
    return 2 * out.tokens * out.tokens * op.dim


def flop_counter_rule(op: "Op", inputs: tuple[TensorType, ...], out: TensorType, device: str = "cpu",
                      training: bool = False) -> int:
    """What FlopCounterMode prints for this layer of the module `archlang.build` makes (batch 1):
    `flops` less the products it misses on `device` ("cpu" or "meta"; `QUIRKS`). `training`:
    the module in training mode (attention with dropout then takes torch's math path on CPU)."""
    if device not in ("cpu", "meta"):
        raise ValueError(f"flop_counter_rule knows FlopCounterMode on 'cpu' and 'meta' tensors, not {device!r}")
    flops = 2 * op.macs(inputs, out)
    if device == "cpu":
        if op.name == "attention" and not (training and op.dropout > 0):
            return flops - 2 * attention_core_macs(op, out)
        if op.name == "lstm":
            return 0
    return flops


FLOPS = register_convention(Convention(
    "flops", "FLOPs",
    "2 x every multiply-accumulate of convolutions, fc, attention and recurrent layers, as torch's "
    "FlopCounterMode counts them",
    lambda op, inputs, out: 2 * op.macs(inputs, out),
    tool="torch", version=TORCH_VERSION, quirks=QUIRKS,
))
