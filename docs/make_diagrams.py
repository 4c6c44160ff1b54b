"""Regenerate the diagrams in docs/diagrams/ (`make diagrams`): each as SVG (embedded in the
README) and as its DOT source. tests/test_dot.py fails when a committed DOT source differs
from what this script would write now (DOT does not depend on the Graphviz version; the SVG
is checked for the same boxes and texts)."""

from __future__ import annotations

import sys
from pathlib import Path

import archlang
from archlang.backends.dot import DiagramOptions, render_bytes

HERE = Path(__file__).resolve().parent / "diagrams"

# file name -> (bundled network, options)
DIAGRAMS = {
    "lenet5": ("lenet5", DiagramOptions()),
    "vgg16": ("vgg16", DiagramOptions()),
    "resnet18_collapsed": ("resnet18", DiagramOptions(collapse=True)),
    "resnet50_collapsed_folded": ("resnet50", DiagramOptions(collapse=True, fold=True)),
    "googlenet_folded": ("googlenet", DiagramOptions(collapse=True, fold=True)),
    "unet_collapsed": ("unet", DiagramOptions(collapse=True)),
    "densenet121_folded": ("densenet121", DiagramOptions(collapse=True, fold=True)),
    "mobilenet_v3_large_folded": ("mobilenet_v3_large", DiagramOptions(collapse=True, fold=True)),
    "deeplabv3_folded": ("deeplabv3_resnet50", DiagramOptions(collapse=True, fold=True)),
    "vit_b_16_collapsed": ("vit_b_16", DiagramOptions(collapse=True)),
    "gpt2_collapsed": ("gpt2", DiagramOptions(collapse=True)),
    "vit_two_blocks": ("vit_two_blocks", DiagramOptions()),
}

# networks drawn that the library does not bundle: ViT-B/16 with two of its twelve blocks, to
# show the blocks themselves (the residual stream straight down, each branch beside it)
SPECS = {"vit_two_blocks": 'use "vit"\nnetwork vit_two_blocks : 3x224x224 -> 1000 = vit(16, 768, 2, 12, 3072)\n'}


def expected(name: str, fmt: str) -> bytes:
    network, options = DIAGRAMS[name]
    program = archlang.parse(SPECS[network]) if network in SPECS else archlang.load(network)
    return render_bytes(program.network(network).graph, fmt, options)


def main() -> None:
    from archlang.output import write_atomic

    HERE.mkdir(exist_ok=True)
    formats = sys.argv[1:] or ["svg", "dot"]
    for name in DIAGRAMS:
        for fmt in formats:
            write_atomic(HERE / f"{name}.{fmt}", expected(name, fmt))
            print(f"wrote docs/diagrams/{name}.{fmt}")


if __name__ == "__main__":
    main()
