"""Kernel formation and the fusion-aware cost, on graphs in the shapes of the examples."""

from __future__ import annotations

import math

import pytest

from mirage_mlir.passes.eqsat.cost import TARGETS, graph_cost, kernel_cost, node_work
from mirage_mlir.passes.eqsat.fusion import (
    anticipated_cost,
    form_kernels,
    fused_cost,
    kernel_template,
    kernel_work,
)
from mirage_mlir.passes.eqsat.graph import (
    Constant,
    Contract,
    Full,
    Graph,
    Input,
    Reshape,
    Scale,
    Transpose,
    attention,
    batch_norm,
    broadcast,
    concat,
    elementwise,
    exp,
    reduce,
    rms_norm,
    softmax,
    strided_slice,
    tanh,
)
from mirage_mlir.passes.eqsat.fusion_choice import choose_program, unstable_exps
from mirage_mlir.passes.eqsat.optimize import optimize_graph
from mirage_mlir.passes.eqsat.saturate import Limits

F32 = 4


def nbytes(*nodes):
    return sum(n.type.nbytes for n in nodes)


def relu(x):
    return elementwise("relu", x)


# --------------------------------------------------------------------------------------------
# The examples' graphs


def e1_chain():
    a, b, c, d = (
        Input(n, s) for n, s in zip("ABCD", [(100, 2), (2, 100), (100, 2), (2, 100)])
    )
    return Graph.of(((a @ b) @ c) @ d)


def e2_attention_primitive(shape=(1, 1024, 64)):
    q, k, v = Input("q", shape), Input("k", shape), Input("v", shape)
    return Graph.of(softmax(Scale(q @ k.mT, 1 / math.sqrt(shape[-1]))) @ v)


def e2_attention(shape=(1, 1024, 64), causal=False):
    q, k, v = Input("q", shape), Input("k", shape), Input("v", shape)
    return Graph.of(attention(q, k, v, 1 / math.sqrt(shape[-1]), causal))


def e3_primitive(n=4096, c=1024):
    x = Input("x", (n, c))
    gamma, beta = Constant("gamma", (c,)), Constant("beta", (c,))
    mean = reduce(x, "mean", (0,), True)
    centred = x - mean
    var = reduce(centred * centred, "mean", (0,), True)
    normal = centred / elementwise("sqrt", var + Full(1e-5))
    return Graph.of(relu(normal * gamma + beta))


def e3_structured(n=4096, c=1024):
    x = Input("x", (n, c))
    gamma, beta = Constant("gamma", (c,)), Constant("beta", (c,))
    return Graph.of(relu(batch_norm(x, gamma, beta, 1e-5)))


def e4_einsum():
    shapes = ((100, 10), (10, 20), (20, 5), (5, 100))
    ops = tuple(Input(n, s) for n, s in zip("ABCD", shapes))
    return Graph.of(Contract(ops, "ik,kj,jl,lm->im"))


def e5_gated(batch=256, features=512):
    x = Input("x", (batch, features))
    w1, w2 = Constant("w1", (features, features)), Constant("w2", (features, features))
    bias = Constant("bias", (features,))
    return Graph.of(tanh((x @ w1) * (x @ w2) + bias))


def e6_naive_softmax(shape=(256, 1024)):
    x = Input("x", shape)
    e = exp(x)
    return Graph.of(e / reduce(e, "sum", (-1,), True))


def e6_softmax(shape=(256, 1024)):
    return Graph.of(softmax(Input("x", shape), -1))


def e7_block(seq=128, hidden=512, heads=8, kv_heads=2, head_dim=64):
    x, norm = Input("x", (seq, hidden)), Constant("norm", (hidden,))
    wq, wo = Constant("wq", (hidden, heads * head_dim)), Constant("wo", (hidden, hidden))
    wk = Constant("wk", (hidden, kv_heads * head_dim))
    wv = Constant("wv", (hidden, kv_heads * head_dim))
    h = rms_norm(x, norm, 1e-6)

    def split(t, n):
        return Transpose(Reshape(t, (1, seq, n, head_dim)), (0, 2, 1, 3))

    q, k, v = split(h @ wq, heads), split(h @ wk, kv_heads), split(h @ wv, kv_heads)
    o = attention(q, k, v, 1 / math.sqrt(head_dim), True)
    merged = Reshape(Transpose(o, (0, 2, 1, 3)), (seq, heads * head_dim))
    return Graph.of(x + merged @ wo)


