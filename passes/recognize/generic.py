"""`linalg.generic` as terms: elementwise expressions, reductions and contractions.

A generic is classified per result by its iterator types, indexing maps and body:

* all loops parallel: the body is an expression over the operands lifted into the iteration
  space (maps.py, body.py), laid out as the output map says. If the body reads its `out`
  argument, the output tensor is an operand of the expression.
* some loops reductions, and the result's yield combines a value with its accumulator by
  `addf`, `maximumf`/`maxnumf`, `minimumf`/`minnumf` (or `andi`/`ori` on i1):
  - a product of inputs added into the accumulator is a contraction: `Contract` (or MatMul)
    with the einsum spec read from the maps;
  - otherwise `reduce(expr, op, axes, keepdims)`, keeping the reduced axes as size 1 when the
    output map does (torch-mlir's `(d0, d1, d2) -> (d0, d1, 0)`);
  the init is dropped when it is the identity, and combined elementwise otherwise.

An op whose iteration space is empty (a loop of size 0: a reduction over no elements, a batch
of no rows) never runs its body: each result is its init, whatever the body says.

A result that fits none of these (softmax's i64 argmax, which reads `linalg.index`) is reported
as unrecognised on its own; the op's other results are still terms.

Example: E6's row sum

    %4 = linalg.generic {indexing_maps = [(d0, d1) -> (d0, d1), (d0, d1) -> (d0, 0)],
                         iterator_types = ["parallel", "reduction"]}
         ins(%1 : tensor<256x1024xf32>) outs(%3 : tensor<256x1xf32>)   // %3: fill 0
      { ^bb0(%in: f32, %out: f32): %6 = arith.addf %in, %out : f32 ... }

is `reduce(x, "sum", (1,), keepdims=True)`.
"""

from __future__ import annotations

from xdsl.dialects.linalg.attrs import IteratorType
from xdsl.ir import BlockArgument, OpResult, SSAValue

from mirage_mlir.dialects.linalg import GenericOp
from mirage_mlir.passes.eqsat.graph import Full, Node, reduce
from mirage_mlir.passes.recognize.body import BodyTranslator, Scalar, as_node, uses_only
from mirage_mlir.passes.recognize.constants import static_tensor_type
from mirage_mlir.passes.recognize.contraction import accumulate, einsum
from mirage_mlir.passes.recognize.maps import fill_space, lift, loop_sizes, map_dims, place
from mirage_mlir.passes.recognize.state import RecognitionState, Unrecognized

#: Accumulating body ops -> (reduction, element kind: "float" or "i1").
_COMBINERS = {
    "arith.addf": ("sum", "float"),
    "arith.maximumf": ("max", "float"),
    "arith.maxnumf": ("max", "float"),
    "arith.minimumf": ("min", "float"),
    "arith.minnumf": ("min", "float"),
    "arith.andi": ("min", "i1"),
    "arith.ori": ("max", "i1"),
}


def _is_empty(value: SSAValue) -> bool:
    return isinstance(value, OpResult) and value.op.name == "tensor.empty"


def recognize_generic(state: RecognitionState, op: GenericOp) -> list[Node | Unrecognized]:
    """One term per result of `op`, or the reason a result is not modelled.

    Raises Unrecognized when nothing of the op can be modelled (dynamic shapes, maps that are
    not projected permutations).
    """
    operands = list(op.inputs) + list(op.outputs)
    types = [static_tensor_type(v.type) for v in operands]
    if any(t is None for t in types):
        raise Unrecognized("an operand that is not a statically shaped tensor")
    shapes = [t[0] for t in types]  # type: ignore[index]
    maps = [m.data for m in op.indexing_maps.data]
    sizes = loop_sizes(maps, shapes)
    iterators = [it.data for it in op.iterator_types.data]
    reductions = [k for k, it in enumerate(iterators) if it == IteratorType.REDUCTION]
    if any(it not in (IteratorType.PARALLEL, IteratorType.REDUCTION) for it in iterators):
        raise Unrecognized("a loop that is neither parallel nor a reduction")
    if 0 in sizes:
        # Modelling the body instead would give the algebra a max over no elements, which
        # has no value without the init (and softmax or attention rules would then match).
        return [state.node(v) for v in op.outputs]

    block = op.body.block
    count = len(op.inputs)
    in_args, out_args = block.args[:count], block.args[count:]
    terminator = block.last_op
    assert terminator is not None
    yielded = list(terminator.operands)

    inputs: dict[BlockArgument, Node | Scalar] = {}
    for arg, value, amap in zip(in_args, op.inputs, maps):
        if arg.uses:
            inputs[arg] = lift(state.node(value), amap, sizes)

    results: list[Node | Unrecognized] = []
    for index in range(len(op.results)):
        try:
            if not reductions:
                term = _parallel(state, op, inputs, out_args, maps, sizes, yielded[index], index)
            else:
                term = _reduction(state, op, inputs, maps, sizes, reductions, yielded[index], index)
            results.append(term)
        except Unrecognized as reason:
            results.append(reason)
    return results


