"""The op registry, op by op: every op's shape rule and parameter count must equal those
of the real torch module (torch is the oracle), in 1D, 2D and 3D where the op applies, and
the built module must compute what a hand-written torch module for the layer *as written*
computes (so a wrong default in an op's `make` fails here).

The torch modules here are written by hand from torch's documentation, independently of
archlang's own backends, so that the two can disagree.
"""

import pytest
import torch

from archlang.ops import canonical_ops

from .conftest import analyse
import archlang

from .torch_oracle import execute, from_spec

# op -> (layer text, input shape) cases
CASES = {
    "conv": [("conv3x3(8)", "3x16x16"), ("conv5(4, stride=2, pad=1, dilation=2)", "2x21"),
             ("conv3x3x3(4, groups=2, bias=false)", "4x6x9x9"), ("conv(6, k=(1, 7), stride=(1, 2))", "3x5x20"),
             ("conv1x1(16, pad=0)", "8x7x7")],
    "maxpool": [("maxpool", "3x9x9"), ("maxpool3(stride=2, pad=1)", "2x17"), ("maxpool2x2x2", "2x4x6x6"),
                ("maxpool3x3(stride=2)", "4x13x13")],
    "avgpool": [("avgpool", "3x9x9"), ("avgpool3(stride=1, pad=1)", "2x10"), ("avgpool(k=(1, 2))", "2x4x6"),
                ("avgpool2x2x2", "2x4x6x6")],
    "globalavgpool": [("globalavgpool", "3x9x9"), ("globalavgpool", "2x10"), ("globalavgpool", "2x3x4x5")],
    "globalmaxpool": [("globalmaxpool", "3x9x9"), ("globalmaxpool", "2x10"), ("globalmaxpool", "2x3x4x5")],
    "adaptiveavgpool": [("adaptiveavgpool(7)", "3x14x14"), ("adaptiveavgpool(3)", "2x10"),
                        ("adaptiveavgpool((2, 3))", "2x7x9"), ("adaptiveavgpool(2)", "2x4x5x6")],
    "fc": [("fc(10)", "20"), ("linear(7, bias=false)", "12")],
    "flatten": [("flatten", "3x4x5"), ("flatten", "2x9"), ("flatten", "6")],
    "relu": [("relu", "3x4x4")], "relu6": [("relu6", "3x4")], "leakyrelu": [("leakyrelu(0.2)", "3x4x4")],
    "elu": [("elu(0.5)", "3x4")], "gelu": [("gelu", "3x4x4x4")], "silu": [("silu", "8")],
    "sigmoid": [("sigmoid", "3x4x4")], "tanh": [("tanh", "5")], "softmax": [("softmax", "10"), ("softmax", "3x4x4")],
    "identity": [("identity", "3x4x4")],
    "dropout": [("dropout(0.3)", "3x4x4"), ("dropout", "16")],
    "bn": [("bn", "8"), ("bn", "4x10"), ("bn", "4x6x6"), ("bn", "4x3x6x6")],
    "lrn": [("lrn", "8x6x6"), ("lrn(3, alpha=0.001, beta=0.5, k=1)", "6x10"), ("lrn(3)", "4x3x5x5")],
    "layernorm": [("layernorm", "16"), ("layernorm", "4x5x6")],
    "groupnorm": [("groupnorm(2)", "8x5x5"), ("groupnorm(4)", "8x10"), ("groupnorm(1)", "4x2x3x3")],
    "add": [("add(conv3x3 | identity)", "4x6x6"), ("add(fc(8) | fc(8) | fc(8))", "5")],
    "concat": [("concat(conv3x3(2) | identity | maxpool3x3(stride=1, pad=1))", "4x6x6"), ("concat(fc(3) | fc(4))", "5")],
}


def test_every_op_has_cases():
    assert {op.name for op in canonical_ops()} == set(CASES)


ALL_CASES = [
    pytest.param(text, shape, id=f"{name}:{text}@{shape}") for name, cases in CASES.items() for text, shape in cases
]


@pytest.mark.parametrize("text,shape", ALL_CASES)
def test_shape_and_params_match_torch(text, shape):
    net = analyse(f"network n : {shape} = {text}")
    values, modules = execute(net.graph, torch.randn(2, *net.input_shape))
    for node in net.graph.layers:
        assert tuple(values[node.name].shape[1:]) == node.type.shape, node.name
        if node.name in modules:
            assert sum(p.numel() for p in modules[node.name].parameters()) == node.op.param_count(), node.name
    assert sum(p.numel() for m in modules.values() for p in m.parameters()) == net.total_params


@pytest.mark.parametrize("text,shape", ALL_CASES)
def test_built_module_computes_what_the_spec_says(text, shape):
    net = analyse(f"network n : {shape} = {text}")
    built = archlang.build(net, seed=0).eval()
    oracle = from_spec(text, shape).eval()
    archlang.load_weights(oracle, built)
    x = torch.randn(2, *net.input_shape)
    with torch.no_grad():
        assert torch.allclose(built(x), oracle(x), atol=1e-6)
