"""The elementwise kind: one arithmetic operation applied with NumPy broadcasting.

    kind          attrs    operands
    elementwise   (op,)    operands    op one of ELEMENTWISE_NUMPY, with its arity of operands

Comparisons give i1; `where` takes an i1 condition. Each operation computes in its
operands' type and rounds once, as torch's elementwise kernels do (bf16 is rounded after
every node by `evaluate`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from mirage_mlir.passes.eqsat.kinds.kind import EncodeContext, ENodeChildren, Kind
from mirage_mlir.passes.eqsat.type_rules import (
    COMPARISONS,
    ELEMENTWISE_ARITY,
    GraphError,
    TensorType,
    broadcast_shapes,
    same_dtype,
)


def _erf(x: np.ndarray) -> np.ndarray:
    from scipy.special import erf

    return erf(x).astype(x.dtype)


#: The NumPy meaning of every elementwise operation (ELEMENTWISE_ARITY gives its arity).
ELEMENTWISE_NUMPY: dict[str, Callable[..., np.ndarray]] = {
    "neg": np.negative,
    "abs": np.abs,
    "exp": np.exp,
    "log": np.log,
    "tanh": np.tanh,
    "sqrt": np.sqrt,
    "rsqrt": lambda x: np.reciprocal(np.sqrt(x)),
    "reciprocal": np.reciprocal,
    "sigmoid": lambda x: np.reciprocal(1 + np.exp(-x)),
    "erf": _erf,
    "sin": np.sin,
    "cos": np.cos,
    "relu": lambda x: np.maximum(x, np.zeros((), x.dtype)),
    "add": np.add,
    "sub": np.subtract,
    "mul": np.multiply,
    "div": np.divide,
    "max": np.maximum,
    "min": np.minimum,
    "pow": np.power,
    "gt": np.greater,
    "ge": np.greater_equal,
    "lt": np.less,
    "le": np.less_equal,
    "eq": np.equal,
    "ne": np.not_equal,
    "where": np.where,
}


def _elementwise_type(attrs: tuple, operands: Sequence[TensorType]) -> TensorType:
    (op,) = attrs
    if op not in ELEMENTWISE_ARITY:
        raise GraphError(f"elementwise: unknown operation {op!r}")
    if len(operands) != ELEMENTWISE_ARITY[op]:
        raise GraphError(f"elementwise {op}: takes {ELEMENTWISE_ARITY[op]} operands")
    shape = broadcast_shapes([t.shape for t in operands], f"elementwise {op}")
    if op == "where":
        if operands[0].dtype != "i1":
            raise GraphError("elementwise where: the condition must be i1")
        return TensorType(shape, same_dtype(operands[1:], "elementwise where"))
    dtype = same_dtype(operands, f"elementwise {op}")
    return TensorType(shape, "i1" if op in COMPARISONS else dtype)


def _encode(node, terms: list, context: EncodeContext):
    from mirage_mlir.passes.eqsat.language import Tensor, args_term

    return Tensor.elementwise(node.attrs[0], args_term(terms))


def _decode(e: ENodeChildren) -> tuple[str, tuple, list[str]]:
    return "elementwise", (e.literal(0),), e.tensors(1)


ELEMENTWISE = Kind(
    name="elementwise",
    attrs=("op",),
    type_rule=_elementwise_type,
    semantics=lambda attrs, args: ELEMENTWISE_NUMPY[attrs[0]](*args),
    work=lambda attrs, operands, result: (result.numel, "vector"),
    encode=_encode,
    decoders={"elementwise": _decode},
    emit="mirage_mlir.passes.emit.emit_elementwise:emit_elementwise",
    per_element=True,
)

KINDS = (ELEMENTWISE,)
