"""The mobile zoo (MobileNetV2 and V3, ShuffleNetV2, EfficientNet, ConvNeXt) against
torchvision's modules, written by hand in reference_zoo_mobile: MACs counted by hooks equal
check's at the published size, the reference's weights load and compute the same at a small
input, and ONNX Runtime agrees with torch. Parameters and published GMACs are asserted in
test_analysis."""

from __future__ import annotations


import pytest
import torch

import archlang

from . import reference_zoo_mobile as ref
from .test_zoo import _trained_looking, assert_onnx_runtime_agrees, at_size, hooked_macs, outputs_with_reference_weights

# name: (reference, torchvision's MACs as exact integers (None: the hooks' count is the
# oracle, and test_analysis checks it against the published rounding), the input of the
# numeric tests (None: figures only, the other widths and depths of a tested family))
ZOO = {
    "mobilenet_v2": (ref.MobileNetV2, 300_774_272, (1, 3, 64, 64)),
    "mobilenet_v3_large": (ref.mobilenet_v3_large, 216_589_760, (1, 3, 64, 64)),
    "mobilenet_v3_small": (ref.mobilenet_v3_small, 56_510_400, (1, 3, 64, 64)),
    "shufflenet_v2_x1_0": (ref.shufflenet_v2_x1_0, 144_907_992, (1, 3, 64, 64)),
    "shufflenet_v2_x0_5": (ref.shufflenet_v2_x0_5, None, None),
    "shufflenet_v2_x1_5": (ref.shufflenet_v2_x1_5, None, None),
    "shufflenet_v2_x2_0": (ref.shufflenet_v2_x2_0, None, None),
    "efficientnet_b0": (ref.efficientnet_b0, 385_814_752, (1, 3, 64, 64)),
    "efficientnet_b1": (ref.efficientnet_b1, None, None),
    "efficientnet_b3": (ref.efficientnet_b3, None, None),
    "efficientnet_b7": (ref.efficientnet_b7, None, None),
    "convnext_tiny": (ref.convnext_tiny, 4_455_531_264, (1, 3, 64, 64)),
    "convnext_small": (ref.convnext_small, None, None),
    "convnext_base": (ref.convnext_base, None, None),
}

# a few tensors of each torchvision state_dict, names and shapes as published
LAYOUT = {
    "mobilenet_v2": {"features.1.conv.0.0.weight": (32, 1, 3, 3), "features.2.conv.0.0.weight": (96, 16, 1, 1),
                     "features.18.1.running_var": (1280,), "classifier.1.weight": (1000, 1280)},
    "mobilenet_v3_large": {"features.4.block.2.fc1.weight": (24, 72, 1, 1),
                           "features.13.block.1.0.weight": (672, 1, 5, 5), "classifier.0.weight": (1280, 960)},
    "mobilenet_v3_small": {"features.1.block.1.fc1.weight": (8, 16, 1, 1), "features.12.0.weight": (576, 96, 1, 1),
                           "classifier.3.weight": (1000, 1024)},
    "shufflenet_v2_x1_0": {"stage2.0.branch1.0.weight": (24, 1, 3, 3), "stage2.0.branch2.0.weight": (58, 24, 1, 1),
                           "stage3.1.branch2.0.weight": (116, 116, 1, 1), "conv5.0.weight": (1024, 464, 1, 1)},
    "shufflenet_v2_x0_5": {"stage4.3.branch2.5.weight": (96, 96, 1, 1), "fc.weight": (1000, 1024)},
    "shufflenet_v2_x1_5": {"stage2.0.branch1.2.weight": (88, 24, 1, 1), "conv5.1.running_mean": (1024,)},
    "shufflenet_v2_x2_0": {"stage4.0.branch1.0.weight": (488, 1, 3, 3), "fc.weight": (1000, 2048)},
    "efficientnet_b0": {"features.1.0.block.1.fc1.weight": (8, 32, 1, 1), "features.2.1.block.0.0.weight": (144, 24, 1, 1),
                        "features.8.0.weight": (1280, 320, 1, 1), "classifier.1.weight": (1000, 1280)},
    "efficientnet_b1": {"features.2.2.block.2.fc1.weight": (6, 144, 1, 1), "features.7.1.block.3.1.bias": (320,)},
    "efficientnet_b3": {"features.0.0.weight": (40, 3, 3, 3), "features.6.5.block.0.0.weight": (1392, 232, 1, 1),
                        "classifier.1.weight": (1000, 1536)},
    "efficientnet_b7": {"features.6.12.block.2.fc2.weight": (2304, 96, 1, 1), "classifier.1.weight": (1000, 2560)},
    "convnext_tiny": {"features.0.0.weight": (96, 3, 4, 4), "features.1.0.layer_scale": (96, 1, 1),
                      "features.1.0.block.3.weight": (384, 96), "features.6.1.weight": (768, 384, 2, 2),
                      "classifier.0.weight": (768,)},
    "convnext_small": {"features.5.26.block.0.weight": (384, 1, 7, 7), "classifier.2.weight": (1000, 768)},
    "convnext_base": {"features.7.2.block.5.weight": (1024, 4096), "classifier.2.weight": (1000, 1024)},
}

