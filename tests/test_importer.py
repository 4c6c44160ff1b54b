"""Import: models (torch modules, ONNX files) read back as the specs a person would write,
checked layer for layer against what they came from, with their weights."""

from __future__ import annotations

import io

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper
from torch import nn

import archlang
from archlang.backends.torch_module import build_module
from archlang.cli import main
from archlang.importer import ModelImportError, same_graph
from tests import reference_models as R
from tests import reference_segmentation as seg
from tests import reference_transformers as tr
from tests import reference_zoo as zoo
from tests import reference_zoo_classic as classic
from tests import reference_zoo_inception as inception
from tests import reference_zoo_mobile as mobile
from tests import test_zoo as zoo_tests
from tests.conftest import KINDS



def _bundled(name):
    return archlang.load(name).network(name)


def _at_size(name, shape):
    """A bundled network at another input size (its header rewritten)."""
    from archlang.program import bundled_networks

    text = bundled_networks()[name].read_text()
    return archlang.parse(text.replace(f"network {name} : 3x224x224", f"network {name} : {shape}")).network(name)


@pytest.mark.parametrize("name", KINDS)
def test_a_built_network_reads_back_as_the_same_graph(name):
    net = _bundled(name)
    shapes = {n.name: n.type for n in net.graph.inputs}
    imported = archlang.from_torch(build_module(net.graph, device="meta"), shapes, name=name)
    assert imported.structured == (len(shapes) == 1)  # several inputs: written with named values
    assert same_graph(imported.network.graph, net.graph)


# torchvision-layout references, one per kind: each reads back with the bundled network's figures
REFERENCES = {
    "alexnet": zoo.AlexNet, "resnext50_32x4d": zoo.resnext50_32x4d, "r3d_18": zoo.r3d_18, "mc3_18": zoo.mc3_18,
    "m5": zoo.M5, "densenet121": classic.densenet121, "squeezenet1_0": classic.squeezenet1_0,
    "googlenet": classic.GoogLeNet, "unet_bn": classic.unet_bn, "mobilenet_v2": mobile.MobileNetV2,
    "mobilenet_v3_small": mobile.mobilenet_v3_small, "shufflenet_v2_x1_0": mobile.shufflenet_v2_x1_0,
    "efficientnet_b0": mobile.efficientnet_b0, "convnext_tiny": mobile.convnext_tiny,
    "deeplabv3_resnet50": seg.deeplabv3_resnet50, "inception_v3": inception.inception_v3, "resnet18": R.resnet18, "lstm_forecaster": tr.LSTMForecaster, "gru_classifier": tr.GRUClassifier,
    "vgg16_bn": lambda: R.vgg("D", True), "vit_b_16": tr.vit_b_16, "gpt2": tr.GPT,
    "bert_base": tr.BertModel,
}


def _readme_lines() -> dict[str, tuple[str, int, str]]:
    """The README's table of what the references read back as: name -> (class, lines, blocks)."""
    from pathlib import Path

    text = (Path(__file__).parents[1] / "README.md").read_text()
    table = text.split("<!-- import-lines -->")[1].split("<!-- /import-lines -->")[0]
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in table.strip().splitlines()[2:]]
    return {name: (cls, int(lines), blocks) for name, cls, lines, blocks in rows}


README_LINES = _readme_lines()


@pytest.mark.parametrize("name", REFERENCES)
def test_a_reference_module_reads_back_with_its_figures(name):
    net = _bundled(name)
    with torch.device("meta"):
        model = REFERENCES[name]().eval()
    shapes = {n.name: n.type for n in net.graph.inputs}
    imported = archlang.from_torch(model, shapes if len(shapes) > 1 else net.graph.input.type, name=name)
    spec = imported.network
    assert (spec.total_params, spec.total_macs) == (net.total_params, net.total_macs)
    assert spec.total_params == sum(p.numel() for p in model.parameters())
    blocks = [line.split()[1].split("(")[0] for line in imported.text.splitlines() if line.startswith("block ")]
    assert README_LINES[name] == (type(model).__name__, imported.lines, ", ".join(blocks) or "-")


def test_the_readme_lists_every_reference():
    assert set(README_LINES) == set(REFERENCES)


def test_resnet50_reads_as_a_person_writes_it():
    with torch.device("meta"):
        model = R.resnet50()
    imported = archlang.from_torch(model, "3x224x224", name="resnet50")
    text = imported.text
    assert imported.lines <= 25 and text.count("\nblock ") == 1, text
    assert "block bottleneck(c, s=1) =" in text  # named after torchvision's class
    for stage in ("bottleneck(64) * 3", "bottleneck(128, 2) -> bottleneck(128) * 3",
                  "bottleneck(256, 2) -> bottleneck(256) * 5", "bottleneck(512, 2) -> bottleneck(512) * 2"):
        assert stage in text
    assert "# layer3" in text  # the source's names where they mean something
    assert same_graph(imported.network.graph, _bundled("resnet50").graph)


