"""One network's analysis for the language server: lowered and analysed with its failed
assertions and budgets kept as errors (the rest of the network is still analysed, so hovers
and inlay hints work on a network whose assertion fails); an input with open sizes is a
warning (`archlang sizes` is for it); holes are solved by a bounded search, and a network
whose holes have one solution is analysed with it, as `archlang check` does."""

from __future__ import annotations

from pathlib import Path

from .. import syntax as S
from ..errors import ArchError, ShapeError, Source
from ..lower import Limits, lower_network
from ..network import Network
from ..program import Program
from .analysis import NetResult, Snapshot, walk

__all__ = ["analyse_network", "SOLVE_LIMIT", "SOLVE_TRIES"]

SOLVE_LIMIT = 50  # solutions a network with holes is searched for (enough to say how many, roughly)
SOLVE_TRIES = 50_000  # the solver's effort per network (about 1 s at worst), not its default 200,000


def analyse_network(result: NetResult, snap: Snapshot, limits: Limits) -> None:
    """Lower and analyse one network into `result`: failed assertions and budgets are kept as
    errors while the rest of the network is still analysed; holes are solved (a bounded
    search) and a network whose holes have one solution is analysed with it."""
    from ..analysis.budgets import check_budgets, check_names
    from ..lower.holes import Assignment, UnsolvedHole

    item = result.item
    for decl in item.inputs:
        shape = decl.shape
        if shape.open and shape.dims[0] is not None:  # written to be swept, not a mistake: a warning
            result.warnings.append(ShapeError(
                f"the input's sizes are open ({shape.text()}): `archlang sizes` lists the sizes {item.name} "
                "takes; analysing it needs them written in", shape.span,
                hint="write sizes to analyse, such as " + "x".join(str(d or 64) for d in shape.dims)))
            return
    try:
        check_names(item.budgets)
        failed: list = []
        network = Network(lower_network(item, snap.defs, limits, failed=failed))
    except UnsolvedHole:
        network, failed = _solve(result, snap, limits, Assignment)
    except ArchError as err:
        result.errors.append(err)
        return
    if network is None:
        return
    result.network = network
    result.errors.extend(failed)
    try:
        check_budgets(item.budgets, {"params": network.total_params, "macs": network.total_macs}, item.name)
    except ArchError as err:
        result.errors.append(err)


def _solve(result: NetResult, snap: Snapshot, limits: Limits, assignment):
    from ..solver import Domains, NoSolution, solve

    item = result.item
    module = S.Module(Source(snap.name, ""), tuple(snap.items))
    program = Program(module, snap.defs, (item.name,), None, limits)
    try:
        solved = solve(program, item.name, SOLVE_LIMIT, Domains(max_tries=SOLVE_TRIES))
    except ArchError as err:
        result.errors.append(err)
        return None, []
    result.solved = solved
    if len(solved.solutions) > 1:
        count = f"{len(solved.solutions):,}" if solved.complete else f"at least {len(solved.solutions):,}"
        first = next((n for n in walk(item) if isinstance(n, S.Hole)), None)
        result.warnings.append(NoSolution(
            f"the holes of network {item.name} have {count} solutions; analysing it needs one",
            first.span if first is not None else item.name_span,
            hint=f"`archlang solve {Path(snap.name).name} -n {item.name}` lists them ranked, and -o writes the "
            "first into a copy of the spec; "
            "or add an assertion that picks one (hover a hole for its values)"))
        return None, []
    failed: list = []
    try:
        network = Network(lower_network(item, snap.defs, limits, assignment(dict(solved.solutions[0])),
                                        failed=failed))
    except ArchError as err:
        result.errors.append(err)
        return None, []
    return network, failed
