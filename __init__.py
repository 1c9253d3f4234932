"""mirage-mlir: a superoptimizer for tensor programs.

Import a PyTorch model through torch-mlir into linalg on tensors, find the
cheapest equivalent program by equality saturation, and lower it to Triton
kernels.  The public API is re-exported here; heavy dependencies (torch-mlir,
triton) are imported only by the functions that need them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = ["__version__", "import_torch", "execute_mlir", "optimize", "compile", "load"]

if TYPE_CHECKING:
    import numpy

    from mirage_mlir.driver.compile import CompiledModule
    from mirage_mlir.driver.optimize import OptimizeResult


def import_torch(model: Any, *example_inputs: Any, dynamic_shapes: Any = None) -> str:
    """Import a PyTorch module as linalg-on-tensors MLIR text (static shapes).

    See `mirage_mlir.driver.importer.import_torch`.
    """
    from mirage_mlir.driver.importer import import_torch as _import_torch

    return _import_torch(model, *example_inputs, dynamic_shapes=dynamic_shapes)


def execute_mlir(
    mlir_text: str, *arrays: "numpy.ndarray", function: str = "main"
) -> "list[numpy.ndarray]":
    """Run a linalg-on-tensors function on the CPU through MLIR's execution engine.

    See `mirage_mlir.driver.executor.execute_mlir`.
    """
    from mirage_mlir.driver.executor import execute_mlir as _execute_mlir

    return _execute_mlir(mlir_text, *arrays, function=function)


def optimize(
    mlir_text: str, target: str = "h100", verify: bool = False, **limits: Any
) -> "OptimizeResult":
    """Optimise linalg-on-tensors MLIR by equality saturation (the `eqsat-optimize` pass).

    See `mirage_mlir.driver.optimize.optimize`.
    """
    from mirage_mlir.driver.optimize import optimize as _optimize

    return _optimize(mlir_text, target=target, verify=verify, **limits)


def compile(model: Any, *example_inputs: Any, **options: Any) -> "CompiledModule":  # noqa: A001
    """Import, optimise, lower and compile a model; returns a callable `CompiledModule`.

    See `mirage_mlir.driver.compile.compile`.
    """
    from mirage_mlir.driver.compile import compile as _compile

    return _compile(model, *example_inputs, **options)


def load(directory: Any, model: Any = None) -> "CompiledModule":
    """Load a `CompiledModule` saved with `.save(directory)` (torch-mlir not needed).

    See `mirage_mlir.driver.compile.load`.
    """
    from mirage_mlir.driver.compile import load as _load

    return _load(directory, model=model)
