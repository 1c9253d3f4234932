"""Recognition of one `func.func`: its linalg-on-tensors body as a term graph.

`recognize_function` walks the function's ops in order and gives every tensor SSA value a
term of the tensor algebra (passes/eqsat/graph.py): block arguments become `Input`s named
`arg0`, `arg1`, ...; weights become `Constant`s; linalg, tensor and arith ops become the terms
of named.py, tensor_ops.py and generic.py. An op (or one result of an op) the algebra does not
model becomes an `Opaque` node whose operands are the terms of the op's tensor operands, so
the graph around it is still optimised; its other operands (scalars, index values) stay what
they are in the function, and re-emission clones the op. An op with side effects (effects.py)
is never cloned: each of its tensor results becomes an Opaque leaf with no operands, so it
stays exactly where it is, reading the values the original ops before it compute
(pinned.py).

    func.func @main(%arg0: tensor<100x2xf32>, %arg1: tensor<2x100xf32>, ...) {
      %0 = tensor.empty() : tensor<100x100xf32>
      %1 = linalg.fill ins(%cst : f32) outs(%0 : ...)
      %2 = linalg.matmul ins(%arg0, %arg1 : ...) outs(%1 : ...)     ->  arg0 @ arg1
      ...

The graph's outputs are the tensor operands of `func.return`, in order (a returned scalar
stays what the function computes it to be). Compile-time causal masks
(index arithmetic reading no argument) are then named as mask leaves (masks.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from xdsl.dialects import func as func_dialect
from xdsl.dialects import tensor
from xdsl.dialects.builtin import TensorType
from xdsl.dialects.func import FuncOp
from xdsl.dialects.linalg import ops as xdsl_linalg
from xdsl.ir import Operation, OpResult, SSAValue

from mirage_mlir.dialects.linalg import GenericOp
from mirage_mlir.passes.eqsat.graph import Graph, GraphError, Input, Node
from mirage_mlir.passes.recognize.constants import static_tensor_type
from mirage_mlir.passes.recognize.effects import has_side_effects
from mirage_mlir.passes.recognize.generic import recognize_generic
from mirage_mlir.passes.recognize.named import is_named, named_terms
from mirage_mlir.passes.recognize.pinned import pin, substitute_pinned
from mirage_mlir.passes.recognize.state import (
    RecognitionError,
    RecognitionState,
    Unrecognized,
    location_of,
)
from mirage_mlir.passes.recognize.tensor_ops import is_tensor_op, tensor_terms


@dataclass
class RecognizedFunction:
    """A function and the term graph of its body.

    `leaves` maps every Input and Constant name to the SSA value in `func` that holds it;
    `opaque_ops` maps every Opaque node name to the op and result index it stands for (the
    node's operands are the terms of that op's tensor operands, in operand order);
    `constant_values` holds the decoded value of every Constant whose data the module carries.
    `compute_ops` counts the function's compute ops: each linalg op except a fill of a
    `tensor.empty`, plus each other op that became opaque (the kernels before optimisation).
    `opaque_reasons` says, per Opaque node, why its op was not modelled.
    `output_positions` gives, per graph output, its position among `func.return`'s operands
    (None: every operand, in order).
    """

    func: FuncOp
    graph: Graph
    leaves: dict[str, SSAValue]
    opaque_ops: dict[str, tuple[Operation, int]]
    constant_values: dict[str, np.ndarray]
    compute_ops: int
    opaque_reasons: dict[str, str] = field(default_factory=dict)
    output_positions: tuple[int, ...] | None = None


def opaque_operands(op: Operation) -> list[SSAValue]:
    """The operands of `op` that are operands of its Opaque nodes: its tensor operands."""
    return [v for v in op.operands if isinstance(v.type, TensorType)]


def _is_fill_of_empty(op: Operation) -> bool:
    if not isinstance(op, xdsl_linalg.FillOp):
        return False
    init = op.outputs[0]
    return isinstance(init, OpResult) and isinstance(init.op, tensor.EmptyOp)


def _terms(state: RecognitionState, op: Operation) -> list[Node | Unrecognized]:
    """The term of each result of `op`, or why it has none."""
    try:
        if isinstance(op, GenericOp):
            return recognize_generic(state, op)
        if is_named(op):
            return list(named_terms(state, op))
        if is_tensor_op(op):
            return list(tensor_terms(state, op))
        reason = Unrecognized(f"'{op.name}' is not modelled")
    except Unrecognized as error:
        reason = error
    except GraphError as error:
        reason = Unrecognized(f"ill-typed term: {error}")
    return [reason] * len(op.results)


def _record(state: RecognitionState, op: Operation, terms: list[Node | Unrecognized]) -> bool:
    """Bind each result of `op` to its term or an Opaque node; True if any became opaque."""
    opaque = False
    for index, (result, term) in enumerate(zip(op.results, terms)):
        if not isinstance(result.type, TensorType):
            continue
        if isinstance(term, Node):
            typed = static_tensor_type(result.type)
            if typed == (term.shape, term.dtype):
                state.values[result] = term
                continue
            term = Unrecognized(f"recognised as {term.type}, but the result is {result.type}")
        inputs = tuple(state.node(v) for v in opaque_operands(op))
        state.make_opaque(op, index, inputs, str(term))
        opaque = True
    return opaque


def recognize_function(func: FuncOp) -> RecognizedFunction:
    """The term graph of `func` (see the module docstring).

    Raises RecognitionError, naming the place, for a function the graph cannot hold at all:
    several blocks, arguments or results that are tensors of dynamic shape.
    """
    if func.body.blocks.first is None or func.body.blocks.first is not func.body.blocks.last:
        raise RecognitionError(f"{location_of(func)}: @{func.sym_name.data} must have one block")
    block = func.body.block
    state = RecognitionState()
    inputs: list[Input] = []
    for position, arg in enumerate(block.args):
        if not isinstance(arg.type, TensorType):
            continue  # a scalar argument: ops that read it stay opaque
        typed = static_tensor_type(arg.type)
        if typed is None:
            raise RecognitionError(
                f"{location_of(func)}: argument {position} of @{func.sym_name.data} has type "
                f"{arg.type}; only statically shaped tensors of f16/bf16/f32/f64/i1/i32/i64 "
                "are supported"
            )
        node = Input(f"arg{position}", typed[0], typed[1])
        state.values[arg] = node
        state.leaves[node.name] = arg
        inputs.append(node)

    compute_ops = 0
    pinned: dict[int, Node] = {}
    outputs: list[Node] | None = None
    positions: tuple[int, ...] = ()
    for op in block.ops:
        state.number(op)
        if isinstance(op, func_dialect.ReturnOp):
            positions = tuple(
                i for i, v in enumerate(op.operands) if isinstance(v.type, TensorType)
            )
            outputs = [state.node(op.operands[i]) for i in positions]
            break
        linalg_compute = op.name.startswith("linalg.") and not _is_fill_of_empty(op)
        compute_ops += linalg_compute
        if isinstance(op, tensor.EmptyOp) or not any(
            isinstance(r.type, TensorType) for r in op.results
        ):
            continue
        if has_side_effects(op):
            pin(state, op, pinned)
            compute_ops += not linalg_compute
            continue
        if _record(state, op, _terms(state, op)) and not linalg_compute:
            compute_ops += 1
    if outputs is None:
        raise RecognitionError(f"{location_of(func)}: @{func.sym_name.data} has no func.return")
    from mirage_mlir.passes.recognize.masks import fold_causal_masks

    return fold_causal_masks(RecognizedFunction(
        func=func,
        graph=substitute_pinned(Graph(tuple(inputs), tuple(outputs)), pinned),
        leaves=state.leaves,
        opaque_ops=state.opaque_ops,
        constant_values=state.constant_values,
        compute_ops=compute_ops,
        opaque_reasons=state.opaque_reasons,
        output_positions=positions,
    ))

