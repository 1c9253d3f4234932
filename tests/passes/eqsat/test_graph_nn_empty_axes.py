"""The term graph's NumPy semantics of reductions and softmax over axes of length zero.

linalg defines them by their initial values (a max over nothing is -inf, a sum 0), and a
zero-sized program must evaluate, not fail, when the optimiser checks it.
"""

import numpy as np

from mirage_mlir.passes.eqsat.graph_nn import evaluate_structured


def test_max_and_min_over_no_elements_are_their_identities():
    x = np.zeros((3, 0), np.float32)
    assert evaluate_structured("reduce", ("max", (1,), False), [x]).tolist() == [-np.inf] * 3
    assert evaluate_structured("reduce", ("min", (1,), True), [x]).tolist() == [[np.inf]] * 3
    assert evaluate_structured("reduce", ("sum", (1,), False), [x]).tolist() == [0.0] * 3


def test_softmax_over_an_empty_axis_is_empty():
    x = np.zeros((4, 0), np.float32)
    assert evaluate_structured("softmax", (1,), [x]).shape == (4, 0)