def e8_network(dim=12):
    ops = tuple(Input(f"T{i}", (dim,) * 4) for i in range(4))
    return Graph.of(Contract(ops, "abcd,bcef,cdfg,degh->ah"))


EXAMPLES = {
    "e1": e1_chain,
    "e2": e2_attention,
    "e2_primitive": e2_attention_primitive,
    "e2_heads_causal": lambda: e2_attention((1, 4, 256, 64), causal=True),
    "e3": e3_primitive,
    "e3_small": lambda: e3_primitive(512, 256),
    "e3_structured": e3_structured,
    "e4": e4_einsum,
    "e5": e5_gated,
    "e6": e6_naive_softmax,
    "e6_stable": e6_softmax,
    "e7": e7_block,
    "e8": e8_network,
}


def check_partition(graph, kernels):
    """Every compute node in exactly one legal kernel; kernels in an order that runs."""
    seen = {}
    for kernel in kernels:
        assert kernel_template(graph, kernel.nodes) == kernel.template, str(kernel)
        for node in kernel.nodes:
            assert id(node) not in seen, f"{node.kind} is in two kernels"
            seen[id(node)] = kernel
    available = set()
    for node in graph.nodes():
        if node.kind in ("input", "constant", "full"):
            available.add(id(node))
        elif id(node) not in seen and node.kind != "reshape":
            # Only a layout op of constants is folded without a kernel.
            assert all(id(o) in available for o in node.operands), f"{node.kind} is in no kernel"
            available.add(id(node))
    for kernel in kernels:
        for node in kernel.inputs:
            while node.kind == "reshape" and id(node) not in available:
                node = node.operands[0]
            assert id(node) in available, f"{kernel} reads a value not yet computed"
        available.update(id(n) for n in kernel.outputs)
        members = {id(n) for n in kernel.nodes}
        for node in graph.nodes():
            if id(node) in members:
                continue
            for operand in node.operands:
                if id(operand) in members:
                    assert operand in kernel.outputs, "a value used outside is not written"
        for node in graph.outputs:
            if id(node) in members:
                assert node in kernel.outputs


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_kernels_partition_the_graph_legally_and_in_running_order(name):
    graph = EXAMPLES[name]()
    check_partition(graph, form_kernels(graph))


@pytest.mark.parametrize("name", sorted(EXAMPLES))
@pytest.mark.parametrize("target", ["h100", "a100", "cpu"])
def test_fused_cost_never_exceeds_the_unfused_cost(name, target):
    graph = EXAMPLES[name]()
    fused = fused_cost(form_kernels(graph, target), target)
    unfused = graph_cost(graph, target)
    assert fused.cost <= unfused.cost
    assert fused.bytes <= unfused.bytes
    assert fused.kernels <= unfused.kernels
    assert fused.flops == unfused.flops


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_on_the_flops_target_the_fused_cost_is_the_flop_count(name):
    graph = EXAMPLES[name]()
    fused = fused_cost(form_kernels(graph, "flops"), "flops")
    assert fused.cost == fused.flops == graph_cost(graph, "flops").flops
    assert isinstance(fused.cost, int)


# --------------------------------------------------------------------------------------------
# Acceptance: each example's kernels


def test_gated_layer_is_one_dual_matmul_that_never_writes_y1_or_y2():
    graph = e5_gated()
    (kernel,) = form_kernels(graph)
    assert kernel.template == "dual_matmul"
    x, w1, w2, bias = (graph.nodes()[i] for i in (0, 1, 3, 6))
    assert [x.name, w1.name, w2.name, bias.name] == ["x", "w1", "w2", "bias"]
    work = kernel_work(kernel)
    assert work.bytes_read == nbytes(x, w1, w2, bias)
    assert work.bytes_written == nbytes(*graph.outputs) == 256 * 512 * F32
    assert kernel.outputs == graph.outputs
    assert sum(n.kind == "matmul" for n in kernel.nodes) == 2


@pytest.mark.parametrize("build", [e3_primitive, e3_structured])
def test_batch_norm_and_relu_are_one_column_reduction_reading_x_at_most_twice(build):
    graph = build()
    (kernel,) = form_kernels(graph)
    assert kernel.template == "column_reduction"
    x = graph.inputs[0]
    weights = 2 * 1024 * F32
    work = kernel_work(kernel)
    assert work.bytes_read <= 2 * x.type.nbytes + weights
    assert work.bytes_written == x.type.nbytes  # the output once, no intermediate
    assert kernel.outputs == graph.outputs


