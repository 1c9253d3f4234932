"""Differential fuzzing of `mirage_mlir.optimize` on programs imported from PyTorch.

Each generated program is imported with `import_torch`, optimised for a drawn target
(`verify=False`: the check here is independent of the pass's own), and the optimised module is
run by the NumPy semantics on fresh random inputs; its results must match torch eager, run in
float64 on the same inputs, within atol 1e-4 + rtol 1e-4.
"""

import contextlib
import os

import numpy as np
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from fuzz_support import (
    F32_ATOL,
    F32_RTOL,
    assert_close,
    examples,
    mlir_reproducer,
    optimize_and_run,
    reproducer_on_failure,
)
from torch_programs import ALL_RECIPES, build

MLIR_TARGETS = ("h100", "cpu", "flops")


def known_open_bug(recipe: dict, shapes) -> str | None:
    """Why a case would only re-find an open bug recorded in tests/regressions/.

    MIRAGE_FUZZ_KNOWN_BUGS=1 draws such cases anyway (to see whether a fix holds).
    """
    if os.environ.get("MIRAGE_FUZZ_KNOWN_BUGS") == "1":
        return None
    # No open bug at the moment; add a condition with the reproducer's name when one is found.
    return None


@contextlib.contextmanager
def _plain_einsum():
    """torch.einsum without opt_einsum: the contraction order is left to the optimiser."""
    import torch

    enabled = torch.backends.opt_einsum.enabled
    torch.backends.opt_einsum.enabled = False
    try:
        yield
    finally:
        torch.backends.opt_einsum.enabled = enabled


def check_recipe(test: str, recipe: dict, target: str, seed: int) -> None:
    """Import, optimise, run and compare one program (see the module docstring)."""
    import torch

    import mirage_mlir

    model, shapes, scale = build(recipe)
    assume(known_open_bug(recipe, shapes) is None)
    rng = np.random.default_rng(seed)
    example = [torch.from_numpy(rng.uniform(-scale, scale, s).astype(np.float32)) for s in shapes]
    fresh = [rng.uniform(-scale, scale, s).astype(np.float32) for s in shapes]
    with _plain_einsum():
        text = mirage_mlir.import_torch(model, *example)
        with torch.no_grad():
            out = model(*[torch.from_numpy(a).double() for a in fresh])
    expected = [o.numpy() for o in (out if isinstance(out, (tuple, list)) else (out,))]
    writer = mlir_reproducer(test, text, target, fresh, expected, repr(recipe))
    with reproducer_on_failure(test, writer):
        actual = optimize_and_run(text, target, fresh)
        assert_close(actual, expected, F32_ATOL, F32_RTOL, f"{recipe['family']} on {target}")


def _fuzz(family: str, ci_examples: int):
    """A property test of `family`: recipe x target x seed."""

    @settings(max_examples=examples(ci_examples))
    @given(ALL_RECIPES[family](), st.sampled_from(MLIR_TARGETS), st.integers(0, 2**16))
    def test(recipe, target, seed):
        check_recipe(f"test_fuzz_torch_{family}", recipe, target, seed)

    test.__name__ = f"test_fuzz_torch_{family}"
    return test


test_fuzz_torch_chain = _fuzz("chain", 4)
test_fuzz_torch_elementwise = _fuzz("elementwise", 4)
test_fuzz_torch_reduction = _fuzz("reduction", 4)
test_fuzz_torch_softmax = _fuzz("softmax", 4)
test_fuzz_torch_norm = _fuzz("norm", 4)
test_fuzz_torch_attention = _fuzz("attention", 4)
test_fuzz_torch_einsum = _fuzz("einsum", 4)