def trained_looking(reference: torch.nn.Module) -> torch.nn.Module:
    """test_zoo's batch-norm statistics and affine terms, and layer norms' too; ConvNeXt's
    layer scales as training leaves them (near 0.1 to 1), not at their 1e-6 start, which
    would hide every residual branch from the comparison."""
    for m in reference.modules():
        if isinstance(m, torch.nn.LayerNorm):
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.1, 0.1)
        if isinstance(m, ref.CNBlock):
            m.layer_scale.data.uniform_(0.1, 1.0)
    return _trained_looking(reference)


@pytest.mark.parametrize("name", ZOO)
def test_macs_counted_on_the_reference_equal_check(name):
    """At the published input size, on the meta device (shapes only, nothing allocated)."""
    make_reference, macs, _ = ZOO[name]
    net = archlang.load(name).network()
    with torch.device("meta"):
        reference = make_reference()
        counted, _ = hooked_macs(reference, torch.empty(1, *net.input_shape))
    assert counted == net.total_macs == (macs or counted)
    assert sum(p.numel() for p in reference.parameters()) == net.total_params
    shapes = {k: tuple(v.shape) for k, v in reference.state_dict().items()}
    assert {k: shapes.get(k) for k in LAYOUT[name]} == LAYOUT[name]


@pytest.mark.parametrize("name", ["efficientnet_b0", "efficientnet_b7", "convnext_tiny", "convnext_base"])
def test_stochastic_depth_rises_per_block_as_torchvision_sets_it(name):
    """EfficientNet: 0.2 * (block index) / (blocks), on the blocks with a residual; ConvNeXt:
    p * (block index) / (blocks - 1). Unseen at inference, so checked here."""
    with torch.device("meta"):
        reference = ZOO[name][0]()
    expected = [m.stochastic_depth.p for m in reference.modules()
                if isinstance(m, ref.CNBlock) or isinstance(m, ref.MBConv) and m.use_res_connect]
    net = archlang.load(name).network()
    assert [n.op.p for n in net.graph.layers if n.op.name == "stochasticdepth"] == expected


def test_small_input_is_the_same_chain():
    """The numeric tests' networks are the bundled ones on another input."""
    small = at_size("mobilenet_v3_small", (3, 224, 224))
    full = archlang.load("mobilenet_v3_small").network()
    assert [(n.name, n.output_shape) for n in small.layers] == [(n.name, n.output_shape) for n in full.layers]


@pytest.mark.parametrize("name", [name for name in ZOO if ZOO[name][2]])
def test_reference_weights_compute_the_same_in_torch_and_onnx_runtime(name, tmp_path):
    """The reference's weights load by order and shape and give its outputs (at a small
    input: the same modules); ConvNeXt's by load_weights' second rule (layer_scale after the
    block's convolutions, Linear weights as 1x1 convolutions), with no conversion here.
    Exported with them, ONNX Runtime agrees with torch."""
    make_reference, _, shape = ZOO[name]
    torch.manual_seed(0)
    reference = trained_looking(make_reference())
    built, x, expected, got = outputs_with_reference_weights(name, reference, shape)
    assert got.shape == expected.shape
    assert (got - expected).abs().max().item() <= 1e-5
    # shallow enough to stay tame with these weights (runtimes differ by 1e-7 on outputs near
    # 0.1, ConvNeXt's 2e-6 near 2), unlike the deep ResNets test_zoo calibrates first
    assert_onnx_runtime_agrees(built, x, got, tmp_path / f"{name}.onnx", atol=1e-5, rtol=1e-4)
