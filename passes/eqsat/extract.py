"""DAG-aware extraction: choose one e-node per needed e-class so the program is cheapest.

The cost of a program is the sum of the costs of its distinct e-nodes: a value used twice is
paid once. egglog's built-in extractor sums over trees instead, so extraction happens here, on
the exported e-graph, independent of egglog:

- `greedy_dag`: always runs. E-classes are settled cheapest first (Dijkstra order); an e-node's
  cost is the cost of the union of the e-nodes it needs, so sharing inside a term is seen. It
  is exact on trees and never builds a cycle. Ties are broken by the number of e-nodes.
- `ilp_dag`: exact, with scipy's HiGHS (`scipy.optimize.milp`), when the e-graph is small
  enough, under a time limit. Variables: one binary per e-node; constraints: each root has a
  chosen e-node, a chosen e-node's operand e-classes have chosen e-nodes, at most one per
  e-class, and, inside each cycle of the e-class graph, topological-order variables that forbid
  choosing a cycle. On timeout (or any failure) the greedy result stands.
- `tree_exact`: whether no program of the e-graph can use a costly e-class twice (the
  operands of every e-node, and the roots, reach disjoint costly e-classes). Then every
  program is a tree, the DAG cost is the tree cost, greedy is exact, and the ILP is skipped:
  matrix chains and einsum networks without repeated operands are like this.
- `count_programs`: how many distinct programs (one term per output) the e-graph represents,
  as an exact integer; None when a cycle is reachable (infinitely many).

`extract` runs them in that order under an optional time budget (budget.py): greedy always,
the exactness check and the ILP only in the time left after what the caller keeps back.
Greedy's selections are copied whole from the largest operand's (a C-level dict copy), so on
deep programs such as long matrix chains it costs about 25-35 us per e-node.
"""

from __future__ import annotations

import heapq
import sys
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Mapping, Sequence

import numpy as np

if TYPE_CHECKING:
    from mirage_mlir.passes.eqsat.budget import Budget

#: Below this many seconds the ILP is not started: HiGHS' set-up alone takes about as long.
_ILP_MIN_SECONDS = 0.01

#: Seconds the first `import scipy.optimize` of a process takes (0.25 s measured).
_SCIPY_IMPORT_SECONDS = 0.3


@dataclass(frozen=True)
class Candidate:
    """An e-node as extraction sees it: its e-class, its own cost, its operand e-classes."""

    key: str
    eclass: str
    cost: float
    children: tuple[str, ...]


@dataclass(frozen=True)
class Problem:
    """E-classes with their candidate e-nodes, and the root e-classes to extract."""

    classes: Mapping[str, Sequence[Candidate]]
    roots: tuple[str, ...]


@dataclass(frozen=True)
class Extraction:
    """The chosen e-node per needed e-class, its DAG cost, and how it was found.

    method is "ilp" when the ILP proved its choice optimal, otherwise "greedy"; ilp_status says
    why the ILP did not decide ("skipped: ...", "timeout", "failed: ...") or "optimal".
    optimal says the choice is proven cheapest (by the ILP, or because greedy is exact here).
    """

    choice: dict[str, Candidate]
    cost: float
    method: str
    ilp_status: str
    optimal: bool
    seconds: float


def reachable(problem: Problem) -> list[str]:
    """E-classes reachable from the roots through any candidate."""
    seen: dict[str, None] = {}
    stack = list(problem.roots)
    while stack:
        eclass = stack.pop()
        if eclass in seen:
            continue
        seen[eclass] = None
        for cand in problem.classes[eclass]:
            stack.extend(c for c in cand.children if c not in seen)
    return list(seen)


def class_edges(problem: Problem, classes: list[str]) -> dict[str, set[str]]:
    """For each e-class, the e-classes its e-nodes use as operands."""
    return {
        c: {k for cand in problem.classes[c] for k in cand.children} for c in classes
    }


def dag_cost(choice: Mapping[str, Candidate], roots: Sequence[str]) -> float:
    """The cost of the program `choice` selects for `roots`: each needed e-node once."""
    needed = needed_classes(choice, roots)
    return sum(choice[c].cost for c in needed)


