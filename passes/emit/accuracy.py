"""Judging an optimised output, and the original's, against a float64 reference.

For every element, the error of a value x against the reference r (the original program
evaluated in float64) is

    |x - r|    where r, rounded to the output's element type, is finite and x is finite;
    0          where both are the same infinity, or both NaN;
    infinity   otherwise (x overflowed or is NaN where r is a number, or the other way round).

Tolerances are those of the output's element type (atol + rtol * |r|). The optimised value
passes where its error is at most the original's error plus the tolerance: it may be more
accurate than the original by any amount (a stable rewrite of an overflowing program), never
less accurate by more than the rounding the tolerance allows. In particular it fails where it
is infinite or NaN and the original was finite. When the reference is the original itself
(no float64 twin could be built), the original's error is 0 everywhere it is defined, and this
reduces to "within the tolerance of the original, with the same infinities and NaNs".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class OutputCheck:
    """One output of a function, against the reference (counts are numbers of elements)."""

    elements: int
    #: Largest |optimised - reference| where both are finite.
    max_abs_error: float
    #: Largest |original - reference| where both are finite.
    original_max_abs_error: float
    #: The original is inf or NaN where the reference (in the output's type) is finite.
    original_nonfinite: int
    #: The original is outside the tolerance of the reference (non-finite ones included).
    original_wrong: int
    optimized_nonfinite: int
    optimized_wrong: int
    #: The optimised is less accurate than the original by more than the tolerance.
    failed: int
    #: The largest error of the failing elements (inf when one is non-finite), else 0.
    worst_failure: float
    #: The original's error at that element.
    worst_failure_original: float

    def as_dict(self) -> dict[str, float | int]:
        """The fields, for a JSON report."""
        return dict(self.__dict__)


def rounded_to(reference: np.ndarray, dtype: str | None) -> np.ndarray:
    """The float64 reference as the output's element type holds it (as float64 again)."""
    with np.errstate(over="ignore", invalid="ignore"):
        if dtype == "f16":
            return reference.astype(np.float16).astype(np.float64)
        if dtype == "f32":
            return reference.astype(np.float32).astype(np.float64)
        if dtype == "bf16":
            from mirage_mlir.interpreters.mirage_numpy import round_to_bfloat16

            return round_to_bfloat16(reference.astype(np.float32)).astype(np.float64)
    return reference


def elementwise_error(value: np.ndarray, reference: np.ndarray, held: np.ndarray) -> np.ndarray:
    """The error of each element of `value` (see the module docstring); `held` is the
    reference rounded to the output's type."""
    x = value.astype(np.float64)
    finite = np.isfinite(held) & np.isfinite(reference)
    with np.errstate(invalid="ignore", over="ignore"):
        distance = np.where(finite & np.isfinite(x), np.abs(x - reference), np.inf)
        same_special = (np.isnan(x) & np.isnan(held)) | (~np.isnan(held) & (x == held))
    return np.where(finite, distance, np.where(same_special, 0.0, np.inf))


def judge_output(
    optimized: np.ndarray,
    original: np.ndarray,
    reference: np.ndarray,
    dtype: str | None,
    rtol: float,
    atol: float,
) -> OutputCheck:
    """Errors of the optimised output and of the original against the reference."""
    reference = reference.astype(np.float64)
    held = rounded_to(reference, dtype)
    err_opt = elementwise_error(optimized, reference, held)
    err_orig = elementwise_error(original, reference, held)
    with np.errstate(invalid="ignore"):
        tolerance = atol + rtol * np.where(np.isfinite(reference), np.abs(reference), 0.0)
    defined = np.isfinite(held)
    failing = err_opt > err_orig + tolerance
    worst, worst_original = 0.0, 0.0
    if failing.any():
        index = int(np.argmax(np.where(failing, err_opt, -1.0)))
        worst = float(err_opt.flat[index])
        worst_original = float(err_orig.flat[index])
    return OutputCheck(
        elements=int(reference.size),
        max_abs_error=_finite_max(err_opt),
        original_max_abs_error=_finite_max(err_orig),
        original_nonfinite=int((defined & ~np.isfinite(original.astype(np.float64))).sum()),
        original_wrong=int((err_orig > tolerance).sum()),
        optimized_nonfinite=int((defined & ~np.isfinite(optimized.astype(np.float64))).sum()),
        optimized_wrong=int((err_opt > tolerance).sum()),
        failed=int(failing.sum()),
        worst_failure=worst,
        worst_failure_original=worst_original,
    )


def _finite_max(errors: np.ndarray) -> float:
    finite = errors[np.isfinite(errors)]
    return float(finite.max()) if finite.size else 0.0
