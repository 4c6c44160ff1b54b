"""archlang: a declarative language and compiler for neural-network architectures.

    program = archlang.load("resnet50")        # a path, or a bundled network's name
    net = program.network("resnet50")
    net.total_params, net.total_macs, net.layers
"""

from .errors import ArchError, Span
from .ir import Graph, Node, Scope, TensorType
from .lower import Limits
from .program import LayerInfo, Network, Program, bundled_networks, load, parse

__all__ = [
    # reading specs
    "parse", "load", "bundled_networks", "Program", "Limits",
    # analysed networks
    "Network", "LayerInfo",
    # the IR
    "Graph", "Node", "Scope", "TensorType",
    # errors
    "ArchError", "Span",
]

__version__ = "0.1.0"