def needed_classes(choice: Mapping[str, Candidate], roots: Sequence[str]) -> list[str]:
    """The e-classes the chosen program uses; raises ValueError on a cycle or a gap."""
    state: dict[str, int] = {}  # 1 open, 2 done
    order: list[str] = []
    for root in roots:
        stack = [(root, False)]
        while stack:
            eclass, expanded = stack.pop()
            if expanded:
                state[eclass] = 2
                order.append(eclass)
                continue
            if state.get(eclass) == 2:
                continue
            if state.get(eclass) == 1:
                raise ValueError(f"the choice has a cycle through e-class {eclass}")
            if eclass not in choice:
                raise ValueError(
                    f"the choice has no e-node for needed e-class {eclass}"
                )
            state[eclass] = 1
            stack.append((eclass, True))
            stack.extend(
                (c, False) for c in choice[eclass].children if state.get(c) != 2
            )
    return order


# --------------------------------------------------------------------------------------------
# Greedy


def greedy_dag(problem: Problem) -> dict[str, Candidate]:
    """Greedy DAG extraction in Dijkstra order (see the module docstring)."""
    classes = reachable(problem)
    users: dict[str, list[Candidate]] = {}
    waiting: dict[str, int] = {}
    heap: list[tuple[float, int, int, Candidate, dict[str, Candidate]]] = []
    counter = 0

    def push(cand: Candidate, chosen: dict[str, Candidate], total: float) -> None:
        nonlocal counter
        heapq.heappush(heap, (total, len(chosen), counter, cand, chosen))
        counter += 1

    for eclass in classes:
        for cand in problem.classes[eclass]:
            kids = set(cand.children)
            waiting[cand.key] = len(kids)
            for kid in kids:
                users.setdefault(kid, []).append(cand)
            if not kids:
                push(cand, {eclass: cand}, 0.0 + cand.cost)

    # A settled e-class's selection (closed under operands) and its cost, summed in the
    # selection's insertion order.
    best: dict[str, tuple[dict[str, Candidate], float]] = {}
    while heap:
        total, _, _, cand, chosen = heapq.heappop(heap)
        if cand.eclass in best:
            continue
        best[cand.eclass] = (chosen, total)
        for user in users.get(cand.eclass, ()):
            waiting[user.key] -= 1
            if waiting[user.key] or user.eclass in best:
                continue
            # Every operand e-class is settled: the union of their selections plus this node.
            # Settled selections never contain an unsettled e-class, so no cycle can form.
            # Largest selection first (copied whole: on deep programs it is most of the
            # union); the stable sort keeps operand order on ties, so the result does not
            # depend on hash order.
            kids = sorted(dict.fromkeys(user.children), key=lambda k: -len(best[k][0]))
            merged, merged_cost = best[kids[0]]
            merged = dict(merged)
            for kid in kids[1:]:
                for key, value in best[kid][0].items():
                    if key not in merged:
                        merged[key] = value
                        merged_cost += value.cost
            merged[user.eclass] = user
            push(user, merged, merged_cost + user.cost)

    missing = [r for r in problem.roots if r not in best]
    if missing:
        raise ValueError(f"root e-class {missing[0]} has no finite program")
    # Merge the roots' selections; each is closed under operands, so the merge is acyclic.
    choice: dict[str, Candidate] = {}
    for root in problem.roots:
        for key, value in best[root][0].items():
            choice.setdefault(key, value)
    return choice


# --------------------------------------------------------------------------------------------
# ILP


