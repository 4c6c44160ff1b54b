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
    }


def test_names_are_unique_across_files():
    seen = {}
    for path in sorted(specs_dir().glob("*.arch")):
        program = archlang.load(path)
        for name in (*program.networks, *program.blocks):
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
