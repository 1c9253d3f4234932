"""Every example's imported linalg, recognised as a term graph, computes what MLIR computes.

The graph is evaluated by the algebra's NumPy semantics (opaque nodes by interpreting their
ops) and compared with the MLIR JIT reference executor on the example's own inputs. Each
example's compute must be recognised: the opaque nodes allowed are listed per example.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from mirage_mlir.examples import EXAMPLE_NAMES, load_example
from mirage_mlir.passes.eqsat.evaluate import evaluate

#: Opaque nodes each example may keep, by op name, or by mask form for a named causal mask.
#: Causal masks start from an iota generic (`linalg.index`), which the algebra has no term
#: for; recognition folds the index arithmetic into one causal mask leaf (recognize/masks.py).
CAUSAL_MASKS = {
    "e2_attention_causal": {"causal_future": 1},  # where(j > i, -inf, scores)
    "e7_llama_attention": {"causal_additive": 1},  # SDPA: scores + where(j <= i, 0, -inf)
}

#: Compute ops (kernels before optimisation) of each example, counted by hand from its .mlir.
COMPUTE_OPS = {
    "e1_matrix_chain": 3,
    "e2_attention": 9,
    "e4_einsum_chain": 9,
    "e5_gated_layer": 5,
    "e6_naive_softmax": 3,
    "e8_tensor_network": 10,
}


def _recognise(name: str):
    from mirage_mlir.dialects.context import parse_mlir
    from mirage_mlir.passes.recognize import recognize_function

    example = load_example(name)
    text = example.mlir_path.read_text()
    module = parse_mlir(text, str(example.mlir_path))
    main = next(op for op in module.body.block.ops if getattr(op, "sym_name", None) and op.sym_name.data == "main")
    return example, text, recognize_function(main)


def _opaque_ops(recognized) -> Counter:
    names = {n.attrs[0] for n in recognized.graph.nodes() if n.kind == "opaque"}
    return Counter(recognized.opaque_ops[name][0].name for name in names)


def _causal_masks(recognized) -> Counter:
    return Counter(n.attrs[0] for n in recognized.graph.nodes() if n.kind == "causal_mask")


@pytest.fixture(scope="module")
def reference_outputs():
    """The JIT reference of each example on seed-0 inputs, computed once per session."""
    from mirage_mlir import execute_mlir

    cache: dict[str, tuple[list[np.ndarray], list[np.ndarray]]] = {}

    def get(name: str, text: str, example):
        if name not in cache:
            inputs = [np.asarray(t.detach().numpy()) for t in example.make_inputs(0)]
            cache[name] = (inputs, execute_mlir(text, *inputs))
        return cache[name]

    return get


@pytest.mark.slow
@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_recognised_graph_matches_the_reference_executor(name, reference_outputs):
    from mirage_mlir.passes.recognize import opaque_evaluators

    example, text, recognized = _recognise(name)
    inputs, expected = reference_outputs(name, text, example)
    values = {f"arg{i}": array for i, array in enumerate(inputs)}
    values.update(recognized.constant_values)
    got = evaluate(recognized.graph, values, opaque=opaque_evaluators(recognized))
    assert len(got) == len(expected)
    for index, (g, e) in enumerate(zip(got, expected)):
        assert g.shape == e.shape, f"output {index}"
        if e.dtype.kind == "f":
            np.testing.assert_allclose(g, e, rtol=0, atol=1e-4, err_msg=f"output {index}")
        else:
            np.testing.assert_array_equal(g, e, err_msg=f"output {index}")


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_examples_are_recognised_without_opaque_compute(name):
    _, _, recognized = _recognise(name)
    assert _opaque_ops(recognized) == Counter(), recognized.opaque_reasons
    assert _causal_masks(recognized) == Counter(CAUSAL_MASKS.get(name, {}))
    # Every weight in the examples comes with its data.
    constants = {n.attrs[0] for n in recognized.graph.nodes() if n.kind == "constant"}
    assert constants <= set(recognized.constant_values)
    assert set(recognized.leaves) >= constants | {i.name for i in recognized.graph.inputs}


def test_matrix_chain_is_three_matmuls():
    _, _, recognized = _recognise("e1_matrix_chain")
    kinds = Counter(n.kind for n in recognized.graph.nodes())
    assert kinds == Counter({"input": 4, "matmul": 3})
    out = recognized.graph.outputs[0]
    assert out.kind == "matmul" and out.operands[0].kind == "matmul"


@pytest.mark.parametrize("name", ["e4_einsum_chain", "e8_tensor_network"])
def test_einsums_are_products_and_layout_only(name):
    _, _, recognized = _recognise(name)
    kinds = {n.kind for n in recognized.graph.nodes()}
    assert kinds <= {"input", "matmul", "contract", "transpose", "reshape"}


def test_softmax_pieces_are_reductions_and_elementwise():
    _, _, recognized = _recognise("e6_naive_softmax")
    (out,) = recognized.graph.outputs
    assert out.kind == "elementwise" and out.attrs == ("div",)
    numerator, denominator = out.operands
    assert numerator.kind == "elementwise" and numerator.attrs == ("exp",)
    assert denominator.kind == "reduce" and denominator.attrs == ("sum", (1,), True)
    assert denominator.operands[0] is numerator


def test_unused_argmax_is_not_in_the_attention_graph():
    _, _, recognized = _recognise("e2_attention")
    kinds = Counter(n.kind for n in recognized.graph.nodes())
    assert kinds["opaque"] == 0 and kinds["reduce"] == 2 and kinds["matmul"] == 2
    assert any(n.kind == "reduce" and n.attrs[0] == "max" for n in recognized.graph.nodes())


def test_batchnorm_module_returns_its_running_statistics():
    _, _, recognized = _recognise("e3_batchnorm_module")
    outputs = recognized.graph.outputs
    assert [o.dtype for o in outputs] == ["f32", "f32", "i64", "f32"]
    assert outputs[2].kind == "full" and outputs[2].attrs[0] == 1.0
    assert any(n.kind == "cast" and n.attrs == ("f64",) for n in recognized.graph.nodes())


@pytest.mark.parametrize("name, count", sorted(COMPUTE_OPS.items()))
def test_compute_ops_count_the_kernels_before_optimisation(name, count):
    _, _, recognized = _recognise(name)
    assert recognized.compute_ops == count
