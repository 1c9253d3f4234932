"""NumPy implementations of a recognised function's Opaque nodes, by interpreting their ops.

`evaluate(graph, values, opaque=opaque_evaluators(recognized))` then runs the whole graph: each
opaque op runs on the mirage interpreter (interpreters/mirage.py) with its tensor operands
taken from the graph and its other operands (scalar constants) computed from the function.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
from xdsl.dialects import tensor
from xdsl.dialects.builtin import ModuleOp, TensorType
from xdsl.ir import BlockArgument, Operation, OpResult, SSAValue

from mirage_mlir.passes.eqsat.evaluate import NUMPY_DTYPES
from mirage_mlir.passes.recognize.constants import static_tensor_type
from mirage_mlir.passes.recognize.function import RecognizedFunction
from mirage_mlir.passes.recognize.state import RecognitionError, location_of


def opaque_evaluators(recognized: RecognizedFunction) -> dict[str, Callable[..., np.ndarray]]:
    """A NumPy function per Opaque node name of `recognized.graph`."""
    from mirage_mlir.interpreters.mirage import mirage_interpreter

    module = recognized.func.parent_op()
    while module is not None and not isinstance(module, ModuleOp):
        module = module.parent_op()
    interpreter = mirage_interpreter(module if module is not None else ModuleOp([]))
    scalars: dict[SSAValue, object] = {}

    def scalar(value: SSAValue) -> object:
        if value in scalars:
            return scalars[value]
        if isinstance(value, BlockArgument) or not isinstance(value, OpResult):
            raise RecognitionError(f"the scalar {value} is an argument, not a constant")
        args = tuple(scalar(v) for v in value.op.operands)
        result = interpreter.run_op(value.op, args)[value.index]
        scalars[value] = result
        return result

    def make(op: Operation, index: int) -> Callable[..., np.ndarray]:
        def run(*arrays: np.ndarray) -> np.ndarray:
            result = op.results[index]
            if isinstance(op, tensor.EmptyOp):
                shape, dtype = static_tensor_type(result.type)  # type: ignore[misc]
                return np.zeros(shape, NUMPY_DTYPES[dtype])
            tensors = iter(arrays)
            args = tuple(
                next(tensors) if isinstance(v.type, TensorType) else scalar(v) for v in op.operands
            )
            try:
                return np.asarray(interpreter.run_op(op, args)[index])
            except Exception as error:  # the interpreter's own errors carry no place
                raise RecognitionError(f"{location_of(op)}: cannot interpret '{op.name}': {error}") from error

        return run

    return {name: make(op, index) for name, (op, index) in recognized.opaque_ops.items()}