def test_vgg16_reads_as_a_person_writes_it():
    with torch.device("meta"):
        model = R.vgg("D")
    imported = archlang.from_torch(model, "3x224x224", name="vgg16")
    assert imported.lines <= 15
    assert "block stage(c, n) =" in imported.text
    assert "stage(64, 2) -> stage(128, 2) -> stage(256, 3) -> stage(512, 3) * 2" in imported.text
    assert same_graph(imported.network.graph, _bundled("vgg16").graph)


def _trained_looking(model: nn.Module) -> nn.Module:
    """Batch norms with statistics of their own, so that mapping them wrongly shows."""
    torch.manual_seed(0)
    return zoo_tests._trained_looking(model)


def _built_with(text, state):
    """The spec's module holding `state` (built on the meta device: nothing initialised twice)."""
    module = build_module(archlang.parse(text).network().graph, device="meta")
    module.load_state_dict(state, assign=True)
    return module.eval()


def test_from_torch_weights_load_into_the_built_spec():
    model = _trained_looking(R.resnet18())
    imported = archlang.from_torch(model, "3x32x32")
    built = _built_with(imported.text, imported.state_dict())
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(built(x), model(x), atol=1e-5)


def _export(model, path, shape, folded=False):
    torch.onnx.export(model, (torch.randn(1, *shape),), str(path), dynamo=False, do_constant_folding=folded,
                      input_names=["input"], dynamic_axes={"input": {0: "batch"}})
    return path


@pytest.fixture(scope="module")
def resnet18_onnx(tmp_path_factory):
    """torch.onnx.export of the reference ResNet-18, its batch norms kept."""
    return _export(_trained_looking(R.resnet18()), tmp_path_factory.mktemp("onnx") / "resnet18.onnx", (3, 32, 32))


def _onnx_output(path, x):
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]


def test_import_command_writes_spec_and_weights_that_reproduce_the_onnx_model(resnet18_onnx, tmp_path, capsys):
    spec, weights = tmp_path / "r18.arch", tmp_path / "r18.pt"
    assert main(["import", str(resnet18_onnx), "-o", str(spec), "--weights", str(weights)]) == 0
    out = capsys.readouterr().out
    assert "network resnet18, " in out and "1 block (basic)" in out and "11,689,512 params" in out
    text = spec.read_text()
    assert "basic(128, 2) -> basic(128)" in text and "# layer2" in text
    assert same_graph(archlang.load(str(spec)).network().graph, _at_size("resnet18", "3x32x32").graph)
    built = _built_with(spec.read_text(), torch.load(weights))
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        np.testing.assert_allclose(built(x).numpy(), _onnx_output(resnet18_onnx, x), atol=1e-4)
    assert main(["fmt", "--check", str(spec)]) == 0  # the importer's output is formatted


def test_a_folded_batch_norm_reads_as_a_convolution_with_bias(tmp_path):
    model = _trained_looking(nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(),
                                           nn.Flatten(), nn.Linear(8 * 6 * 6, 10)))
    path = _export(model, tmp_path / "folded.onnx", (3, 6, 6), folded=True)
    imported = archlang.from_onnx(path)
    assert "bn" not in imported.text and "conv3x3(8) -> relu" in imported.text
    built = _built_with(imported.text, imported.state_dict())
    x = torch.randn(1, 3, 6, 6)
    with torch.no_grad():
        np.testing.assert_allclose(built(x).numpy(), _onnx_output(path, x), atol=1e-4)


TINY_GPT = """block gpt_block(heads) =
    residual(layernorm -> attention(heads, causal=true)) -> residual(layernorm -> fc(4 * in_c) -> gelu -> fc(in_c))
network tiny_gpt : [8] = embed(50, 16) as wte -> posembed -> gpt_block(2) * 2 -> layernorm -> fc(50, bias=false, tie=wte)
"""


@pytest.mark.parametrize("name,shape", [("lenet5", None), ("m5", None), ("squeezenet1_1", None),
                                        ("mobilenet_v2", None), ("tiny_gpt", "[8]")])
def test_archlangs_own_onnx_reads_back_as_the_same_graph(name, shape):
    """Whole networks; GPT-2's blocks (causal attention, the output layer tied to the embedding)
    at a small width."""
    net = archlang.parse(TINY_GPT).network(name) if name == "tiny_gpt" else _bundled(name)
    imported = archlang.from_onnx(archlang.export_onnx(net, seed=0), name=name, input_shape=shape)
    assert same_graph(imported.network.graph, net.graph, ignoring=("dropout",))  # ONNX drops it at inference


# -- bad input ----------------------------------------------------------------------------

def _graph(nodes, dims=("N", 3, 8, 8)):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, list(dims))
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    return helper.make_model(helper.make_graph(nodes, "g", [x], [y]))


