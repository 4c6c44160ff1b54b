"""`archlang lsp`: a Language Server Protocol server for .arch specs, over stdio.

    analysis.py   one document's analysis, protocol-free: definitions split and parsed one by
                  one (so one broken definition hides nothing else), each network analysed on
                  its own and again only when its text or a block it reaches changes, `use`
                  confined to the workspace
    networks.py   one network's analysis: failed assertions kept, holes solved (bounded)
    features.py   what the editor asks for, in archlang's terms: hovers, definitions,
                  references, symbols, inlay hints
    complete.py   completion, read from the text as it is being typed
    server.py     the pygls server: the protocol, positions (UTF-16), debouncing
    rpc.py        the stdio loop: JSON-RPC framing that answers malformed input with errors
    cli.py        `archlang lsp` (add_command) and `python -m archlang.lsp`

Only server.py and rpc.py import pygls (the `lsp` extra), and only when the server starts:
importing this package or registering the command costs nothing.
"""
