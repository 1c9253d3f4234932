"""The float64 twin of a linalg-on-tensors function: the reference `verify` judges against.

`widened_functions(module)` returns a copy of every function of `module` in which each
floating-point type narrower than f64 (f16, bf16, f32), in tensors and scalars alike, is f64:

- results and block arguments (the bodies of `linalg.generic` too) are retyped, and so is
  each function's signature; calls go to the widened callee (`@name__f64`);
- float constants are rewritten as the same values in f64 (`dense<...>` literals included);
  a `dense_resource` weight keeps its stored type and is widened by one converting generic
  right after it, so blobs are never re-encoded;
- `arith.extf` / `arith.truncf` between float types, which become f64 -> f64, are dropped:
  the rounding they stood for is exactly what the reference leaves out.

Every value that was exactly representable stays exact, so the widened function computes
the program the user wrote, with each rounding step, overflow and underflow of the narrow
types removed. An op whose meaning depends on a float type in a way this cannot carry over
(a bitcast, an attribute that names a narrow float type) raises WideningError: the caller
then has no float64 reference rather than a wrong one. MLIR's own verifier, when the module
is compiled, checks the rest.
"""

from __future__ import annotations

from collections.abc import Iterable

from xdsl.builder import ImplicitBuilder
from xdsl.dialects import arith, func, tensor
from xdsl.dialects.builtin import (
    AnyFloat,
    ArrayAttr,
    DenseIntOrFPElementsAttr,
    DenseResourceAttr,
    DictionaryAttr,
    Float64Type,
    FloatAttr,
    FunctionType,
    ModuleOp,
    StringAttr,
    SymbolRefAttr,
    TensorType,
)
from xdsl.ir import Attribute, Block, Operation, ParametrizedAttribute, SSAValue
from xdsl.rewriter import Rewriter

#: The suffix of a widened function's name.
SUFFIX = "__f64"

_F64 = Float64Type()


class WideningError(ValueError):
    """A function that cannot be widened to float64 faithfully (the message says why)."""


def widened_name(name: str) -> str:
    """The name of the float64 twin of function @name."""
    return name + SUFFIX


def widened_type(value_type: Attribute) -> Attribute:
    """`value_type` with a narrow float element type (or a narrow float scalar) made f64."""
    if _is_narrow_float(value_type):
        return _F64
    if isinstance(value_type, TensorType) and _is_narrow_float(value_type.get_element_type()):
        return TensorType(_F64, value_type.get_shape())
    return value_type


def _is_narrow_float(value_type: Attribute) -> bool:
    return isinstance(value_type, AnyFloat) and not isinstance(value_type, Float64Type)


def widened_functions(module: ModuleOp) -> list[func.FuncOp]:
    """Float64 twins (named `@name__f64`) of the functions of `module` that have a body.

    `module` itself is not changed. Raises WideningError naming the function and op that
    cannot be widened.
    """
    functions = [
        op for op in module.body.block.ops if isinstance(op, func.FuncOp) and op.body.blocks
    ]
    names = {fn.sym_name.data for fn in functions}
    twins = []
    for fn in functions:
        twin = fn.clone()
        _widen_function(twin, names)
        twins.append(twin)
    # Verified together, so that calls between them resolve.
    scratch = ModuleOp(twins)
    try:
        scratch.verify()
    except Exception as error:  # xDSL's verifiers raise several exception types
        raise WideningError(f"the float64 copy does not verify: {error}") from None
    finally:
        for twin in twins:
            twin.detach()
    return twins


