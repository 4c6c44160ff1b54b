"""Stage 5: backends, thin walkers over the IR that ask each op for its lowering.

torch_module (nn.Module via torch.fx), torch_weights (load_weights), python_source (a
standalone .py file). Each imports its framework itself, so `check` never pays for it.
"""
