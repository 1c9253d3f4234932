"""The roofline cost model and the target table."""

from __future__ import annotations

import pytest
from opt_einsum import contract_path
from opt_einsum.helpers import flop_count

from mirage_mlir.passes.eqsat.cost import (
    UNLOWERABLE_SECONDS,
    TARGETS,
    KernelWork,
    contraction_flops,
    fused_work,
    get_target,
    graph_cost,
    kernel_cost,
    node_work,
)
from mirage_mlir.passes.eqsat.graph import (
    Contract,
    Graph,
    Input,
    Reshape,
    Scale,
    Transpose,
    tanh,
)


def work(node):
    return node_work(node.kind, node.attrs, [o.type for o in node.operands], node.type)


def test_matmul_counts_a_multiply_add_as_two_flops_and_reads_plus_writes():
    a, b = Input("a", (3, 100, 2)), Input("b", (2, 50))
    w = work(a @ b)
    assert w.flops == 2 * 3 * 100 * 2 * 50
    assert w.bytes == 4 * (3 * 100 * 2 + 2 * 50 + 3 * 100 * 50)
    assert w.engine == "matrix"


@pytest.mark.parametrize(
    "spec, shapes",
    [
        ("ij,jk->ik", [(3, 4), (4, 5)]),  # a summed index: multiply-add
        ("ij,jk->ijk", [(3, 4), (4, 5)]),  # no summed index: one multiply per point
        ("ij,ij->ij", [(3, 4), (3, 4)]),  # Hadamard
        ("ab,c->", [(2, 3), (4,)]),  # indices summed inside one operand
        ("ij->i", [(3, 4)]),
    ],
)
def test_contraction_flops_follow_opt_einsum(spec, shapes):
    layouts, out = spec.split("->")
    sizes = {
        c: d
        for layout, shape in zip(layouts.split(","), shapes)
        for c, d in zip(layout, shape)
    }
    ours, summed = contraction_flops(spec, shapes)
    assert ours == flop_count(set(sizes), summed, len(shapes), sizes)
    # opt_cost of the one-step path; (naive_cost charges the addition whenever a letter is
    # shared, summed or not, so it differs for "ij,jk->ijk".)
    assert ours == int(
        contract_path(spec, *shapes, shapes=True, optimize="optimal")[1].opt_cost
    )


def test_n_ary_einsum_costs_its_naive_loop_nest():
    shapes = [(5, 6), (6, 7), (7, 8)]
    flops, _ = contraction_flops("ij,jk,kl->il", shapes)
    assert flops == int(
        contract_path("ij,jk,kl->il", *shapes, shapes=True, optimize=False)[1].opt_cost
    )
    assert flops == 5 * 6 * 7 * 8 * 3
    three = work(Contract(tuple(Input(n, s) for n, s in zip("abc", shapes)), "ij,jk,kl->il"))
    assert three.engine == "loop_nest"
    # No kernel template runs it: on a seconds target it is priced out of any program that
    # has a binary alternative; the flops target still counts its FLOPs.
    assert kernel_cost(get_target("h100"), three) == UNLOWERABLE_SECONDS
    assert kernel_cost(get_target("flops"), three) == flops


def test_roofline_is_compute_or_memory_bound_plus_launch():
    h100 = get_target("h100")
    big = work(Input("a", (4096, 4096)) @ Input("b", (4096, 4096)))
    assert kernel_cost(h100, big) == pytest.approx(2 * 4096**3 / 494.7e12 + 4e-6)
    ew = work(tanh(Input("x", (4096, 4096))))
    assert kernel_cost(h100, ew) == pytest.approx(2 * 4 * 4096**2 / 3.35e12 + 4e-6)
    half = work(Input("a", (4096, 4096), "bf16") @ Input("b", (4096, 4096), "bf16"))
    assert kernel_cost(h100, half) == pytest.approx(2 * 4096**3 / 989.4e12 + 4e-6)
    assert kernel_cost(get_target("flops"), big) == 2 * 4096**3
    for name, target in TARGETS.items():
        if name != "flops":
            assert kernel_cost(target, big) > kernel_cost(target, ew) > 0


def test_views_and_leaves_cost_nothing_but_transposes_move_data():
    x = Input("x", (64, 32))
    assert not work(Reshape(x, (32, 64))).is_kernel
    assert kernel_cost(get_target("h100"), work(x)) == 0
    t = work(Transpose(x, (1, 0)))
    assert t.is_kernel and t.flops == 0 and t.bytes == 2 * 4 * 64 * 32


def test_graph_cost_pays_a_shared_value_once():
    a, b = Input("a", (8, 8)), Input("b", (8, 8))
    shared = a @ b
    once = graph_cost(Graph.of(shared + shared), "flops")
    twice = graph_cost(Graph.of((a @ b) + (a @ b)), "flops")
    assert once.flops == 2 * 8**3 + 64 and twice.flops == 2 * 2 * 8**3 + 64
    assert (once.kernels, twice.kernels) == (2, 3)


def test_fused_kernel_does_not_pay_for_its_intermediate():
    x = Input("x", (1024,))
    scaled = Scale(x, 2.0)
    parts = [work(scaled), work(tanh(scaled))]
    fused = fused_work(parts, intermediate_bytes=scaled.type.nbytes)
    assert fused.flops == 2 * 1024
    assert (fused.bytes_read, fused.bytes_written) == (4096, 4096)
    h100 = get_target("h100")
    assert kernel_cost(h100, fused) < sum(kernel_cost(h100, p) for p in parts)
    with pytest.raises(ValueError):
        fused_work(parts, intermediate_bytes=10**9)


def test_unknown_target_is_a_clear_error():
    with pytest.raises(
        ValueError, match="unknown target 'tpu'; known targets: h100, a100, cpu, flops"
    ):
        get_target("tpu")
    assert isinstance(KernelWork(1, 2, 3, "vector").bytes, int)