def _cyclic_components(
    classes: list[str], edges: Mapping[str, set[str]]
) -> list[list[str]]:
    """Strongly connected components with a cycle (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[list[str]] = []
    counter = 0
    for start in classes:
        if start in index:
            continue
        work = [(start, iter(sorted(edges.get(start, ()))))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1 or node in edges.get(node, ()):
                    components.append(component)
    return components


def ilp_dag(
    problem: Problem, time_limit: float, upper_bound: float | None = None
) -> tuple[dict[str, Candidate] | None, str]:
    """Exact DAG extraction by integer programming; returns (choice or None, status)."""
    from scipy.optimize import Bounds, LinearConstraint, milp
    from scipy.sparse import coo_array

    classes = reachable(problem)
    cands = [cand for c in classes for cand in problem.classes[c]]
    column = {cand.key: i for i, cand in enumerate(cands)}
    members = {c: [column[cand.key] for cand in problem.classes[c]] for c in classes}
    edges = class_edges(problem, classes)
    cyclic = _cyclic_components(classes, edges)
    order_var: dict[str, int] = {}
    component_of: dict[str, int] = {}
    for n, component in enumerate(cyclic):
        for eclass in component:
            order_var[eclass] = len(cands) + len(order_var)
            component_of[eclass] = n
    n_vars = len(cands) + len(order_var)

    rows: list[int] = []
    cols: list[int] = []
    vals: list[float] = []
    lower: list[float] = []
    upper: list[float] = []

    def constraint(terms: list[tuple[int, float]], lo: float, hi: float) -> None:
        row = len(lower)
        for col, val in terms:
            rows.append(row)
            cols.append(col)
            vals.append(val)
        lower.append(lo)
        upper.append(hi)

    for root in dict.fromkeys(problem.roots):
        constraint([(i, 1.0) for i in members[root]], 1.0, 1.0)
    for eclass in classes:
        constraint([(i, 1.0) for i in members[eclass]], 0.0, 1.0)
    var_upper = np.ones(n_vars)
    for i, cand in enumerate(cands):
        for kid in dict.fromkeys(cand.children):
            if kid == cand.eclass:
                var_upper[i] = (
                    0.0  # an e-node that needs its own e-class is never usable
                )
                continue
            constraint([(i, 1.0)] + [(j, -1.0) for j in members[kid]], -np.inf, 0.0)
            if component_of.get(kid, -1) == component_of.get(cand.eclass, -2):
                # Chosen => order(kid) <= order(eclass) - 1, relaxed by big-M when not chosen.
                big_m = float(len(cyclic[component_of[kid]]))
                constraint(
                    [(order_var[kid], 1.0), (order_var[cand.eclass], -1.0), (i, big_m)],
                    -np.inf,
                    big_m - 1.0,
                )
    costs = np.array(
        [cand.cost for cand in cands] + [0.0] * len(order_var), dtype=float
    )
    # HiGHS stops at an absolute gap of about 1e-6: scale the objective well above it.
    scale = 1e6 / max(upper_bound or 0.0, float(costs.max(initial=0.0)), 1e-300)
    costs *= scale
    if upper_bound is not None:
        constraint(
            [(i, costs[i]) for i in range(len(cands))],
            -np.inf,
            upper_bound * scale * (1 + 1e-9),
        )
    for eclass, var in order_var.items():
        var_upper[var] = len(cyclic[component_of[eclass]]) - 1
    integrality = np.array([1] * len(cands) + [0] * len(order_var))
    matrix = coo_array((vals, (rows, cols)), shape=(len(lower), n_vars)).tocsr()
    try:
        result = milp(
            costs,
            constraints=LinearConstraint(matrix, lower, upper),
            integrality=integrality,
            bounds=Bounds(np.zeros(n_vars), var_upper),
            options={
                "time_limit": max(time_limit, 0.01),
                "mip_rel_gap": 0.0,
                "presolve": True,
            },
        )
    except Exception as error:  # HiGHS failures must not lose the greedy result
        return None, f"failed: {error}"
    if result.status == 1:
        return None, "timeout"
    if result.status != 0 or result.x is None:
        return None, f"failed: {result.message}"
    choice: dict[str, Candidate] = {}
    for i, cand in enumerate(cands):
        if result.x[i] > 0.5:
            choice[cand.eclass] = cand
    try:
        needed = needed_classes(choice, problem.roots)
    except ValueError as error:
        return None, f"failed: {error}"
    return {c: choice[c] for c in needed}, "optimal"


# --------------------------------------------------------------------------------------------
# Driver and program count


def tree_exact(problem: Problem) -> bool:
    """Whether no program can use an e-class of positive cost twice (see the module doc)."""
    classes = reachable(problem)
    edges = class_edges(problem, classes)
    if _cyclic_components(classes, edges):
        return False
    bit = {c: 1 << i for i, c in enumerate(classes)}
    below: dict[str, int] = {}
    for eclass in _postorder(classes, edges):
        costly = any(cand.cost > 0 for cand in problem.classes[eclass])
        reach = bit[eclass] if costly else 0
        for cand in problem.classes[eclass]:
            seen = 0
            for kid in cand.children:
                if seen & below[kid]:
                    return False
                seen |= below[kid]
            reach |= seen
        below[eclass] = reach
    seen = 0
    for root in problem.roots:
        if seen & below[root]:
            return False
        seen |= below[root]
    return True


def extract(
    problem: Problem,
    ilp_max_enodes: int = 2000,
    ilp_seconds: float = 1.0,
    budget: Budget | None = None,
    keep_seconds: float = 0.0,
) -> Extraction:
    """Greedy DAG extraction, then the exact ILP when it may help and the e-graph is small.

    With a `budget`, the checks after the greedy extraction (whether greedy is exact, the ILP)
    only run in the time left once `keep_seconds` are set aside for what the caller does next;
    the greedy result stands otherwise.
    """
    from mirage_mlir.passes.eqsat.budget import tree_exact_seconds

    start = time.perf_counter()
    greedy = greedy_dag(problem)
    needed = needed_classes(greedy, problem.roots)
    greedy = {c: greedy[c] for c in needed}
    greedy_cost = dag_cost(greedy, problem.roots)
    classes = reachable(problem)
    size = sum(len(problem.classes[c]) for c in classes)

    def fits(seconds: float) -> bool:
        return budget is None or budget.fits(seconds + keep_seconds)

    if not fits(tree_exact_seconds(size, len(classes))):
        status = "skipped: no time left to check whether greedy is exact"
        return Extraction(
            greedy, greedy_cost, "greedy", status, False, time.perf_counter() - start
        )
    if tree_exact(problem):
        status = "skipped: greedy is exact (no program can use a costly e-class twice)"
        return Extraction(
            greedy, greedy_cost, "greedy", status, True, time.perf_counter() - start
        )
    remaining = ilp_seconds - (time.perf_counter() - start)
    if budget is not None:
        # HiGHS's time limit leaves out loading scipy.optimize, once per process.
        setup = 0.0 if "scipy.optimize" in sys.modules else _SCIPY_IMPORT_SECONDS
        remaining = min(
            remaining, budget.left() - keep_seconds * budget.slowdown - setup
        )
    if size > ilp_max_enodes:
        status = f"skipped: {size} e-nodes > {ilp_max_enodes}"
    elif greedy_cost <= 0:
        status = "skipped: the greedy program costs nothing"
    elif remaining < _ILP_MIN_SECONDS:
        status = "skipped: no time left"
    else:
        choice, status = ilp_dag(problem, remaining, upper_bound=greedy_cost)
        if choice is not None:
            ilp_cost = dag_cost(choice, problem.roots)
            # Exact arithmetic decides: the ILP's float objective may tie within tolerance.
            best = choice if ilp_cost <= greedy_cost else greedy
            return Extraction(
                best,
                min(ilp_cost, greedy_cost),
                "ilp",
                status,
                True,
                time.perf_counter() - start,
            )
    return Extraction(
        greedy, greedy_cost, "greedy", status, False, time.perf_counter() - start
    )


#: The largest program count `count_programs` reports: a larger count is reported as this.
#: Counts multiply along every path of the e-graph, so their digits can double with each
#: level of a deep graph; exact counts of a 300-node model took Python's big integers 40 s.
PROGRAM_COUNT_CAP = 2**256


def count_programs(problem: Problem) -> int | None:
    """Distinct programs (one term per root) the e-graph represents; None if cyclic.

    The count saturates at PROGRAM_COUNT_CAP: a result equal to it means at least that many.
    """
    classes = reachable(problem)
    edges = class_edges(problem, classes)
    if _cyclic_components(classes, edges):
        return None
    counts: dict[str, int] = {}
    for eclass in _postorder(classes, edges):
        total = 0
        for cand in problem.classes[eclass]:
            product = 1
            for kid in cand.children:
                product = min(product * counts[kid], PROGRAM_COUNT_CAP)
            total = min(total + product, PROGRAM_COUNT_CAP)
        counts[eclass] = total
    result = 1
    for root in problem.roots:
        result = min(result * counts[root], PROGRAM_COUNT_CAP)
    return result


def _postorder(classes: list[str], edges: Mapping[str, set[str]]) -> list[str]:
    done: set[str] = set()
    order: list[str] = []
    for start in classes:
        stack = [(start, False)]
        while stack:
            eclass, expanded = stack.pop()
            if expanded:
                if eclass not in done:
                    done.add(eclass)
                    order.append(eclass)
                continue
            if eclass in done:
                continue
            stack.append((eclass, True))
            stack.extend((k, False) for k in edges[eclass] if k not in done)
    return order
