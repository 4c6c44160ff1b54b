"""The `archlang import` command: an ONNX file -> a formatted .arch spec (and its weights).

    archlang import resnet50.onnx -o resnet50.arch [--name NAME] [--input-shape 3x224x224]
                                  [--weights resnet50.pt]

Nothing is written unless the whole import succeeds; the spec and the weights are each
written atomically. Torch modules are imported in Python (`archlang.from_torch`).
"""

from __future__ import annotations

__all__ = ["add_command"]


def add_command(sub) -> None:
    imp = sub.add_parser(
        "import",
        help="read an ONNX model back as a .arch spec, with its blocks and repeats (and its weights)",
        description="Import an ONNX file as the spec a person would write: each node as an archlang layer, "
        "repeated structure as blocks with parameters and `* n` repeats, residual adds as residual(...). The "
        "spec is checked against the file node for node before it is written. With --weights, the file's "
        "initializers are saved as a state dict for archlang.build(SPEC) (torch.save format). Torch modules: "
        "use archlang.from_torch(module, input_shape) in Python.",
    )
    imp.add_argument("model", metavar="MODEL", help="an .onnx file")
    imp.add_argument("-o", "--output", metavar="OUT", required=True, help="the spec to write (.arch)")
    imp.add_argument("--name", metavar="NAME", help="the network's name (default: the file's stem)")
    imp.add_argument("--input-shape", metavar="SHAPE", help="the input's size without the batch, as 3x224x224, "
                     "where the file's is dynamic (or to import at another size); [197]x768 for a token sequence "
                     "(an N x L x D input is otherwise a 1D map), [1024] for token ids")
    imp.add_argument("--weights", metavar="FILE", help="also write the weights, keyed by the spec's layer names (.pt)")
    imp.set_defaults(run=_run, json=False)


def _run(args) -> int:
    from pathlib import Path

    from .cli import EXIT_OK, UsageError, _print_stdout
    from .output import OutputError, check_output, shown_path, write_atomic

    if not str(args.output).endswith(".arch"):
        raise UsageError(f"the output {shown_path(args.output)} must be a .arch file")
    outputs = [args.output] + ([args.weights] if args.weights else [])
    if args.weights and not str(args.weights).endswith((".pt", ".pth")):
        raise UsageError(f"--weights {shown_path(args.weights)} must be a .pt file (torch.save's format)")
    try:
        for out in outputs:
            check_output(out, inputs=[args.model], writes_spec=out == args.output)
    except OutputError as err:
        raise UsageError(str(err)) from None
    if args.name is not None and not args.name.isidentifier():
        raise UsageError(f"--name {args.name!r} is not a name (letters, digits and _, not starting with a digit)")
    from .extras import require

    require("onnx", "numpy", job="import")
    if args.weights:
        require("torch", job="import --weights")
    from .importer import from_onnx

    imported = from_onnx(args.model, name=args.name, input_shape=args.input_shape)
    state = imported.state_dict() if args.weights else None
    write_atomic(args.output, imported.text, inputs=[args.model], writes_spec=True)
    net = imported.network
    blocks = [line.split()[1].split("(")[0] for line in imported.text.splitlines() if line.startswith("block ")]
    how = (f"{len(blocks)} block{'s' if len(blocks) != 1 else ''} ({', '.join(blocks)})" if blocks
           else "no blocks") if imported.structured else "named values (the graph is not a tree of branches)"
    lines = [f"wrote {shown_path(args.output)}: network {net.name}, {imported.lines} lines, {how}; "
             f"{len(net.graph.layers)} layers, {net.total_params:,} params, {net.total_macs:,} MACs"]
    if args.weights:
        import torch

        write_atomic(args.weights, lambda path: torch.save(state, path), inputs=[args.model])
        lines.append(f"wrote {shown_path(args.weights)}: {len(state)} tensors for archlang.build("
                     f"{str(Path(args.output))!r}) (load with archlang.load_weights)")
    _print_stdout("\n".join(lines))
    return EXIT_OK
