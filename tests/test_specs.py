"""The bundled library: every network analyses, names are unique across files, and the
library is reachable by name."""

import re

import pytest

import archlang
from archlang.resources import specs_dir

from .conftest import BUNDLED


def test_bundled_names():
    assert set(BUNDLED) == {
        "lenet5", "mlp", "vgg11", "vgg11_lrn", "vgg13", "vgg16_c", "vgg16", "vgg19",
        "vgg11_bn", "vgg13_bn", "vgg16_bn", "vgg19_bn",
        "resnet18", "resnet34", "resnet50", "resnet101", "resnet152",
        "alexnet", "resnext50_32x4d", "resnext101_32x8d", "wide_resnet50_2", "r3d_18", "mc3_18", "m5",
        "fcn_resnet50", "deeplabv3_resnet50",
        "mobilenet_v2", "mobilenet_v3_large", "mobilenet_v3_small",
        "shufflenet_v2_x0_5", "shufflenet_v2_x1_0", "shufflenet_v2_x1_5", "shufflenet_v2_x2_0",
        "efficientnet_b0", "efficientnet_b1", "efficientnet_b3", "efficientnet_b7",
        "convnext_tiny", "convnext_small", "convnext_base",
        "densenet121", "densenet169", "densenet201", "densenet161", "squeezenet1_0", "squeezenet1_1", "googlenet",
        "inception_v3", "vit_b_16", "vit_b_32", "vit_l_16", "gpt2",
        "lstm_forecaster", "gru_classifier", "bert_base",
        "unet", "unet_bn",
    }


def test_names_are_unique_across_files():
    """No two bundled files define one name; a file that uses another shares its names."""
    seen = {}
    for path in sorted(specs_dir().glob("*.arch")):
        program = archlang.load(path)
        names = {*program.networks, *program.blocks}
        for used in re.findall(r'^use "(\w+)"', path.read_text(), re.M):
            names -= set(archlang.load(specs_dir() / f"{used}.arch").blocks)
        for name in sorted(names):
            assert seen.setdefault(name, path) == path, f"{name} in {seen[name].name} and {path.name}"


@pytest.mark.parametrize("name", BUNDLED)
def test_bundled_network_analyses(name):
    net = archlang.load(name).network()
    assert net.name == name
    assert net.total_params > 0 and net.layers
    names = [i.name for i in net.layers]
    assert len(names) == len(set(names))


def test_vgg_is_written_once():
    """No copied networks: every VGG network is one call of a shared block."""
    text = (specs_dir() / "vgg.arch").read_text()
    bodies = re.findall(r"^network \w+ : 3x224x224 = (.+?)(?:\s+#.*)?$", text, re.M)
    assert len(bodies) == 10 and all(b.startswith(("vgg(", "vgg_c")) for b in bodies)


def test_resnet_follows_torchvision():
    net = archlang.load("resnet50").network()
    convs = [i.node.op for i in net.layers if i.family == "conv"]
    assert not any(c.bias for c in convs)
    # the stride of a downsampling bottleneck sits on its 3x3 convolution
    strided = [i for i in net.layers if i.family == "conv" and i.node.op.stride == (2, 2)]
    assert [i.op for i in strided] == [
        "conv 7x7 /2, 64", "conv 3x3 /2, 128", "conv 1x1 /2, 512", "conv 3x3 /2, 256",
        "conv 1x1 /2, 1024", "conv 3x3 /2, 512", "conv 1x1 /2, 2048",
    ]
    shortcuts = {i.name.split(".")[0] for i in net.layers if ".shortcut" in i.name}
    assert shortcuts == {"bottleneck1", "bottleneck4", "bottleneck8", "bottleneck14"}


def test_lecun_notation_is_the_same_shape():
    a = archlang.parse("network a : 6@28x28 = conv5x5(16, pad=0)").network()
    b = archlang.parse("network a : 6x28x28 = conv5x5(16, pad=0)").network()
    assert a.to_dict() == b.to_dict()


ISSUE_VGG = """
# specs/vgg.arch - VGG (Simonyan & Zisserman, 2014), Table 1
block stage(c, n, norm=identity) = (conv3x3(c) -> norm -> relu) * n -> maxpool
block classifier(classes=1000) =
    adaptiveavgpool(7) -> flatten
    -> fc(4096) -> relu -> dropout(0.5)
    -> fc(4096) -> relu -> dropout(0.5)
    -> fc(classes)

network vgg16 : 3x224x224 =
    stage(64, 2) -> stage(128, 2) -> stage(256, 3) -> stage(512, 3) -> stage(512, 3)
    -> classifier
network vgg16_bn : 3x224x224 =
    stage(64, 2, norm=bn) -> stage(128, 2, norm=bn) -> stage(256, 3, norm=bn)
    -> stage(512, 3, norm=bn) -> stage(512, 3, norm=bn) -> classifier
"""

ISSUE_RESNET = """
# specs/resnet.arch - ResNet (He et al., 2015) as torchvision builds it
block cbn(c, k=3, s=1) = conv(c, k=k, stride=s, bias=false) -> bn
block basic(c, s=1) = residual(cbn(c, 3, s) -> relu -> cbn(c, 3)) -> relu
block bottleneck(c, s=1) =
    residual(cbn(c, 1) -> relu -> cbn(c, 3, s) -> relu -> cbn(4*c, 1)) -> relu
block stem = cbn(64, 7, 2) -> relu -> maxpool3x3(stride=2, pad=1)
block head(classes=1000) = globalavgpool -> flatten -> fc(classes)

network resnet50 : 3x224x224 =
    stem
    -> bottleneck(64) * 3
    -> bottleneck(128, 2) -> bottleneck(128) * 3
    -> bottleneck(256, 2) -> bottleneck(256) * 5
    -> bottleneck(512, 2) -> bottleneck(512) * 2
    -> head
"""


def test_the_issue_examples_work_verbatim():
    """The language surface promised to users: the examples as the design issue wrote them."""
    vgg = archlang.parse(ISSUE_VGG, "vgg.arch")
    assert vgg.network("vgg16").total_params == 138_357_544
    assert vgg.network("vgg16_bn").total_params == 138_365_992
    resnet = archlang.parse(ISSUE_RESNET, "resnet.arch").network("resnet50")
    assert (resnet.total_params, resnet.total_macs) == (25_557_032, 4_089_184_256)
    lenet = archlang.parse((specs_dir() / "lenet.arch").read_text()).network("lenet5")
    assert lenet.total_params == 61_706
