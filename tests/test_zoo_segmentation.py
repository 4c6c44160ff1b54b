"""Segmentation in the bundled zoo: FCN-ResNet50 and DeepLabV3-ResNet50 (dilated backbone,
ASPP with its image-pooling branch upsampled to the feature map's size, logits upsampled to
the input's), against hand-written torchvision-style references: torchvision's parameter and
MAC figures, MACs counted by hooks, weights loaded and computing the same in torch and ONNX
Runtime at a small input."""

from __future__ import annotations

import pytest
import torch

import archlang

from . import reference_segmentation as ref
from .test_zoo import _trained_looking, assert_onnx_runtime_agrees, hooked_macs, outputs_with_reference_weights

SEGMENTATION = {
    "fcn_resnet50": (ref.fcn_resnet50, 32_957_013, 142_725_772_800),
    "deeplabv3_resnet50": (ref.deeplabv3_resnet50, 39_638_869, 168_731_205_888),
}


@pytest.mark.parametrize("name", SEGMENTATION)
def test_torchvisions_figures_and_the_hooks_count(name):
    make_reference, params, macs = SEGMENTATION[name]
    net = archlang.load(name).network()
    assert (net.total_params, net.total_macs, net.output_shape) == (params, macs, (21, 520, 520))
    with torch.device("meta"):
        reference = make_reference().eval()  # ASPP's pooling branch: batch norm on 1x1, batch 1
        assert hooked_macs(reference, torch.empty(1, *net.input_shape))[0] == macs
    assert sum(p.numel() for p in reference.parameters()) == params
    keys = list(reference.state_dict())
    assert "backbone.layer3.1.conv2.weight" in keys and keys[-1] == "classifier.4.bias"


@pytest.mark.parametrize("name", SEGMENTATION)
def test_reference_weights_compute_the_same(name):
    make_reference, _, _ = SEGMENTATION[name]
    torch.manual_seed(0)
    _, _, expected, got = outputs_with_reference_weights(name, _trained_looking(make_reference()), (1, 3, 40, 48))
    assert got.shape == expected.shape == (1, 21, 40, 48)
    assert (got - expected).abs().max().item() <= 1e-5


SMALL = """use "segmentation"
network small : 3x40x48 = stem -> dilated_bottleneck(8) -> dilated_bottleneck(8, 1, 2) -> identity as f
    -> concat(aspp -> fcn_head(5) | f -> conv1x1(5)) -> upsample(like=input, linear=true)
"""


def test_the_segmentation_blocks_agree_in_onnx_runtime(tmp_path):
    """ONNX Runtime on the spec's own blocks (dilated bottlenecks, ASPP with its pooling branch,
    the FCN head, bilinear upsampling to the input) at a small width: the full networks write
    140 MB files, and every op is compared with torch on its own elsewhere."""
    built = archlang.build(archlang.parse(SMALL, "small.arch").network(), seed=1).eval()
    x = torch.randn(1, 3, 40, 48)
    with torch.no_grad():
        got = built(x)
    assert_onnx_runtime_agrees(built, x, got, tmp_path / "small.onnx")
