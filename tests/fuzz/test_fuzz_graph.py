"""Differential fuzzing of `optimize_graph`: every target, both programs evaluated in float64.

Each generated graph is optimised for every target of the cost model; the optimised graph must
compute what the input computes (up to float64 reassociation) and must cost no more.
"""

from hypothesis import given, settings

from fuzz_support import TARGETS, check_graph, examples, graph_reproducer, reproducer_on_failure
from graph_programs import chain_graphs, einsum_graphs, elementwise_graphs


def _check_every_target(test: str, graph) -> None:
    for target in TARGETS:
        with reproducer_on_failure(test, graph_reproducer(test, graph, target, f"target {target}")):
            check_graph(graph, target)


@settings(max_examples=examples(6))
@given(chain_graphs())
def test_fuzz_graph_chains(graph):
    _check_every_target("test_fuzz_graph_chains", graph)


@settings(max_examples=examples(6))
@given(einsum_graphs())
def test_fuzz_graph_einsum(graph):
    _check_every_target("test_fuzz_graph_einsum", graph)


@settings(max_examples=examples(6))
@given(elementwise_graphs())
def test_fuzz_graph_elementwise(graph):
    _check_every_target("test_fuzz_graph_elementwise", graph)
