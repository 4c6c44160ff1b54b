"""The docs tell the truth: README output is what the command prints, the language
reference covers every op of the registry."""

import re
from pathlib import Path

import archlang
from archlang.cli import main
from archlang.ops import REGISTRY

ROOT = Path(__file__).resolve().parents[1]


def _strip(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.strip().splitlines())


def test_readme_check_output_is_current(capsys):
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"<!-- check-lenet5 -->\n```\n\$ archlang check lenet5\n(.*?)```", readme, re.S).group(1)
    assert main(["check", "lenet5"]) == 0
    assert _strip(block) == _strip(capsys.readouterr().out)


def test_readme_error_example_is_current(tmp_path, capsys, monkeypatch):
    readme = (ROOT / "README.md").read_text()
    shown = re.search(r"\$ archlang check lenet_typo.arch\n(.*?)```", readme, re.S).group(1)
    monkeypatch.chdir(tmp_path)
    Path("lenet_typo.arch").write_text(
        "network lenet_typo : 1x12x12 =\n    conv5x5(6, pad=0) -> relu -> maxpool\n    -> conv5x5(16, pad=0)\n"
    )
    assert main(["check", "lenet_typo.arch"]) == 1
    assert _strip(shown) == _strip(capsys.readouterr().err)


def test_language_reference_covers_every_op():
    doc = (ROOT / "docs" / "language.md").read_text()
    doc = doc[doc.index("### Reference") : doc.index("## Layer names")]
    rows = set(re.findall(r"^\| `(\w+)`(?: \(`(\w+)`\))? \|", doc, re.M))
    documented = {name for row in rows for name in row if name}
    assert documented == set(REGISTRY)


def test_error_catalogue_is_current():
    """docs/errors.md shows, for every kind of error, the message archlang prints today."""
    import sys

    import archlang.errors as E

    sys.path.insert(0, str(ROOT / "docs"))
    import make_errors

    assert (ROOT / "docs" / "errors.md").read_text() == make_errors.page(), "run .venv/bin/python docs/make_errors.py"
    errors = [make_errors.error_of(files) for _, _, files, _ in make_errors.EXAMPLES]
    assert all(err.span is not None for err in errors)  # file:line:col on every message
    from archlang.analysis.budgets import BudgetError
    from archlang.solver import NoSolution

    spec_kinds = {cls.kind for cls in (E.ArchSyntaxError, E.UnknownNameError, E.ArgumentError, E.ShapeError,
                                       E.DefinitionError, E.SpecImportError, E.LimitError, BudgetError, NoSolution)}
    assert {err.kind for err in errors} == spec_kinds


def test_readme_sequence_snippet_is_vit_b_16_and_gpt2():
    """The README's tour of sequences: its ViT and GPT have vit_b_16's and gpt2's figures."""
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("### Sequences and attention"):]
    program = archlang.parse(re.search(r"```\n(.*?)```", section, re.S).group(1))
    for name, bundled in (("vit", "vit_b_16"), ("gpt", "gpt2")):
        net, reference = program.network(name), archlang.load(bundled).network()
        assert (net.total_params, net.total_macs) == (reference.total_params, reference.total_macs)


def test_readme_first_snippet_runs_as_written(tmp_path, capsys, monkeypatch):
    """The README opens with a spec; saved as it says, it checks and has VGG-16's parameters."""
    readme = (ROOT / "README.md").read_text()
    first = re.search(r"```\n(.*?)```", readme, re.S).group(1)
    monkeypatch.chdir(tmp_path)
    Path("my_vgg16.arch").write_text(first)
    assert main(["check", "my_vgg16.arch", "--json"]) == 0
    import json

    assert json.loads(capsys.readouterr().out)["total_params"] == 138_357_544


def test_readme_by_op_table_is_current(capsys):
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"<!-- by-op-resnet18 -->\n```\n\$ archlang check resnet18 --by-op\n(.*?)```", readme,
                      re.S).group(1)
    assert main(["check", "resnet18", "--by-op"]) == 0
    assert _strip(block) == _strip(capsys.readouterr().out)
