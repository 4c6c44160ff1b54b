"""Stage 5: backends, thin walkers over the IR graph that ask each op for its lowering.

    torch_plan       what the torch backends decide from the IR alone (in place, module specs)
    torch_module     an nn.Module (a torch.fx GraphModule); `device="meta"` for shapes only
    torch_weights    load_weights: copy a checkpoint by order and shape, all checked first
    torch_export     a torch.export program (.pt2)
    python_source    a standalone .py file, one nn.Module class per network
    initial_weights  the ops' initialisation rules drawn with numpy (for ONNX, without torch)
    onnx_model       an ONNX model (weights in the file, or external data above 2 GiB)
    dot              a Graphviz diagram (DOT; SVG, PNG, PDF through `dot`)

Each imports its framework itself, so `check` never pays for it.
"""
