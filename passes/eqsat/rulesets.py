"""Declared rules, and the named rulesets built from them.

A rule enters a ruleset only through a declaration:

- `RewriteRule(name, build, example)`: `build()` returns the egglog rewrites, and `example()`
  returns a (left, right) pair of Graphs that the rewrite equates. The test suite checks,
  for every declared rewrite, that both sides compute the same values with NumPy, that the
  ruleset proves them equal, and that the ruleset without this rewrite does not: so a rewrite
  cannot be added without an example that exercises it and shows it sound.
- `AnalysisRule(name, build, purpose)`: a rule that only derives facts (index masks, the
  splits of a network); it never equates two tensors, and its facts are tested directly.

Rulesets are named after their theme and built on demand (no egglog state at import).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Callable, Sequence

if TYPE_CHECKING:
    from egglog import RewriteOrRule, Ruleset, Schedule

    from mirage_mlir.passes.eqsat.graph import Graph


@dataclass(frozen=True)
class RewriteRule:
    """An equality between tensor terms, with the example that exercises it."""

    name: str
    build: Callable[[], Sequence[RewriteOrRule]]
    example: Callable[[], tuple[Graph, Graph]]


@dataclass(frozen=True)
class AnalysisRule:
    """A rule that derives facts about terms without equating tensors."""

    name: str
    build: Callable[[], Sequence[RewriteOrRule]]
    purpose: str


Declaration = RewriteRule | AnalysisRule


def declarations(name: str) -> tuple[Declaration, ...]:
    """The declared rules of the ruleset called `name`."""
    if name == "linear_algebra":
        from mirage_mlir.passes.eqsat.rules_linalg import DECLARATIONS
    elif name == "contraction":
        from mirage_mlir.passes.eqsat.rules_contraction import DECLARATIONS
    elif name == "elementwise":
        from mirage_mlir.passes.eqsat.rules_elementwise import DECLARATIONS
    elif name == "softmax":
        from mirage_mlir.passes.eqsat.rules_softmax import DECLARATIONS
    elif name == "attention":
        from mirage_mlir.passes.eqsat.rules_attention import DECLARATIONS
    elif name == "normalisation":
        from mirage_mlir.passes.eqsat.rules_norm import DECLARATIONS
    elif name == "shared_input":
        from mirage_mlir.passes.eqsat.rules_shared_input import DECLARATIONS
    else:
        raise ValueError(
            f"unknown ruleset {name!r}; known rulesets: {', '.join(RULESET_NAMES)}"
        )
    return DECLARATIONS


RULESET_NAMES = (
    "linear_algebra",
    "contraction",
    "elementwise",
    "softmax",
    "attention",
    "normalisation",
    "shared_input",
)


def extra_examples(name: str) -> dict[str, tuple[Callable[[], tuple[Graph, Graph]], ...]]:
    """Further (left, right) examples that rules of ruleset `name` must also prove."""
    if name == "softmax":
        from mirage_mlir.passes.eqsat.rules_softmax import EXTRA_EXAMPLES
    elif name == "attention":
        from mirage_mlir.passes.eqsat.rules_attention import EXTRA_EXAMPLES
    else:
        return {}
    return EXTRA_EXAMPLES


def build_ruleset(name: str, without: frozenset[str] = frozenset()) -> Ruleset:
    """The egglog ruleset `name`, leaving out the declarations named in `without`."""
    from egglog import ruleset as new_ruleset

    rules = new_ruleset(
        name=name if not without else f"{name}_without_{'_'.join(sorted(without))}"
    )
    for declaration in declarations(name):
        if declaration.name not in without:
            for rewrite in declaration.build():
                rules.append(rewrite)
    return rules


@cache
def ruleset(name: str) -> Ruleset:
    """The full egglog ruleset `name` (built once per process)."""
    return build_ruleset(name)


def combined(names: Sequence[str], without: frozenset[str] = frozenset()) -> Schedule:
    """One schedule step running the named rulesets together."""
    from egglog import unstable_combine_rulesets

    built = [build_ruleset(n, without) if without else ruleset(n) for n in names]
    if len(built) == 1:
        return built[0]
    return unstable_combine_rulesets(*built)
