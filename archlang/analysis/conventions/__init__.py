"""The conventions that reproduce other tools' figures, one module a tool: what the tool
counts for each kind of layer of the module `archlang.build` makes, its quirks documented
with the reason. Importing them imports none of the tools (tests run the tools themselves)."""

from . import torch_flops, fvcore, ptflops, thop  # noqa: F401  (each registers its Convention)
