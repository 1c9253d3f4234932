"""`convert-mirage-to-linalg`: every `mirage` op back to upstream linalg, tensor, arith, math.

`eqsat-optimize` writes its result with `mirage` ops (attention, softmax, the norms, matmuls
with broadcast batches or transposes, concat and slice) grouped into `mirage.kernel` regions.
This pass lowers all of them to upstream MLIR on tensors, so that the optimiser can sit inside
any MLIR flow: `eqsat-optimize,convert-mirage-to-linalg` reads and writes plain
linalg-on-tensors that MLIR's own parser and passes take, and that upstream MLIR's CPU JIT
(`mirage_mlir.execute_mlir`) runs. Kernel regions are inlined (the grouping has no upstream
form). Each op is lowered by its entry in `mirage_mlir.passes.to_linalg.LOWERINGS` to the
computation its reference semantics (`mirage_mlir.interpreters.mirage_numpy`) describes:
softmax and attention subtract the row maximum, f16 and bf16 are computed in f32 and rounded
once, grouped KV heads are read through index maps.

    mirage-mlir-opt model.mlir -p 'eqsat-optimize,convert-mirage-to-linalg'

Before (E6 after eqsat-optimize):

    func.func @main(%x: tensor<256x1024xf32>) -> tensor<256x1024xf32> {
      %s = mirage.softmax %x axis = -1 : tensor<256x1024xf32>
      func.return %s : tensor<256x1024xf32>
    }

After:

    func.func @main(%x: tensor<256x1024xf32>) -> tensor<256x1024xf32> {
      %0 = tensor.empty() : tensor<256xf32>
      %1 = linalg.fill ins(%cst : f32) outs(%0 : tensor<256xf32>) -> tensor<256xf32>   (-inf)
      %2 = linalg.generic {indexing_maps = [(d0, d1) -> (d0, d1), (d0, d1) -> (d0)],
                           iterator_types = ["parallel", "reduction"]}
             ins(%x : tensor<256x1024xf32>) outs(%1 : tensor<256xf32>) { arith.maximumf }
      %3 = linalg.generic ... ins(%x, %2 ...) { arith.subf, math.exp }
      %4 = linalg.generic ... ins(%3 ...) outs(<zeros> : tensor<256xf32>) { arith.addf }
      %5 = linalg.generic ... ins(%3, %4 ...) { arith.divf }
      func.return %5 : tensor<256x1024xf32>
    }

Ops of other dialects are left as they are. A mirage op with a dynamic shape, or of a kind
the table does not know, is a diagnostic naming the op.
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.builder import Builder, ImplicitBuilder
from xdsl.context import Context
from xdsl.dialects import builtin
from xdsl.ir import Operation, OpResult
from xdsl.passes import ModulePass
from xdsl.rewriter import InsertPoint, Rewriter
from xdsl.transforms.dead_code_elimination import would_be_trivially_dead

from mirage_mlir.dialects import mirage
from mirage_mlir.passes.to_linalg import LOWERINGS, LoweringError


@dataclass(frozen=True)
class ConvertMirageToLinalg(ModulePass):
    """Lower every mirage op and kernel group to upstream MLIR (see the module docstring)."""

    name = "convert-mirage-to-linalg"

    def apply(self, ctx: Context, op: builtin.ModuleOp) -> None:
        convert_module(op)


def convert_module(module: builtin.ModuleOp) -> None:
    """Lower every `mirage` op of `module` in place.

    Raises LoweringError (a DiagnosticException) naming the first op that cannot be lowered;
    the ops lowered before it stay lowered.
    """
    # Pre-order: a kernel is inlined before its body's ops are lowered where they land.
    pending = [op for op in module.walk() if op.name.startswith("mirage.")]
    for op in pending:
        if isinstance(op, mirage.YieldOp):
            continue  # consumed (erased) by its kernel's lowering
        lower_op(op)


def lower_op(op: Operation) -> None:
    """Replace one mirage op by its upstream form, and erase what only it used."""
    lowering = LOWERINGS.get(type(op))
    if lowering is None:
        raise LoweringError(f"{op.name}: no lowering to linalg is defined for this op")
    with ImplicitBuilder(Builder(InsertPoint.before(op))):
        values = list(lowering(op))
    if len(values) != len(op.results):
        raise LoweringError(
            f"{op.name}: the lowering gave {len(values)} values for {len(op.results)} results"
        )
    feeders = {v.op for v in op.operands if isinstance(v, OpResult)}
    for result, value in zip(op.results, values):
        if value is None:
            if result.uses:
                raise LoweringError(f"{op.name}: the lowering left a used result undefined")
            continue
        result.replace_all_uses_with(value)
    Rewriter.erase_op(op)
    for feeder in feeders:
        _erase_if_dead(feeder)


def _erase_if_dead(op: Operation) -> None:
    """Erase `op` when nothing uses it and it has no effects, then its feeders likewise.

    The lowering's own inputs can become dead (eqsat-optimize's constant running statistics
    for a batch_norm whose statistics are not returned, for instance).
    """
    if op.parent is None or any(r.uses for r in op.results) or not would_be_trivially_dead(op):
        return
    feeders = {v.op for v in op.operands if isinstance(v, OpResult)}
    Rewriter.erase_op(op)
    for feeder in feeders:
        _erase_if_dead(feeder)
