"""Helpers of the bad-input tests, as the fixture `helpers`: run the tool, compare programs on
random inputs, list the ops with side effects of a function in order."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

TOOL = Path(sys.executable).with_name("mirage-mlir-opt")


def run_tool(path: Path, *arguments: str) -> subprocess.CompletedProcess:
    """`mirage-mlir-opt path arguments...` as a user runs it (a subprocess)."""
    command = [str(TOOL)] if TOOL.exists() else [sys.executable, "-m", "mirage_mlir.tools.mirage_mlir_opt"]
    return subprocess.run(
        [*command, str(path), *arguments],
        capture_output=True, text=True, timeout=300, env=dict(os.environ),
    )


def parse(text: str, unregistered: bool = False):
    """The module of `text`, with ops of unknown dialects allowed when asked."""
    from mirage_mlir.dialects.context import mirage_context, parse_mlir

    ctx = mirage_context()
    ctx.allow_unregistered = unregistered
    return parse_mlir(text, ctx=ctx)


def function(module, name: str = "main"):
    """`func.func @name` of `module`."""
    from xdsl.dialects import func

    return next(
        op for op in module.walk() if isinstance(op, func.FuncOp) and op.sym_name.data == name
    )


def effect_ops(text: str, name: str = "main", unregistered: bool = False) -> list[str]:
    """The ops with side effects of @name's body, in order, as op names."""
    from mirage_mlir.passes.recognize.effects import has_side_effects

    from xdsl.dialects.builtin import UnregisteredOp

    fn = function(parse(text, unregistered), name)
    return [
        op.op_name.data if isinstance(op, UnregisteredOp) else op.name
        for op in fn.body.block.ops
        if has_side_effects(op) and op.name != "func.return"
    ]


def element_types(text: str) -> set[str]:
    """The element types of every tensor type written in `text`."""
    import re

    return set(re.findall(r"tensor<(?:[0-9?]+x)*([a-z]+[0-9]*)>", text))


def same_results(
    original: str, optimized: str, name: str = "main", rtol: float = 1e-4, atol: float = 1e-4,
    seeds: tuple[int, ...] = (0, 1),
) -> float:
    """Run @name of both programs on the same random inputs; assert they agree; return the
    largest absolute difference.

    The original runs through MLIR's execution engine (linalg semantics), the optimised one
    through the NumPy semantics of mirage + linalg.
    """
    from mirage_mlir.passes.emit.verify import random_arguments, run_original, run_with_weights

    module = parse(optimized)
    worst = 0.0
    for seed in seeds:
        arrays = random_arguments(function(module, name), seed)
        expected = run_original(original, name, [a.copy() for a in arrays])
        got = run_with_weights(module, name, [a.copy() for a in arrays])
        assert len(got) == len(expected)
        for g, e in zip(got, expected):
            g, e = np.asarray(g, np.float64), np.asarray(e, np.float64)
            assert g.shape == e.shape
            np.testing.assert_allclose(g, e, rtol=rtol, atol=atol)
            if g.size:
                finite = np.isfinite(e)
                worst = max(worst, float(np.abs(g[finite] - e[finite]).max(initial=0.0)))
    return worst


@pytest.fixture
def helpers() -> SimpleNamespace:
    """The functions of this module, for the tests beside it."""
    return SimpleNamespace(
        run_tool=run_tool,
        parse=parse,
        function=function,
        effect_ops=effect_ops,
        element_types=element_types,
        same_results=same_results,
    )
