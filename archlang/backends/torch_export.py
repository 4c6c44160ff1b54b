"""Backend: an IR graph -> a saved torch.export program (.pt2), batch size dynamic."""

from __future__ import annotations

from pathlib import Path

import torch

from ..ir import Graph
from .torch_module import build_module, example_input
from .torch_plan import argument_name

__all__ = ["export_program"]


def export_program(graph: Graph, path: str | Path, seed: int | None = None) -> None:
    module = build_module(graph, seed=seed).eval()
    examples = tuple(example_input(n.type, 2, random=False) for n in graph.inputs)
    batch = torch.export.Dim("batch", min=1, max=65536)
    dynamic = {argument_name(graph, n.name): {0: batch} for n in graph.inputs}
    program = torch.export.export(module, examples, dynamic_shapes=dynamic)
    torch.export.save(program, str(path))
