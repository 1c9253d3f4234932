"""The CPU runtime's torch forms of torch-mlir's `tm_tensor` ops that models emit.

- `tm_tensor.scan` (torch's cumsum, cumprod, cummax, cummin): the region combines the
  running value with the next element by one arith op, which names the torch scan. An
  inclusive scan starts from the first element; an exclusive one from the accumulator given
  as the second `outs` operand, shifting the elements by one. The second result is the last
  value of the scan along the dimension (the accumulator out).
- `tm_tensor.sort` (torch.sort, argsort): the comparator compares the first `outs`
  operand's left and right elements with `<` or `>` (arith.cmpf/cmpi); every `outs` operand
  is permuted by the stable order that comparison gives, as torch-mlir sorts values and their
  indices together.

Any other region raises a TorchExecutorError naming the op and what it holds.
"""

from __future__ import annotations

from typing import Any, Callable

from xdsl.ir import Operation

from mirage_mlir.driver.torch_generic import TorchExecutorError

__all__ = ["TM_TENSOR_BUILDERS"]

#: The arith op combining a scan's running value with the next element -> torch scan.
_SCANS = {
    "arith.addi": "cumsum",
    "arith.addf": "cumsum",
    "arith.muli": "cumprod",
    "arith.mulf": "cumprod",
    "arith.maxsi": "cummax",
    "arith.maxui": "cummax",
    "arith.maximumf": "cummax",
    "arith.maxnumf": "cummax",
    "arith.minsi": "cummin",
    "arith.minui": "cummin",
    "arith.minimumf": "cummin",
    "arith.minnumf": "cummin",
}

#: Comparison predicates of a sort comparator that put the smaller element first.
_ASCENDING = {"olt", "ult", "slt", "ole", "ule", "sle"}
#: ... and those that put the larger one first.
_DESCENDING = {"ogt", "ugt", "sgt", "oge", "uge", "sge"}


def _body_ops(op: Operation) -> list[Operation]:
    return list(op.regions[0].block.ops)[:-1]


def _region_text(op: Operation) -> str:
    return "; ".join(o.name for o in _body_ops(op)) or "nothing"


def _scan(op: Any, constants: dict) -> tuple[Callable, list]:
    import torch

    body = _body_ops(op)
    block = op.regions[0].block
    if (
        len(body) != 1
        or body[0].name not in _SCANS
        or set(body[0].operands) != set(block.args)
    ):
        raise TorchExecutorError(
            f"the CPU runtime cannot run tm_tensor.scan combining by {_region_text(op)}"
        )
    function = getattr(torch, _SCANS[body[0].name])
    dim = op.dimension.value.data
    inclusive = op.inclusive.value.data
    (source,) = op.inputs
    out, accumulator = op.outputs

    def run(x: Any, init: Any) -> tuple:
        if not inclusive:
            # out[0] = init, out[i] = out[i-1] (+) x[i-1]
            head = init.unsqueeze(dim).to(x.dtype)
            x = torch.cat([head, x.narrow(dim, 0, x.shape[dim] - 1)], dim=dim)
        result = function(x, dim=dim)
        if isinstance(result, tuple):  # cummax and cummin return (values, indices)
            result = result[0]
        last = result.select(dim, result.shape[dim] - 1) if result.shape[dim] else init
        return (result, last.to(init.dtype))

    return run, [source, accumulator]


def _sort(op: Any, constants: dict) -> tuple[Callable, list]:
    import torch

    body = _body_ops(op)
    block = op.regions[0].block
    compare = body[-1] if body else None
    predicate = None
    if (
        compare is not None
        and compare.name in ("arith.cmpf", "arith.cmpi")
        and len(body) == 1
    ):
        left, right = compare.operands
        names = _predicate_name(compare)
        if (left, right) == (block.args[0], block.args[1]):
            predicate = names
        elif (left, right) == (block.args[1], block.args[0]):
            predicate = _swapped(names)
    if predicate not in _ASCENDING | _DESCENDING or op.inputs:
        raise TorchExecutorError(
            f"the CPU runtime cannot run tm_tensor.sort with the comparator {_region_text(op)}"
        )
    descending = predicate in _DESCENDING
    dim = op.dimension.value.data

    def run(*outs: Any) -> tuple:
        order = torch.sort(outs[0], dim=dim, descending=descending, stable=True).indices
        return tuple(torch.gather(o, dim, order) for o in outs)

    return run, list(op.outputs)


def _predicate_name(compare: Any) -> str:
    from xdsl.dialects import arith

    value = compare.predicate.value.data
    table = (
        arith.CMPF_COMPARISON_OPERATIONS
        if compare.name == "arith.cmpf"
        else (arith.CMPI_COMPARISON_OPERATIONS)
    )
    return table[value]


def _swapped(predicate: str) -> str:
    """The predicate with its operands exchanged (a < b is b > a)."""
    flips = {"lt": "gt", "gt": "lt", "le": "ge", "ge": "le"}
    return predicate[0] + flips.get(predicate[1:], predicate[1:])


TM_TENSOR_BUILDERS: dict[str, Callable[[Any, dict], tuple[Callable, list]]] = {
    "tm_tensor.scan": _scan,
    "tm_tensor.sort": _sort,
}
"""Op name -> builder of its torch closure (the signature of `torch_executor`'s builders)."""