def test_relu_before_batch_norm_is_a_different_kernel_body():
    # batch_norm(relu(x)) is another function: its ReLU is a prologue, not an epilogue.
    x = Input("x", (512, 256))
    gamma, beta = Constant("gamma", (256,)), Constant("beta", (256,))
    graph = Graph.of(batch_norm(relu(x), gamma, beta, 1e-5))
    (kernel,) = form_kernels(graph)
    assert kernel.template == "column_reduction"
    assert [n.kind for n in kernel.nodes] == ["elementwise", "batch_norm"]


@pytest.mark.parametrize("build", [e6_softmax, e6_naive_softmax])
def test_softmax_is_one_row_reduction_with_one_read_and_one_write(build):
    graph = build()
    (kernel,) = form_kernels(graph)
    assert kernel.template == "row_reduction"
    x = graph.inputs[0]
    assert kernel_work(kernel).bytes_read == x.type.nbytes
    assert kernel_work(kernel).bytes_written == x.type.nbytes


def test_row_statistic_without_its_axis_is_reshaped_inside_the_kernel():
    x = Input("x", (256, 1024))
    mean = Reshape(reduce(x, "mean", (-1,), False), (256, 1))
    graph = Graph.of(x - mean)
    (kernel,) = form_kernels(graph)
    assert kernel.template == "row_reduction"
    assert [n.kind for n in kernel.nodes] == ["reduce", "reshape", "elementwise"]
    assert kernel_work(kernel).bytes == 2 * x.type.nbytes


def test_rms_norm_in_primitive_form_is_one_row_reduction():
    x, w = Input("x", (128, 512)), Constant("w", (512,))
    square_mean = reduce(x * x, "mean", (-1,), True)
    graph = Graph.of(x / elementwise("sqrt", square_mean + Full(1e-6)) * w)
    (kernel,) = form_kernels(graph)
    assert kernel.template == "row_reduction"
    assert kernel_work(kernel).bytes == nbytes(x, w) + x.type.nbytes


@pytest.mark.parametrize("shape, causal", [((1, 1024, 64), False), ((1, 4, 256, 64), True)])
def test_attention_is_one_kernel_without_a_seq_by_seq_value(shape, causal):
    graph = e2_attention(shape, causal)
    (kernel,) = form_kernels(graph)
    assert kernel.template == "attention"
    seq = shape[-2]
    q, k, v = graph.inputs
    assert kernel_work(kernel).bytes == nbytes(q, k, v) + q.type.nbytes
    for value in kernel.inputs + kernel.outputs:
        assert value.shape[-2:] != (seq, seq)


def test_primitive_attention_writes_its_scores_and_fusion_alone_cannot_avoid_it():
    # Without the attention rewrite the scores are a matmul epilogue, then a softmax kernel:
    # a seq x seq value reaches memory, which only the rewrite to attention removes.
    graph = e2_attention_primitive()
    kernels = form_kernels(graph)
    assert [k.template for k in kernels] == ["matmul", "row_reduction", "matmul"]
    assert kernels[0].outputs[0].shape == (1, 1024, 1024)
    assert fused_cost(kernels).cost > fused_cost(form_kernels(e2_attention())).cost


def test_an_elementwise_chain_of_five_ops_is_one_kernel():
    x, b = Input("x", (4096, 1024)), Constant("b", (1024,))
    y = elementwise("sigmoid", tanh(exp(Scale(x + b, 0.5))) * x)
    graph = Graph.of(y)
    assert sum(n.kind in ("elementwise", "scale") for n in graph.nodes()) == 6
    (kernel,) = form_kernels(graph)
    assert kernel.template == "elementwise"
    assert kernel_work(kernel).bytes == 2 * x.type.nbytes + b.type.nbytes


def test_matmul_with_bias_and_gelu_is_one_matmul_kernel_with_an_epilogue():
    x, w, b = Input("x", (256, 512)), Constant("w", (512, 1024)), Constant("b", (1024,))
    y = x @ w + b
    gelu = Scale(y * (elementwise("erf", Scale(y, 1 / math.sqrt(2))) + Full(1.0)), 0.5)
    graph = Graph.of(gelu)
    (kernel,) = form_kernels(graph)
    assert kernel.template == "matmul"
    assert kernel_work(kernel).bytes == nbytes(x, w, b) + 256 * 1024 * F32
    assert kernel.outputs == (gelu,)


