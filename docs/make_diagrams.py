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
}


def expected(name: str, fmt: str) -> bytes:
    network, options = DIAGRAMS[name]
    return render_bytes(archlang.load(network).network().graph, fmt, options)


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
