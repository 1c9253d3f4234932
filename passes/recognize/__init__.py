"""Recognition: torch-mlir's linalg on tensors as a term graph of the tensor algebra.

`recognize_function(func)` maps one `func.func` to a `Graph` (passes/eqsat/graph.py) whose
inputs are the function's arguments and whose outputs are its returned values; ops the algebra
does not model become Opaque nodes. `opaque_evaluators` gives NumPy implementations of those
nodes (by interpreting the original ops), so a recognised graph can be checked numerically.
"""

from mirage_mlir.passes.recognize.function import (
    RecognizedFunction,
    opaque_operands,
    recognize_function,
)
from mirage_mlir.passes.recognize.reference import opaque_evaluators
from mirage_mlir.passes.recognize.state import RecognitionError

__all__ = [
    "RecognitionError",
    "RecognizedFunction",
    "opaque_evaluators",
    "opaque_operands",
    "recognize_function",
]
