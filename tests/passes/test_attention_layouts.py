"""Attention is found whichever layout the keys arrive in and wherever the scale sits.

A program may compute the scores as q @ k.transpose(-1, -2), or be handed the keys already
transposed (Kt of shape [b, d, n] or [b, h, d, n]) and compute q @ Kt; the scale may multiply
the scores, q or Kt. Each form below is imported with torch-mlir and optimised for the h100
with verification; then:

- the optimised function holds exactly one `mirage.attention`, in one kernel, and no
  seq x seq tensor (the score matrix is gone);
- it lowers with `convert-mirage-to-triton` (the attention kernel reads Kt through the
  transpose as a strided view) and the launch plan, run in the NumPy tt interpreter, matches
  eager PyTorch.

Shapes are small (seq 64, head 32) so that the interpreter stays quick.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pytest

pytest.importorskip("torch_mlir")

import torch  # noqa: E402

SEQ, HEAD = 64, 32
SCALE = HEAD**-0.5
TOLERANCE = 1e-4
NARROW_TOLERANCE = 2.0**-7


def _future(seq: int) -> torch.Tensor:
    """True where key j lies after query i (the positions a causal mask hides)."""
    return torch.ones(seq, seq, dtype=torch.bool).triu(diagonal=1)


class KTransposed(torch.nn.Module):
    """(a) softmax(s·(q @ kᵀ)) @ v, the transpose written in the program."""

    def forward(self, q, k, v):
        return torch.softmax((q @ k.transpose(-1, -2)) * SCALE, dim=-1) @ v


class ScoresScaled(torch.nn.Module):
    """(b, c) softmax(s·(q @ kt)) @ v with kt = kᵀ passed in."""

    def forward(self, q, kt, v):
        return torch.softmax((q @ kt) * SCALE, dim=-1) @ v


class KeysScaled(torch.nn.Module):
    """(c) softmax(q @ (s·kt)) @ v."""

    def forward(self, q, kt, v):
        return torch.softmax(q @ (kt * SCALE), dim=-1) @ v


class QueriesScaled(torch.nn.Module):
    """(c) softmax((s·q) @ kt) @ v."""

    def forward(self, q, kt, v):
        return torch.softmax((q * SCALE) @ kt, dim=-1) @ v


class SplitScale(torch.nn.Module):
    """(c) softmax((√s·q) @ (√s·kt)) @ v, the scale split as SDPA's decomposition splits it."""

    def forward(self, q, kt, v):
        root = SCALE**0.5
        return torch.softmax((q * root) @ (kt * root), dim=-1) @ v


class Unscaled(torch.nn.Module):
    """softmax(q @ kt) @ v."""

    def forward(self, q, kt, v):
        return torch.softmax(q @ kt, dim=-1) @ v


class CausalMaskedFill(torch.nn.Module):
    """(d) softmax(masked_fill(s·(q @ kt), future, -inf)) @ v."""

    def forward(self, q, kt, v):
        scores = (q @ kt) * SCALE
        scores = scores.masked_fill(_future(q.shape[-2]), float("-inf"))
        return torch.softmax(scores, dim=-1) @ v


class CausalWhere(torch.nn.Module):
    """(d) softmax(where(allowed, q @ (s·kt), -inf)) @ v."""

    def forward(self, q, kt, v):
        scores = q @ (kt * SCALE)
        allowed = ~_future(q.shape[-2])
        return torch.softmax(torch.where(allowed, scores, float("-inf")), dim=-1) @ v


@dataclass(frozen=True)
class Case:
    """A module, the batch axes of its operands, and whether its keys come transposed."""

    model: Callable[[], torch.nn.Module]
    batch: tuple[int, ...]
    transposed: bool = True
    dtype: str = "float32"