def _parallel(
    state: RecognitionState,
    op: GenericOp,
    inputs: dict[BlockArgument, Node | Scalar],
    out_args: tuple[BlockArgument, ...],
    maps: list,
    sizes: list[int],
    value: SSAValue,
    index: int,
) -> Node:
    """An all-parallel result: the body expression, laid out by the output map."""
    count = len(op.inputs)
    arguments = dict(inputs)
    block = op.body.block
    reads = [a for a in out_args if not uses_only(block, value, lambda b, a=a: b is not a)]
    for arg in reads:
        init = op.outputs[arg.index - count]
        if _is_empty(init):
            raise Unrecognized("the body reads an uninitialised output")
        arguments[arg] = lift(state.node(init), maps[arg.index], sizes)
    term = BodyTranslator(block, arguments).term(value)
    out_map = maps[count + index]
    shape = static_tensor_type(op.results[index].type)
    assert shape is not None
    if isinstance(term, Scalar):
        return Full(term.value, shape[0], shape[1])
    if term.dtype != shape[1]:
        raise Unrecognized(f"the body yields {term.dtype} for a {shape[1]} result")
    return place(fill_space(term, sizes), range(len(sizes)), out_map, shape[0])


def _reduction(
    state: RecognitionState,
    op: GenericOp,
    inputs: dict[BlockArgument, Node | Scalar],
    maps: list,
    sizes: list[int],
    reductions: list[int],
    value: SSAValue,
    index: int,
) -> Node:
    """A reduction result: a contraction, or a reduce of the body expression, plus the init."""
    count = len(op.inputs)
    block = op.body.block
    accumulator = block.args[count + index]
    if not isinstance(value, OpResult) or value.op.parent_block() is not block:
        raise Unrecognized("the result does not combine a value with its accumulator")
    combiner = value.op
    if combiner.name not in _COMBINERS or len(combiner.operands) != 2:
        raise Unrecognized(f"'{combiner.name}' is not a reduction the algebra models")
    reduction, kind = _COMBINERS[combiner.name]
    a, b = combiner.operands
    if b is accumulator:
        element = a
    elif a is accumulator:
        element = b
    else:
        raise Unrecognized("the result does not combine a value with its accumulator")
    in_args = set(block.args[:count])
    if not uses_only(block, element, lambda arg: arg in in_args):
        raise Unrecognized("the reduced value reads an accumulator (e.g. an argmax)")
    shape, dtype = static_tensor_type(op.results[index].type)  # type: ignore[misc]
    if (dtype == "i1") != (kind == "i1"):
        raise Unrecognized(f"'{combiner.name}' on {dtype}")
    out_map = maps[count + index]
    parallel = [k for k in range(len(sizes)) if k not in reductions]

    factors = None
    if reduction == "sum" and isinstance(element, OpResult) and element.op.name == "arith.mulf":
        factors = _product_factors(block, element, in_args)
    if factors is not None:
        spanned = {k for arg in factors for k in map_dims(maps[arg.index]) if k is not None}
        if len(spanned) != len(sizes):
            factors = None  # a loop no factor spans sums copies: leave it to reduce
    if factors is not None:
        nodes = [state.node(op.inputs[arg.index]) for arg in factors]
        term = einsum(nodes, [maps[arg.index] for arg in factors], out_map, shape)
        return accumulate(state, term, op.outputs[index], reduction)

    expr = BodyTranslator(block, dict(inputs)).term(element)
    full = fill_space(as_node(expr), sizes)
    if full.dtype != dtype:
        raise Unrecognized(f"the body reduces {full.dtype} into a {dtype} result")
    keepdims = [None if k in reductions else k for k in range(len(sizes))]
    if map_dims(out_map) == keepdims:
        term = reduce(full, reduction, reductions, keepdims=True)
    else:
        term = place(reduce(full, reduction, reductions), parallel, out_map, shape)
    return accumulate(state, term, op.outputs[index], reduction)


def _product_factors(block, value: SSAValue, in_args: set) -> list[BlockArgument] | None:
    """The input arguments whose product `value` is (a tree of mulf), or None."""
    if isinstance(value, BlockArgument):
        return [value] if value in in_args else None
    if not isinstance(value, OpResult) or value.op.parent_block() is not block:
        return None
    if value.op.name != "arith.mulf":
        return None
    left = _product_factors(block, value.op.operands[0], in_args)
    right = _product_factors(block, value.op.operands[1], in_args)
    if left is None or right is None:
        return None
    return left + right
