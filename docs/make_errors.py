"""Generate docs/errors.md: every kind of error, with a spec that causes it, the message
`archlang check` prints, and the fix. tests/test_docs.py renders every example again and
fails if the page differs. Run: .venv/bin/python docs/make_errors.py
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

import archlang

PAGE = Path(__file__).resolve().parent / "errors.md"

# (section, title, {file name: text}, fix); the first file is the one checked
EXAMPLES = [
    ("Syntax", "Layers not joined", {"net.arch": "network net : 3x32x32 =\n    conv3x3(16) relu\n"},
     "Join layers with `->`: `conv3x3(16) -> relu`."),
    ("Syntax", "An unfinished chain", {"net.arch": "network net : 3x32x32 = conv3x3(16) ->\n"},
     "Finish the chain, or remove the trailing `->`."),
    ("Syntax", "A missing input shape", {"net.arch": "network net = conv3x3(16)\n"},
     "Give the input shape without the batch: `network net : 3x32x32 = ...`."),
    ("Syntax", "Arguments without a comma", {"net.arch": "network net : 3x32x32 = conv(16 3)\n"},
     "Separate arguments with commas: `conv(16, k=3)`."),
    ("Syntax", "A character the language does not use", {"net.arch": "network net : 3x32x32 = conv3x3(16) → relu\n"},
     "Write `->` in ASCII; other characters may appear only in `#` comments."),
    ("Syntax", "A positional argument after a keyword", {"net.arch": "network net : 3x32x32 = conv(k=3, 16)\n"},
     "Put positional arguments first: `conv(16, k=3)`."),
    ("Names", "An unknown layer", {"net.arch": "network net : 3x32x32 = conv3x3(16) -> rleu\n"},
     "Use the suggested name, or define a block with that name."),
    ("Names", "A keyword as a name", {"net.arch": "block use = relu\n"},
     "`network`, `block`, `use`, `true` and `false` are keywords: choose another name."),
    ("Arguments", "An unknown argument", {"net.arch": "network net : 3x32x32 = conv3x3(16, strides=2)\n"},
     "Use the suggested argument; the hint lists every argument of the layer."),
    ("Arguments", "A wrong type", {"net.arch": "network net : 3x32x32 = conv3x3(16, bias=1)\n"},
     "`bias` takes `true` or `false`."),
    ("Arguments", "A missing argument", {"net.arch": "block stage(c, n) = conv3x3(c) * n -> maxpool\nnetwork net : 3x32x32 = stage(64)\n"},
     "Pass every parameter without a default: `stage(64, 2)`, or give `n` a default."),
    ("Arguments", "Too many arguments", {"net.arch": "block stage(c) = conv3x3(c) -> relu\nnetwork net : 3x32x32 = stage(64, 2)\n"},
     "Pass as many arguments as the block has parameters."),
    ("Arguments", "A kernel size given twice", {"net.arch": "network net : 3x32x32 = conv3x3(16, k=5)\n"},
     "Keep one: `conv5x5(16)` or `conv(16, k=5)`."),
    ("Arguments", "A negative repeat count", {"net.arch": "block b(n) = conv3x3 * (n - 2)\nnetwork net : 3x32x32 = b(1)\n"},
     "Repeat counts must be 0 or more; `* 0` leaves the input unchanged."),
    ("Arguments", "Groups that do not divide the channels", {"net.arch": "network net : 3x32x32 = conv3x3(16, groups=4)\n"},
     "Choose a number of groups that divides both channel counts."),
    ("Shapes", "A kernel larger than its input", {"net.arch": "network net : 1x12x12 =\n    conv5x5(6, pad=0) -> relu -> maxpool\n    -> conv5x5(16, pad=0)\n"},
     "The formula shows where the size ran out: pad the convolution (`conv5x5(16)` pads 2), use a smaller kernel, or pool less."),
    ("Shapes", "A kernel suffix of the wrong rank", {"net.arch": "network audio : 1x16000 = conv3x3(32)\n"},
     "Write one size per spatial axis of the input (`conv3`), or one size for every axis."),
    ("Shapes", "fc on an unflattened input", {"net.arch": "network net : 3x32x32 = conv3x3(16) -> fc(10)\n"},
     "Add `flatten` (or `globalavgpool -> flatten`) before `fc`."),
    ("Shapes", "Branches of add that disagree", {"net.arch": "network net : 3x32x32 = add(conv3x3(16) | conv3x3(32, stride=2))\n"},
     "Make both branches produce the same shape; a `conv1x1` can change the channels and a stride the size."),
    ("Shapes", "Branches of concat with different sizes", {"net.arch": "network net : 3x32x32 = concat(conv3x3(8) | maxpool)\n"},
     "concat stacks channels, so every branch must keep the same spatial size."),
    ("Shapes", "A residual whose shortcut cannot be derived", {"net.arch": "network net : 16 = residual(fc(32))\n"},
     "Give the shortcut: `residual(fc(32), shortcut=fc(32))`."),
    ("Definitions", "A recursive block", {"net.arch": "block a = relu -> b\nblock b = a\nnetwork net : 3x32x32 = a\n"},
     "Blocks cannot call themselves; repeat with `* n` instead."),
    ("Definitions", "A name defined twice", {"net.arch": "block unit = conv3x3 -> relu\nblock unit = conv3x3 -> bn -> relu\n"},
     "Rename one of them; names are unique across a file and everything it uses."),
    ("Definitions", "A block named like a built-in layer", {"net.arch": "block relu = conv3x3 -> bn\n"},
     "Choose another name; `conv3x3`-style names may be redefined, built-in names may not."),
    ("Definitions", "A network used as a layer", {"net.arch": "network small : 3x32x32 = conv3x3 -> relu\nnetwork big : 3x32x32 = small -> small\n"},
     "Move the shared part into a block and call the block from both networks."),
    ("Imports", "A missing file", {"net.arch": 'use "blocks.arch"\nnetwork net : 3x32x32 = unit(16)\n'},
     "Check the path; it is relative to the file that has the `use`."),
    ("Imports", "An import cycle", {"a.arch": 'use "b.arch"\nblock unit = relu\n', "b.arch": 'use "a.arch"\n'},
     "Move what both files need into a third file that both use."),
    ("Imports", "A file that is not a spec", {"net.arch": 'use "notes.txt"\n'},
     "`use` reads only `.arch` files."),
    ("Limits", "A huge repeat count", {"net.arch": "network net : 3x32x32 = conv3x3 * 10**9\n"},
     "Limits keep analysis fast and small (see the language reference); a repeat count is at most 100,000."),
    ("Limits", "A huge number", {"net.arch": "network net : 3x32x32 = conv3x3(10**30)\n"},
     "Numbers are 64-bit integers; sizes must fit in 32 bits."),
    ("Limits", "Parentheses nested too deep", {"net.arch": "network net : 3 = " + "(" * 65 + "relu" + ")" * 65 + "\n"},
     "Flatten the nesting: a chain needs no parentheses around each step."),
    ("Constraints", "A shape assertion that does not hold", {"net.arch": "network lenet : 1x32x32 =\n    conv5x5(6) : 6@28x28 -> tanh\n"},
     "The note shows the layer that made the shape: here conv5x5 pads by 2 by default; `conv5x5(6, pad=0)` gives 28x28."),
    ("Constraints", "An output declaration that does not hold", {"net.arch": "network net : 3x32x32 -> 10 =\n    conv3x3(16) -> globalavgpool -> flatten -> fc(100)\n"},
     "Make the last layer give the declared shape (`fc(10)`), or declare what it gives."),
    ("Constraints", "Outputs declared and given in different numbers", {"net.arch": "network net : 3x32x32 -> (16x32x32, 10) =\n    conv3x3(16)\n"},
     "Declare one shape per output, in the order the body gives them."),
    ("Constraints", "A budget that is not met", {"net.arch": "network net : 3x32x32 =\n    conv3x3(64) -> conv3x3(64) -> flatten -> fc(10)\n    where params <= 500k\n"},
     "The message says by how much; `archlang check` shows which layers hold the parameters (here the fc)."),
    ("Constraints", "A budget on something archlang does not count", {"net.arch": "network net : 3x32x32 = conv3x3(16) where flops <= 1G\n"},
     "Bound `params` or `macs` (FLOPs are usually counted as 2 x MACs)."),
    ("Constraints", "Holes with several solutions", {"net.arch": "network net : 1x32x32 = conv(6, k=?, pad=?) : 6@28x28\n"},
     "Run `archlang solve` to see them ranked and pick one (`-o` writes the first in), or assert more shapes."),
    ("Constraints", "Holes that no value fits", {"net.arch": "network net : 1x32x32 = conv5x5(6, pad=?) : 6@27x27\n"},
     "The shapes listed are every one the holes can give there: change the assertion or the layer."),
    ("Constraints", "A hole where the layer takes no whole number", {"net.arch": "network net : 3x32x32 = conv3x3(16) -> dropout(?)\n"},
     "Holes stand for integers: channels, kernel, stride, padding, dilation, groups, widths, repeat counts."),
    ("Constraints", "Input sizes left open", {"net.arch": "network unet : 3x?x? = conv3x3(16)\n"},
     "Write the sizes to check, or ask which sizes the network accepts."),
    ("Sequences", "A sequence fed to a convolution", {"net.arch": "network net : [196]x768 = conv3x3(64)\n"},
     "A token sequence is tokens x features; lay it out as a map first (`grid(14, 14) -> conv3x3(64)`)."),
    ("Sequences", "Heads that do not divide the features", {"net.arch": "network net : [197]x768 = attention(10)\n"},
     "Each head takes D / heads features: ViT-B and GPT-2 use 12 heads of 64."),
    ("Sequences", "A sequence longer than its position table", {"net.arch": "network net : [1024] =\n    embed(50257, 768) -> posembed(512)\n"},
     "Give the table as many positions as the longest sequence (`posembed(1024)`), or shorten the input."),
    ("Sequences", "Token indices fed to a layer other than an embedding", {"net.arch": "network net : [128] = fc(64)\n"},
     "Indices are integers; `embed(vocab, dim)` turns them into vectors."),
    ("Sequences", "A tied layer whose weight does not fit", {"net.arch": "network net : [16] =\n    embed(1000, 64) as wte -> fc(500, tie=wte)\n"},
     "A tied output layer maps the embedding's width back to its whole vocabulary: `fc(1000, tie=wte)`."),
    ("Sequences", "A recurrent layer on a feature map", {"net.arch": "network net : 3x32x32 = lstm(64)\n"},
     "LSTM and GRU read token sequences: `tokens` turns a map into one (a position per token)."),
]


@contextlib.contextmanager
def _inside(folder: str):
    old = os.getcwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(old)


def error_of(files: dict[str, str]) -> archlang.ArchError:
    """The error `archlang check` reports for the first file, run where the files are."""
    with tempfile.TemporaryDirectory() as tmp, _inside(tmp):
        for name, text in files.items():
            Path(name).write_text(text, encoding="utf-8")
        first = next(iter(files))
        try:
            program = archlang.load(first)
            for name in program.networks:
                program.network(name, solve=True)
        except archlang.ArchError as err:
            err.render()  # while the files exist
            return err
    raise AssertionError(f"example {first} raised no error")


def render(files: dict[str, str]) -> str:
    """What `archlang check` prints on stderr for the first file."""
    return error_of(files).render()


def page() -> str:
    out = [
        "# Errors",
        "",
        "Every error archlang reports about a spec names the file, line and column, shows the line",
        "with a caret under the place, says what is wrong and, where it can, how to fix it. This",
        "page shows each kind with a spec that causes it, the message `archlang check` prints, and",
        "the fix. It is generated by `docs/make_errors.py`, and a test checks that every message",
        "here is the one archlang prints today.",
        "",
        "`archlang check`, `compile`, `render` and `bench` exit with 1 on an error in a spec and 2",
        "on a usage error (a missing file on the command line, an unknown network, an unknown",
        "output format). Messages go to stderr; with `--json`, stdout carries",
        '`{"errors": [{"file", "line", "column", "end_line", "end_column", "kind", "message",',
        '"detail", "hint", "notes"}]}` instead, so editors and scripts can place them.',
        "",
    ]
    section = None
    for sec, title, files, fix in EXAMPLES:
        if sec != section:
            out += [f"## {sec}", ""]
            section = sec
        out += [f"### {title}", ""]
        for name, text in files.items():
            if len(files) > 1:
                out.append(f"`{name}`:")
                out.append("")
            out += ["```", text.rstrip("\n"), "```", ""]
        out += ["```", render(files), "```", "", f"**Fix:** {fix}", ""]
    out += [
        "## Outside specs",
        "",
        "- **Weights that do not fit** (`archlang.load_weights`): the error names the first pair of",
        "  tensors that differ, with both names and shapes, and nothing is copied.",
        "- **Graphviz missing** (`archlang render` to .svg, .png or .pdf): one line saying how to",
        "  install it (`sudo apt-get install graphviz`); `.dot` output needs nothing.",
        "- **Outputs**: compile and render refuse to write over the input spec or to a folder that",
        "  does not exist (exit 2), and write atomically, so a failure leaves no partial file.",
        "",
    ]
    return "\n".join(out)


if __name__ == "__main__":
    from archlang.output import write_atomic

    write_atomic(PAGE, page())
    print(f"wrote {PAGE.relative_to(Path.cwd()) if PAGE.is_relative_to(Path.cwd()) else PAGE}")