CASES = {
    "k-transpose-3d": Case(KTransposed, (2,), transposed=False),
    "kt-3d": Case(ScoresScaled, (2,)),
    "kt-4d": Case(ScoresScaled, (1, 2)),
    "kt-scale-on-kt": Case(KeysScaled, (2,)),
    "kt-scale-on-q": Case(QueriesScaled, (1, 2)),
    "kt-scale-split": Case(SplitScale, (2,)),
    "kt-unscaled": Case(Unscaled, (2,)),
    "kt-causal-masked-fill": Case(CausalMaskedFill, (1, 2)),
    "kt-causal-where": Case(CausalWhere, (2,)),
}

#: Imported narrow: torch-mlir widens the softmax to f32 around it (the widened rules).
NARROW_CASES = {
    "kt-4d-f16": Case(ScoresScaled, (1, 2), dtype="float16"),
    "kt-causal-bf16": Case(CausalMaskedFill, (2,), dtype="bfloat16"),
}


def _inputs(case: Case) -> tuple[torch.Tensor, ...]:
    generator = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(*case.batch, SEQ, HEAD, generator=generator) for _ in range(3))
    key = k.transpose(-1, -2).contiguous() if case.transposed else k
    dtype = getattr(torch, case.dtype)
    return tuple(x.to(dtype) for x in (q, key, v))


@functools.cache
def _optimised(name: str):
    """(case, inputs, imported text, optimisation result) for case `name`."""
    import mirage_mlir

    case = {**CASES, **NARROW_CASES}[name]
    inputs = _inputs(case)
    text = mirage_mlir.import_torch(case.model(), *inputs)
    return case, inputs, text, mirage_mlir.optimize(text, target="h100", verify=True)


def _check_one_attention(name: str) -> None:
    _, _, text, result = _optimised(name)
    (entry,) = result.report["functions"]
    assert entry["verified"]
    assert re.search(rf"tensor<[0-9x]*{SEQ}x{SEQ}x", text), "the import has a score matrix"
    optimised = result.mlir
    assert optimised.count("mirage.attention") == 1
    assert "mirage.softmax" not in optimised and "matmul" not in optimised
    assert not re.search(rf"tensor<[0-9x]*{SEQ}x{SEQ}x", optimised), "a seq x seq tensor is left"
    assert entry["kernels_after"] == 1 < entry["kernels_before"]
    assert entry["cost_after_s"] < entry["cost_before_s"]


def _arrays(inputs) -> list[np.ndarray]:
    """The inputs as the interpreters hold them (bf16 as float32 with bf16 values)."""
    return [x.float().numpy() if x.dtype == torch.bfloat16 else x.numpy() for x in inputs]


def _check_lowered(name: str, tolerance: float) -> None:
    from mirage_mlir.lowering.program import lower_module, run_plan_interpreted

    case, inputs, _, result = _optimised(name)
    lowered = lower_module(result.mlir, arch=90)
    assert len(lowered.launches()) == 1
    (actual,) = run_plan_interpreted(lowered, *_arrays(inputs))
    with torch.no_grad():
        expected = case.model()(*inputs).double().numpy()
    scale = max(1.0, float(np.abs(expected).max()))
    assert np.abs(actual.astype(np.float64) - expected).max() <= tolerance * scale


@pytest.mark.parametrize("name", CASES)
def test_one_attention_without_score_matrix(name):
    _check_one_attention(name)


@pytest.mark.parametrize("name", CASES)
def test_lowered_attention_matches_torch(name):
    _check_lowered(name, TOLERANCE)


def test_transposed_keys_become_a_transpose_read_by_the_attention_kernel():
    # The kernel reads Kt itself: K = mt(Kt) is a view inside the attention kernel.
    _, _, _, result = _optimised("kt-3d")
    kernel = re.search(r'mirage\.kernel \(([^)]*)\).*template = "attention"', result.mlir)
    assert kernel is not None
    assert "%arg1" in kernel.group(1)
    assert "linalg.transpose" in result.mlir


@pytest.mark.slow
@pytest.mark.parametrize("name", NARROW_CASES)
def test_narrow_import_becomes_one_attention(name):
    _check_one_attention(name)
    _check_lowered(name, NARROW_TOLERANCE)