def _widen_function(fn: func.FuncOp, names: set[str]) -> None:
    where = f"@{fn.sym_name.data}"
    fn.sym_name = StringAttr(widened_name(fn.sym_name.data))
    inputs, outputs = fn.function_type.inputs.data, fn.function_type.outputs.data
    fn.function_type = FunctionType.from_lists(
        [widened_type(t) for t in inputs], [widened_type(t) for t in outputs]
    )
    # Ops inserted here already compute in f64 (or read a stored narrow weight) and must not
    # be visited again.
    keep: set[int] = set()
    for op in list(fn.walk()):
        if isinstance(op, arith.ConstantOp) and isinstance(op.value, DenseResourceAttr):
            _widen_resource_constant(op, keep)
    for op in list(fn.walk()):
        if id(op) in keep or op is fn:
            continue
        _check_attributes(op, where)
        for region in op.regions:
            for block in region.blocks:
                for arg in block.args:
                    _retype(arg)
        for result in op.results:
            _retype(result)
        if isinstance(op, arith.ConstantOp):
            op.value = _widened_constant(op.value, where)
        elif isinstance(op, func.CallOp) and op.callee.root_reference.data in names:
            op.callee = SymbolRefAttr(widened_name(op.callee.root_reference.data))
        elif isinstance(op, arith.ExtFOp | arith.TruncFOp):
            if op.input.type == op.result.type:
                op.result.replace_all_uses_with(op.input)
                Rewriter.erase_op(op)
        elif isinstance(op, arith.BitcastOp) and (
            op.input.type != op.result.type or widened_type(op.input.type) != op.input.type
        ):
            raise WideningError(f"{where}: {op.name} reinterprets the bits of a float")
    for block in fn.body.blocks:
        for arg in block.args:
            _retype(arg)


def _retype(value: SSAValue) -> None:
    new = widened_type(value.type)
    if new != value.type:
        Rewriter.replace_value_with_new_type(value, new)


def _widened_constant(value: Attribute, where: str) -> Attribute:
    if isinstance(value, FloatAttr) and _is_narrow_float(value.type):
        return FloatAttr(value.value.data, _F64)
    if isinstance(value, DenseIntOrFPElementsAttr) and _is_narrow_float(value.get_element_type()):
        widened = widened_type(value.type)
        assert isinstance(widened, TensorType)
        values = [float(v) for v in value.get_values()]
        if values and all(v == values[0] or v != v and values[0] != values[0] for v in values):
            values = values[:1]  # a splat stays a splat (and prints as one)
        return DenseIntOrFPElementsAttr.from_list(widened, values)
    if _mentions_narrow_float(value):
        raise WideningError(f"{where}: cannot widen the constant {value}")
    return value


def _widen_resource_constant(op: arith.ConstantOp, keep: set[int]) -> None:
    """Convert a narrow `dense_resource` weight to f64 right after it is read."""
    from mirage_mlir.passes.emit.emit_elementwise import cast_scalar
    from mirage_mlir.passes.emit.structured import affine_map, generic

    stored = op.result.type
    wide = widened_type(stored)
    if wide == stored or not isinstance(wide, TensorType):
        keep.add(id(op))
        return
    shape = tuple(wide.get_shape())
    identity = affine_map(len(shape), list(range(len(shape))))
    staging = Block()
    with ImplicitBuilder(staging):
        init = tensor.EmptyOp([], wide).tensor
        (converted,) = generic(
            [op.result], [init], [identity, identity], ["parallel"] * len(shape),
            lambda args: [cast_scalar(args[0], _F64)],
        )
    new_ops = list(staging.ops)
    for new_op in new_ops:
        new_op.detach()
    block = op.parent_block()
    assert block is not None
    block.insert_ops_after(new_ops, op)
    inserted = {id(inner) for new_op in new_ops for inner in new_op.walk()}
    op.result.replace_uses_with_if(converted, lambda use: id(use.operation) not in inserted)
    keep.add(id(op))
    for new_op in new_ops:
        keep.update(id(inner) for inner in new_op.walk())


def _check_attributes(op: Operation, where: str) -> None:
    """Refuse an op whose attributes name a narrow float type (other than constants')."""
    if isinstance(op, arith.ConstantOp | func.FuncOp):
        return
    for attr in (*op.properties.values(), *op.attributes.values()):
        if _mentions_narrow_float(attr):
            raise WideningError(f"{where}: {op.name} has an attribute of a narrow float type: {attr}")


def _mentions_narrow_float(attr: Attribute) -> bool:
    if _is_narrow_float(attr):
        return True
    children: Iterable[Attribute]
    if isinstance(attr, ArrayAttr):
        children = attr.data
    elif isinstance(attr, DictionaryAttr):
        children = attr.data.values()
    elif isinstance(attr, ParametrizedAttribute):
        children = [p for p in attr.parameters if isinstance(p, Attribute)]
    else:
        return False
    return any(_mentions_narrow_float(child) for child in children)