def test_unsupported_nodes_are_listed_once_per_op_type(tmp_path):
    model = _graph([helper.make_node("Relu", ["x"], ["a"], name="relu"),
                    helper.make_node("Cos", ["a"], ["b"], name="cos1"),
                    helper.make_node("Sin", ["b"], ["c"], name="sin"),
                    helper.make_node("Cos", ["c"], ["y"], name="cos2")], dims=(1, 3, 8, 8))
    path = tmp_path / "trig.onnx"
    onnx.save(model, str(path))
    with pytest.raises(ModelImportError) as err:
        archlang.from_onnx(path)
    text = err.value.render()
    assert "trig.onnx: 3 nodes of 2 kinds have no archlang layer" in text
    assert "Cos x2: 'cos1', 'cos2'" in text and "Sin x1: 'sin'" in text
    assert "the first 1 of 4 nodes" in text
    assert main(["import", str(path), "-o", str(tmp_path / "x.arch")]) == 1
    assert not (tmp_path / "x.arch").exists()


def test_dynamic_sizes_need_an_input_shape(tmp_path):
    path = tmp_path / "dyn.onnx"
    onnx.save(_graph([helper.make_node("Relu", ["x"], ["y"], name="relu")]), str(path))
    assert "3x8x8" in archlang.from_onnx(path).text  # a dynamic batch is what a network takes
    onnx.save(_graph([helper.make_node("Relu", ["x"], ["y"], name="relu")], dims=("N", 3, "H", "W")), str(path))
    with pytest.raises(ModelImportError, match=r"dynamic sizes \(Nx3xHxW\).*\n.*--input-shape 3x224x224"):
        archlang.from_onnx(path)
    assert "relu" in archlang.from_onnx(path, input_shape="3x16x16").text


@pytest.mark.parametrize("content", [b"", b"not a model at all", None])
def test_a_truncated_or_foreign_file_is_a_clear_error(tmp_path, resnet18_onnx, content, capsys):
    path = tmp_path / "bad.onnx"
    path.write_bytes(content if content is not None else resnet18_onnx.read_bytes()[:5000])
    out = tmp_path / "bad.arch"
    assert main(["import", str(path), "-o", str(out), "--weights", str(tmp_path / "w.pt")]) == 1
    assert "bad.onnx" in capsys.readouterr().err
    assert not out.exists() and not (tmp_path / "w.pt").exists()


def test_data_dependent_control_flow_is_named_as_such():
    class Branchy(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3)

        def forward(self, x):
            return self.conv(x) if x.sum() > 0 else x

    with pytest.raises(ModelImportError, match="data-dependent control flow"):
        archlang.from_torch(Branchy(), "3x8x8")


def test_an_unreadable_torch_module_names_the_module_and_its_class():
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.PixelShuffle(2), nn.ReLU())
    with pytest.raises(ModelImportError, match=r"PixelShuffle x1: '1'"):
        archlang.from_torch(model, "3x8x8")


# -- every op, from the registry's cases --------------------------------------------------

from tests.test_ops import ALL_CASES  # noqa: E402


def _one_op(text, shape):
    return archlang.parse(f"network n : {shape} = {text}").network("n")


@pytest.mark.parametrize("text,shape", ALL_CASES)
def test_every_op_reads_back_from_its_torch_module(text, shape):
    net = _one_op(text, shape)
    imported = archlang.from_torch(build_module(net.graph, device="meta"), net.graph.input.type, name="n")
    assert same_graph(imported.network.graph, net.graph)


@pytest.mark.parametrize("text,shape", ALL_CASES)
def test_every_op_reads_back_from_archlangs_onnx(text, shape):
    net = _one_op(text, shape)
    # an N x L x D input is a 1D map to ONNX: a sequence is said with the input's shape
    imported = archlang.from_onnx(archlang.export_onnx(net, seed=0), name="n", input_shape=shape if "[" in shape else None)
    assert same_graph(imported.network.graph, net.graph, ignoring=("dropout", "stochasticdepth"))


@pytest.mark.parametrize("name", ["tiny_gpt", "lstm_forecaster", "gru_classifier"])
def test_torch_onnx_export_of_a_sequence_model_reads_back_with_its_weights(name, tmp_path):
    """torch.onnx.export of GPT-2's blocks at a small width (attention with Q, K and V in one
    projection, the causal mask, the position table, the output layer tied to the embedding)
    and of the recurrent networks (ONNX's LSTM and GRU, their gates in ONNX's order): the
    imported spec with the file's weights computes what ONNX Runtime does."""
    net = archlang.parse(TINY_GPT).network(name) if name == "tiny_gpt" else _bundled(name)
    (t,) = [n.type for n in net.graph.inputs]
    module = archlang.build(net, seed=0).eval()
    path = tmp_path / f"{name}.onnx"
    x = torch.randint(0, 50, (2, *t.shape)) if t.ids else torch.randn(2, *t.shape)
    torch.onnx.export(module, (x,), str(path), dynamo=False, do_constant_folding=False, input_names=["x"],
                      output_names=["y"], dynamic_axes={"x": {0: "batch"}})
    imported = archlang.from_onnx(path, input_shape=str(t))
    assert same_graph(imported.network.graph, net.graph, ignoring=("dropout",))
    built = _built_with(imported.text, imported.state_dict())
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    with torch.no_grad():
        np.testing.assert_allclose(built(x).numpy(), session.run(None, {"x": x.numpy()})[0], atol=1e-4)
