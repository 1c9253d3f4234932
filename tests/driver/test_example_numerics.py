"""The committed example modules compute what their PyTorch models compute.

Every `examples/<name>.mlir` runs through the reference executor on random inputs and is
compared with eager PyTorch, as committed and after a round trip through the project's
xDSL parser and printer (which must not change a single value: causal attention's -inf
mask, written as a hex float literal, is the classic casualty).

A model that updates buffers (BatchNorm in training mode) is imported as a function that
returns the updated buffers first, in the order torch.export lists its buffer mutations,
then the model's outputs; the reference is the eager model's buffers after one forward
call from the same initial state, then its outputs.
"""

from __future__ import annotations

import copy
import functools

import numpy as np
import pytest
import torch
from torch.utils import _pytree

from mirage_mlir.dialects.context import parse_mlir, print_mlir
from mirage_mlir.driver.executor import execute_mlir
from mirage_mlir.examples import all_examples

# Seconds per case: run by `make test`, left out of `make test-fast`.
pytestmark = pytest.mark.slow

FP32_TOLERANCE = 1e-4
SEED = 0

EXAMPLES = all_examples()


@functools.cache
def reference(name: str) -> tuple[list[np.ndarray], list[np.ndarray], list[str]]:
    """Inputs, eager results (as the imported function orders them) and their labels."""
    example = next(e for e in EXAMPLES if e.name == name)
    model = example.make_model()
    inputs = tuple(example.make_inputs(SEED))
    program = torch.export.export(copy.deepcopy(model), inputs).run_decompositions()

    eager = copy.deepcopy(model)
    with torch.no_grad():
        user_outputs = iter(_pytree.tree_leaves(eager(*inputs)))
    buffers = dict(eager.named_buffers())

    results: list[np.ndarray] = []
    labels: list[str] = []
    for spec in program.graph_signature.output_specs:
        kind = spec.kind.name
        if kind == "BUFFER_MUTATION":
            results.append(buffers[spec.target].detach().numpy().copy())
            labels.append(f"updated buffer {spec.target}")
        elif kind == "USER_OUTPUT":
            results.append(next(user_outputs).detach().numpy().copy())
            labels.append(f"output {len(labels)}")
        else:
            raise AssertionError(f"{name}: unexpected output kind {kind}")
    arrays = [x.detach().numpy().copy() for x in inputs]
    return arrays, results, labels


def assert_matches_eager(name: str, text: str) -> None:
    inputs, want, labels = reference(name)
    got = execute_mlir(text, *inputs)
    assert len(got) == len(want), f"{name}: {len(got)} results, eager has {len(want)}"
    for label, g, w in zip(labels, got, want):
        assert g.shape == w.shape, f"{name} {label}: shape {g.shape}, eager {w.shape}"
        assert g.dtype == w.dtype, f"{name} {label}: dtype {g.dtype}, eager {w.dtype}"
        if np.issubdtype(w.dtype, np.floating):
            # Equal values (infinities too) and NaN where eager has NaN count as equal.
            same = (g == w) | (np.isnan(g) & np.isnan(w))
            difference = np.where(same, 0.0, np.abs(g.astype(np.float64) - w))
            error = float(np.max(difference, initial=0.0))
            assert error <= FP32_TOLERANCE, f"{name} {label}: max abs error {error:.3g}"
        else:
            np.testing.assert_array_equal(g, w, err_msg=f"{name} {label}")


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda e: e.name)
def test_committed_mlir_matches_eager(example) -> None:
    assert_matches_eager(example.name, example.mlir_path.read_text())


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda e: e.name)
def test_xdsl_round_trip_preserves_numerics(example) -> None:
    text = example.mlir_path.read_text()
    round_tripped = print_mlir(parse_mlir(text, str(example.mlir_path)))
    assert_matches_eager(example.name, round_tripped)
