"""Inception v3 against the source it follows, as test_zoo does for the rest of the zoo:
MACs counted by hooks on the hand-written reference module at the published input size, its
weights loaded and computing the same at the smallest input the network takes, and ONNX
Runtime agreeing with torch."""

from __future__ import annotations

import pytest
import torch

import archlang

from . import reference_zoo_inception as ref
from .test_zoo import _trained_looking, assert_onnx_runtime_agrees, at_size, outputs_with_reference_weights
from .test_zoo import hooked_macs

MACS = 5_713_216_096  # torchvision publishes 5.713 GFLOPS (MACs)
SMALLEST = (1, 3, 75, 75)  # torchvision's minimum: Mixed_7a leaves 1x1

# a few tensors of the state_dict, names and shapes as torchvision's
LAYOUT = {
    "Conv2d_1a_3x3.conv.weight": (32, 3, 3, 3),
    "Conv2d_4a_3x3.bn.running_var": (192,),
    "Mixed_5b.branch_pool.conv.weight": (32, 192, 1, 1),
    "Mixed_5d.branch5x5_2.conv.weight": (64, 48, 5, 5),
    "Mixed_6a.branch3x3dbl_3.conv.weight": (96, 96, 3, 3),
    "Mixed_6b.branch7x7dbl_2.conv.weight": (128, 128, 7, 1),
    "Mixed_6e.branch7x7_2.conv.weight": (192, 192, 1, 7),
    "Mixed_7a.branch3x3_2.conv.weight": (320, 192, 3, 3),
    "Mixed_7b.branch3x3_2b.conv.weight": (384, 384, 3, 1),
    "Mixed_7c.branch3x3dbl_3a.conv.weight": (384, 384, 1, 3),
    "Mixed_7c.branch_pool.bn.bias": (192,),
    "fc.weight": (1000, 2048),
}


def test_macs_counted_on_the_reference_equal_check():
    """At 299x299, on the meta device (shapes only, nothing allocated)."""
    net = archlang.load("inception_v3").network()
    with torch.device("meta"):
        reference = ref.inception_v3().eval()
        counted, out = hooked_macs(reference, torch.empty(1, *net.input_shape))
    assert tuple(out.shape[1:]) == net.output_shape == (1000,)
    assert counted == net.total_macs == MACS
    assert sum(p.numel() for p in reference.parameters()) == net.total_params == 23_834_568
    shapes = {k: tuple(v.shape) for k, v in reference.state_dict().items()}
    assert {k: shapes.get(k) for k in LAYOUT} == LAYOUT


def test_smaller_inputs_than_75_are_refused():
    """74x74 leaves Mixed_7a's 3x3 stride-2 convolutions a 2x2 map: an error, as in torch."""
    with pytest.raises(archlang.ArchError, match=r"(?s)floor\(\(2 \+ 0 - 3\)/2\) \+ 1 = 0.*in inception_d"):
        at_size("inception_v3", (3, 74, 74))


def test_reference_weights_compute_the_same_in_torch_and_onnx_runtime(tmp_path):
    """The reference's weights load by order and shape (which proves the same tensors in the
    same order) and give its outputs; exported with them, ONNX Runtime agrees with torch."""
    torch.manual_seed(0)
    built, x, expected, got = outputs_with_reference_weights("inception_v3", _trained_looking(ref.inception_v3()),
                                                             SMALLEST)
    assert got.shape == expected.shape == (1, 1000)
    assert expected.abs().max().item() > 1e-2  # outputs far from zero, so agreement means something
    assert (got - expected).abs().max().item() <= 1e-5
    # Not test_onnx's realistic(): calibrated on a batch of 4 whose last maps are 1x1, its
    # batch norms amplify float32 rounding so much that torch's own float32 output lies
    # 3e-3 from its float64 one. With the reference's weights the network stays tame (torch's
    # float32 within 1e-7 of float64 on outputs near 0.1), so the runtimes are held closer.
    assert_onnx_runtime_agrees(built, x, got, tmp_path / "inception_v3.onnx", atol=1e-5, rtol=1e-4)