def test_a_value_used_by_two_kernels_is_written_once_and_read_by_both():
    x, w = Input("x", (256, 512)), Constant("w", (512, 64))
    y = tanh(x)
    graph = Graph.of(softmax(y, -1), y @ w)
    kernels = form_kernels(graph)
    assert sorted(k.template for k in kernels) == ["matmul", "row_reduction"]
    writers = [k for k in kernels if y in k.outputs]
    readers = [k for k in kernels if y in k.inputs or y in k.nodes]
    assert len(writers) == 1 and len(readers) == 2
    row, mm = writers[0], next(k for k in kernels if k is not writers[0])
    assert kernel_work(row).bytes_written == 2 * y.type.nbytes  # y and the softmax
    assert kernel_work(mm).bytes_read == nbytes(y, w)
    check_partition(graph, kernels)


def test_a_non_convex_group_is_never_formed():
    # a feeds the matmul and, around it, the add: {a, add} without the matmul is not convex,
    # and a cannot be the matmul's prologue since the add also reads it.
    x, w = Input("x", (64, 64)), Constant("w", (64, 64))
    a = exp(x)
    b = a @ w
    c = a + b
    graph = Graph.of(c)
    assert kernel_template(graph, [a, c]) is None
    assert kernel_template(graph, [a, b, c]) is None
    assert kernel_template(graph, [b, c]) == "matmul"
    kernels = form_kernels(graph)
    assert [[n.kind for n in k.nodes] for k in kernels] == [
        ["elementwise"],
        ["matmul", "elementwise"],
    ]
    check_partition(graph, kernels)


def test_an_elementwise_product_is_never_a_matmul_template():
    x, y = Input("x", (64, 64)), Input("y", (64, 64))
    graph = Graph.of(x * y)
    (kernel,) = form_kernels(graph)
    assert kernel.template == "elementwise"
    gated = e5_gated()
    mm1, mm2, product = [n for n in gated.nodes() if n.kind in ("matmul", "elementwise")][:3]
    assert product.attrs == ("mul",)
    assert kernel_template(gated, [mm1, product]) == "matmul"  # x @ w2 read from memory
    assert kernel_template(gated, [mm1, mm2]) is None  # no joint epilogue
    assert kernel_template(gated, [product]) == "elementwise"


def test_chained_matmuls_are_not_a_dual_matmul():
    x, w1, w2 = Input("x", (64, 64)), Constant("w1", (64, 64)), Constant("w2", (64, 64))
    first = x @ w1
    graph = Graph.of(tanh(first @ w2) + first)
    kernels = form_kernels(graph)
    assert [k.template for k in kernels] == ["matmul", "matmul"]
    assert kernel_template(graph, graph.nodes()[2:]) is None


def test_the_llama_block_fuses_projection_epilogues_and_keeps_attention_whole():
    graph = e7_block()
    kernels = form_kernels(graph)
    templates = [k.template for k in kernels]
    assert templates.count("row_reduction") == 1  # the RMSNorm
    # The head split and merge are strided loads and a permuted store of the attention.
    (flash,) = [k for k in kernels if k.template == "attention"]
    assert [n.kind for n in flash.nodes].count("transpose") == 4
    for kernel in kernels:
        for value in kernel.inputs + kernel.outputs:
            assert value.shape[-3:] != (8, 128, 128)
    # The residual add rides on the output projection.
    assert kernels[-1].template == "matmul" and kernels[-1].nodes[-1].kind == "elementwise"
    assert len(kernels) == 6  # norm, three projections, attention, output projection


# --------------------------------------------------------------------------------------------
# The optimiser reports fusion-aware costs


def test_optimize_graph_reports_the_kernels_of_the_chosen_graph():
    graph = e5_gated()
    result = optimize_graph(graph)
    assert [k.template for k in result.kernels] == ["dual_matmul"]
    assert result.kernels_before == result.unfused_kernels_before == 5
    assert result.kernels_after == result.fused_kernels_before == 1
    assert result.bytes_before == graph_cost(graph).bytes
    assert result.bytes_after == fused_cost(result.kernels).bytes < result.bytes_before
    assert result.cost_after == fused_cost(result.kernels).cost < result.cost_before
    check_partition(result.graph, result.kernels)


