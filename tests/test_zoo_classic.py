"""DenseNet, SqueezeNet, GoogLeNet and U-Net against the sources they follow, as test_zoo
does for the rest of the zoo: MACs counted by hooks on the hand-written reference modules
at the published input size, their weights loaded and computing the same at a small input,
and ONNX Runtime agreeing with torch."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import archlang

from . import reference_zoo_classic as ref
from .test_onnx import realistic
from .test_zoo import _trained_looking, assert_onnx_runtime_agrees, hooked_macs, outputs_with_reference_weights

# name: (reference, MACs as exact integers, the input of the numeric tests). torchvision
# publishes the MACs of DenseNet, SqueezeNet and GoogLeNet (as GFLOPS); U-Net's are the
# hooks' count on the reference (Ronneberger et al. publish none).
ZOO = {
    "densenet121": (ref.densenet121, 2_834_161_664, (1, 3, 32, 32)),
    "densenet169": (ref.densenet169, 3_359_843_328, None),
    "densenet201": (ref.densenet201, 4_291_365_888, None),
    "densenet161": (ref.densenet161, 7_727_907_072, None),
    "squeezenet1_0": (ref.squeezenet1_0, 818_924_576, (2, 3, 64, 64)),
    "squeezenet1_1": (ref.squeezenet1_1, 349_151_936, (2, 3, 64, 64)),
    "googlenet": (ref.GoogLeNet, 1_498_376_192, (1, 3, 32, 32)),
    "unet": (ref.unet, 150_428_424_448, (1, 1, 188, 188)),  # the smallest tile: 2x4x4 out
    "unet_bn": (ref.unet_bn, 48_096_083_968, (1, 1, 32, 32)),
}

# a few tensors of each state_dict, names and shapes as torchvision's (U-Net: as the reference's)
LAYOUT = {
    "densenet121": {"features.denseblock1.denselayer6.conv1.weight": (128, 224, 1, 1),
                    "features.transition3.conv.weight": (512, 1024, 1, 1), "features.norm5.weight": (1024,)},
    "densenet169": {"features.denseblock4.denselayer32.conv2.weight": (32, 128, 3, 3),
                    "classifier.weight": (1000, 1664)},
    "densenet201": {"features.denseblock3.denselayer48.norm1.running_var": (1760,),
                    "classifier.weight": (1000, 1920)},
    "densenet161": {"features.conv0.weight": (96, 3, 7, 7), "features.denseblock4.denselayer24.conv1.weight":
                    (192, 2160, 1, 1), "classifier.weight": (1000, 2208)},
    "squeezenet1_0": {"features.0.weight": (96, 3, 7, 7), "features.12.expand3x3.weight": (256, 64, 3, 3),
                      "classifier.1.weight": (1000, 512, 1, 1)},
    "squeezenet1_1": {"features.0.weight": (64, 3, 3, 3), "features.6.squeeze.weight": (32, 128, 1, 1)},
    "googlenet": {"conv1.conv.weight": (64, 3, 7, 7), "inception3a.branch3.1.conv.weight": (32, 16, 3, 3),
                  "inception5b.branch4.1.bn.running_mean": (128,), "fc.weight": (1000, 1024)},
    "unet": {"inc.0.weight": (64, 1, 3, 3), "up1.up.weight": (1024, 512, 2, 2), "up4.conv.0.weight": (64, 128, 3, 3),
             "outc.weight": (2, 64, 1, 1)},
    "unet_bn": {"down4.1.1.running_var": (1024,), "up1.conv.3.weight": (512, 512, 3, 3)},
}


@pytest.mark.parametrize("name", ZOO)
def test_macs_counted_on_the_reference_equal_check(name):
    """At the published input size, on the meta device (shapes only, nothing allocated)."""
    make_reference, macs, _ = ZOO[name]
    net = archlang.load(name).network()
    with torch.device("meta"):
        reference = make_reference()
        counted, out = hooked_macs(reference, torch.empty(1, *net.input_shape))
    assert tuple(out.shape[1:]) == net.output_shape
    assert counted == net.total_macs == macs
    assert sum(p.numel() for p in reference.parameters()) == net.total_params
    shapes = {k: tuple(v.shape) for k, v in reference.state_dict().items()}
    assert {k: shapes.get(k) for k in LAYOUT[name]} == LAYOUT[name]


@pytest.mark.parametrize("name", [n for n, (_, _, shape) in ZOO.items() if shape])
def test_reference_weights_compute_the_same_in_torch_and_onnx_runtime(name, tmp_path):
    """The reference's weights load by order and shape (which proves the same tensors in the
    same order) and give its outputs; exported with them, ONNX Runtime agrees with torch.
    (densenet169, densenet201 and densenet161 are densenet121's blocks with other numbers:
    their layouts and counts are checked above.) Networks without batch norm (SqueezeNet,
    U-Net) need no calibration for ONNX Runtime, and skip its forward pass."""
    make_reference, _, shape = ZOO[name]
    torch.manual_seed(0)
    built, x, expected, got = outputs_with_reference_weights(name, _trained_looking(make_reference()), shape)
    assert got.shape == expected.shape
    assert expected.abs().max().item() > 1e-2  # outputs far from zero, so agreement means something
    assert (got - expected).abs().max().item() <= 1e-5
    has_bn = any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in built.modules())
    module = realistic(built) if has_bn else built
    x = torch.randn(1, *module.network.input_shape)
    with torch.no_grad():
        expected = module(x).numpy()
    assert_onnx_runtime_agrees(module, x, expected, tmp_path / f"{name}.onnx")