def test_layout_ops_of_weights_are_folded_and_read_like_weights():
    # E5 on concatenated weights: the concatenation is built with the program, not run.
    x = Input("x", (256, 512))
    w = concat([Constant("w1", (512, 512)), Constant("w2", (512, 512))], 1)
    y = x @ w
    halves = [strided_slice(y, (0, o), (256, 512)) for o in (0, 512)]
    graph = Graph.of(tanh(halves[0] * halves[1] + Constant("bias", (512,))))
    kernels = form_kernels(graph)
    assert all(n.kind != "concat" for k in kernels for n in k.nodes)
    assert kernel_work(kernels[0]).bytes_read == nbytes(x, w)
    check_partition(graph, kernels)
    # A broadcast splat is generated in registers: it reads nothing.
    z = Input("z", (64, 64))
    (kernel,) = form_kernels(Graph.of(z + broadcast(Full(2.0), (64, 64))))
    assert kernel_work(kernel).bytes == 2 * z.type.nbytes


def test_optimize_graph_on_the_flops_target_keeps_flop_costs():
    result = optimize_graph(e1_chain(), target="flops", limits=Limits())
    assert result.cost_after == result.flops_after == 41_600
    assert result.kernels_after == 3


def test_concatenated_projections_feed_attention_through_strided_loads():
    # E7 with q, k, v from one matmul on [wq | wk | wv]: the slices, head splits and the
    # merge ride in the attention kernel, and the block needs two kernels fewer.
    seq, hidden, heads, kv_heads, head_dim = 128, 512, 8, 2, 64
    x, norm = Input("x", (seq, hidden)), Constant("norm", (hidden,))
    wq, wo = Constant("wq", (hidden, hidden)), Constant("wo", (hidden, hidden))
    wk, wv = Constant("wk", (hidden, 128)), Constant("wv", (hidden, 128))
    y = rms_norm(x, norm, 1e-6) @ concat([wq, wk, wv], 1)

    def split(offset, n):
        part = strided_slice(y, (0, offset), (seq, n * head_dim))
        return Transpose(Reshape(part, (1, seq, n, head_dim)), (0, 2, 1, 3))

    o = attention(split(0, heads), split(512, kv_heads), split(640, kv_heads), 0.125, True)
    graph = Graph.of(x + Reshape(Transpose(o, (0, 2, 1, 3)), (seq, hidden)) @ wo)
    kernels = form_kernels(graph)
    assert [k.template for k in kernels] == ["row_reduction", "matmul", "attention", "matmul"]
    assert kernel_work(kernels[2]).bytes_read == y.type.nbytes
    check_partition(graph, kernels)
    assert fused_cost(kernels).cost < fused_cost(form_kernels(e7_block())).cost


def test_extraction_that_anticipates_fusion_charges_fusible_ops_their_arithmetic():
    h100 = TARGETS["h100"]
    x, w = Input("x", (256, 512)), Constant("w", (512, 512))
    for node, fusible in [(tanh(x), True), (x @ w, False), (softmax(x), True)]:
        work = node_work(node.kind, node.attrs, [o.type for o in node.operands], node.type)
        expected = work.flops / h100.peak(work.engine, "f32")
        cost = anticipated_cost(h100, node.kind, work)
        assert cost == (expected if fusible else kernel_cost(h100, work))
        assert anticipated_cost(TARGETS["flops"], node.kind, work) == work.flops


def test_an_unstable_softmax_loses_to_a_stable_one_whatever_it_costs():
    naive, stable = e6_naive_softmax(), e6_softmax()
    assert (unstable_exps(naive), unstable_exps(stable)) == (1, 0)
    x = Input("x", (256, 1024))
    shifted = x - reduce(x, "max", (-1,), True)
    assert unstable_exps(Graph.of(exp(shifted) / reduce(exp(shifted), "sum", (-1,), True))) == 0
    # On the CPU the stable kernel is compute bound and costs more, yet it is chosen.
    costs = [fused_cost(form_kernels(g, "cpu"), "cpu").cost for g in (naive, stable)]
    assert costs[1] > costs[0]
    chosen, kernels, cost = choose_program([naive, stable], "cpu")
    assert chosen == 1 and cost.cost == costs[1]
    assert choose_program([stable, naive], "h100")[0] == 0


@pytest.mark.parametrize("target", ["h100", "cpu"])
def test_optimize_graph_turns_the_naive_softmax_into_one_stable_row_kernel(target):
    result = optimize_graph(e6_naive_softmax(), target=target)
    assert [str(k) for k in result.kernels] == ["row_reduction[softmax]"]
    assert unstable_exps(result.graph) == 0
    assert (result.kernels_before, result.kernels_after) == (3, 1)
