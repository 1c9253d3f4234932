"""The `convert-mirage-to-triton` pass: kernels in Triton's dialect and a launch plan.

Every `mirage.kernel` and every remaining compute op of each `func.func`
becomes one `tt.func` kernel, placed in the same module after the host
functions.  The host function becomes a launch plan (the `plan` dialect):
`plan.alloc` for each buffer a kernel writes, `plan.launch` per kernel in
program order, with grids and buffers; weights stay `arith.constant`s and
reshapes stay as views.  Buffers whose last reader has run give their slot
to later buffers of the same size.  Ops that read only weights are computed
at compile time first (`passes/fold_compile_time.py`) and launch nothing.

Before:

```mlir
func.func @main(%x: tensor<256x1024xf32>) -> tensor<256x1024xf32> {
  %y = mirage.softmax %x axis = -1 : tensor<256x1024xf32>
  func.return %y : tensor<256x1024xf32>
}
```

After (the kernel body elided):

```mlir
func.func @main(%x: tensor<256x1024xf32>) -> tensor<256x1024xf32> {
  %y = plan.alloc slot 0 : tensor<256x1024xf32>
  plan.launch @main_row_reduction_0 grid [256, 1, 1] ins(%x : tensor<256x1024xf32>) outs(%y : tensor<256x1024xf32>)
  func.return %y : tensor<256x1024xf32>
}
tt.func public @main_row_reduction_0(%arg0: !tt.ptr<f32> {tt.divisibility = 16 : i32}, %arg1: !tt.ptr<f32> {tt.divisibility = 16 : i32}) { ... }
```

Templates: `elementwise`, `row_reduction`, `matmul` and `dual_matmul`.  An op
no template lowers is a located error, unless `allow_unsupported` leaves it
in the host function.
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects import func
from xdsl.dialects.builtin import FileLineColLoc, ModuleOp, TensorType
from xdsl.ir import Operation, SSAValue
from xdsl.passes import ModulePass

from mirage_mlir.dialects import plan
from mirage_mlir.dialects.diagnostics import MlirVerifyError
from mirage_mlir.lowering.fused_body import (
    KernelGroup,
    captured_tensors,
    is_elementwise_generic,
)
from mirage_mlir.lowering.kernel_builder import LoweringError
from mirage_mlir.passes.fold_compile_time import HOST_OPS as _HOST_OPS
from mirage_mlir.passes.fold_compile_time import (
    fold_compile_time_ops,
    keep_blobs_printable,
)
from mirage_mlir.lowering.layout_ops import LAYOUT_OPS, fold_constant_layout_ops
from mirage_mlir.lowering.template_contraction import (
    build_contraction_kernel,
    is_contraction_generic,
)
from mirage_mlir.lowering.template_matmul import (
    MATMUL_OPS,
    MatmulTiles,
    build_matmul_kernel,
)
from mirage_mlir.lowering.template_elementwise import build_elementwise_kernel
from mirage_mlir.lowering.template_convolution import (
    CONVOLUTION_OPS,
    build_convolution_kernel,
)
from mirage_mlir.lowering.template_pooling import (
    POOLING_OPS,
    build_window_kernel,
    pad_folds_into_users,
    window_op_inputs,
)
from mirage_mlir.lowering.template_scan import build_scan_kernel, scan_inputs
from mirage_mlir.lowering.template_sort import build_sort_kernel
from mirage_mlir.lowering.template_row_reduction import build_row_reduction_kernel
from mirage_mlir.lowering.template_column_reduction import build_column_reduction_kernel
from mirage_mlir.lowering.template_attention import BLOCK_M as ATTENTION_BLOCK_M
from mirage_mlir.lowering.template_attention import BLOCK_N as ATTENTION_BLOCK_N
from mirage_mlir.lowering.template_attention import build_attention_kernel

TARGET_TILES: dict[int, MatmulTiles] = {
    80: MatmulTiles(64, 64, 32),
    86: MatmulTiles(64, 64, 32),
    89: MatmulTiles(64, 64, 32),
    90: MatmulTiles(128, 64, 32),
}
"""Matmul tile sizes per compute capability, before any autotuning."""


_ROW_OPS = frozenset({"mirage.softmax", "mirage.rms_norm", "mirage.layer_norm"})

_KERNEL_TEMPLATES = {
    "elementwise": "elementwise",
    "row_reduction": "row_reduction",
    "matmul": "matmul",
    "dual_matmul": "matmul",
    "column_reduction": "column_reduction",
    "attention": "attention",
}
"""mirage.kernel template names -> the builder that lowers them."""


def _standalone_template(op: Operation) -> str | None:
    if op.name in MATMUL_OPS:
        return "matmul"
    if op.name in _ROW_OPS:
        return "row_reduction"
    if op.name == "mirage.batch_norm":
        return "column_reduction"
    if op.name == "mirage.attention":
        return "attention"
    if (
        op.name == "linalg.transpose"
        or is_elementwise_generic(op)
        or op.name in LAYOUT_OPS
    ):
        return "elementwise"
    if is_contraction_generic(op):
        return "contraction"
    if op.name in CONVOLUTION_OPS:
        return "convolution"
    if op.name in POOLING_OPS:
        return "pooling"
    if op.name in ("tm_tensor.sort", "tm_tensor.scan"):
        return op.name.split(".")[1]
    return None


def _dedup(values) -> list[SSAValue]:
    return list(dict.fromkeys(values))


def _group_of(op: Operation) -> KernelGroup | None:
    """The kernel group an op of the host function forms, None for host ops."""
    if op.name in _HOST_OPS:
        return None
    if op.name == "mirage.kernel":
        name = op.attributes.get("template")
        template = name.data if name is not None else ""
        if template not in _KERNEL_TEMPLATES:
            raise LoweringError(
                f"mirage.kernel template '{name.data if name else '?'}' cannot be lowered yet",
                op,
            )
        block = op.regions[0].block
        body = [o for o in block.ops if o.name != "mirage.yield"]
        return KernelGroup(
            template, body, list(block.args), list(block.last_op.operands), op
        )
    if op.name == "tensor.pad" and pad_folds_into_users(op):
        return None  # its convolutions and poolings read through it
    template = _standalone_template(op)
    if template is None:
        raise LoweringError(f"'{op.name}' cannot be lowered to Triton yet", op)
    ins = (
        op.inputs
        if hasattr(op, "inputs") and op.name.startswith("linalg.")
        else op.operands
    )
    if op.name in ("linalg.transpose", "tensor.extract_slice", "linalg.broadcast"):
        ins = [op.operands[0]]
    if template in ("convolution", "pooling"):
        ins = window_op_inputs(op)
    if op.name == "tm_tensor.sort":
        ins = op.outputs
    if op.name == "tm_tensor.scan":
        ins = scan_inputs(op)
    ins = [*ins, *captured_tensors([op])]  # tensors its generic body gathers from
    return KernelGroup(template, [op], _dedup(ins), list(op.results), op)


def located(error: LoweringError) -> MlirVerifyError:
    """A `LoweringError` as a diagnostic at its op's place in the input."""
    op, message = error.op, f"convert-mirage-to-triton: {error}"
    location = op.location if op is not None else None
    if isinstance(location, FileLineColLoc):
        return MlirVerifyError(
            message=message,
            file=location.filename.data,
            line=location.line.data,
            column=location.column.data,
        )
    return MlirVerifyError(message=message)


@dataclass(frozen=True)
class ConvertMirageToTriton(ModulePass):
    """Lower mirage kernels and compute ops to `tt.func` kernels and a launch plan.

    Tile sizes of 0 take the target table's value for `arch`; attention tile
    sizes of 0 take the attention template's defaults.
    `input_precision` is how `tt.dot` treats f32 inputs (`tf32` as `tl.dot`
    does, or `ieee` for exact products).  `allow_unsupported` leaves ops no
    template lowers in the host function instead of failing.
    """

    name = "convert-mirage-to-triton"

    block_m: int = 0
    block_n: int = 0
    block_k: int = 0
    block_elementwise: int = 1024
    attention_block_m: int = 0
    attention_block_n: int = 0
    arch: int = 90
    input_precision: str = "tf32"
    allow_unsupported: bool = False

    def matmul_tiles(self) -> MatmulTiles:
        """The matmul tile sizes: options, else the target table."""
        if self.arch not in TARGET_TILES:
            raise LoweringError(
                f"no tile sizes for sm_{self.arch}; known: {sorted(TARGET_TILES)}"
            )
        base = TARGET_TILES[self.arch]
        return MatmulTiles(
            self.block_m or base.block_m,
            self.block_n or base.block_n,
            self.block_k or base.block_k,
            self.input_precision,
        )

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        keep_blobs_printable(ctx)
        try:
            kernels: list[Operation] = []
            for function in [
                f for f in op.body.block.ops if isinstance(f, func.FuncOp)
            ]:
                kernels.extend(self._lower_function(function))
            for kernel in kernels:
                op.body.block.add_op(kernel)
        except LoweringError as error:
            raise located(error) from None

    def _build(self, name: str, group: KernelGroup):
        if _KERNEL_TEMPLATES.get(group.template) == "matmul":
            return build_matmul_kernel(name, group, self.matmul_tiles())
        if group.template == "row_reduction":
            return build_row_reduction_kernel(name, group)
        if group.template == "contraction":
            return build_contraction_kernel(name, group)
        if group.template == "column_reduction":
            return build_column_reduction_kernel(name, group)
        if group.template == "convolution":
            return build_convolution_kernel(
                name, group, self.matmul_tiles(), self.block_elementwise
            )
        if group.template == "pooling":
            return build_window_kernel(name, group, self.block_elementwise)
        if group.template == "sort":
            return build_sort_kernel(name, group)
        if group.template == "scan":
            return build_scan_kernel(name, group)
        if group.template == "attention":
            return build_attention_kernel(
                name,
                group,
                self.input_precision,
                self.attention_block_m or ATTENTION_BLOCK_M,
                self.attention_block_n or ATTENTION_BLOCK_N,
            )
        return build_elementwise_kernel(name, group, self.block_elementwise)

    def _lower_function(self, function: func.FuncOp) -> list[Operation]:
        kernels: list[Operation] = []
        block = function.body.block
        fold_compile_time_ops(block)
        fold_constant_layout_ops(block)
        for op in list(block.ops):
            try:
                group = _group_of(op)
            except LoweringError:
                if self.allow_unsupported:
                    continue
                raise
            if group is None:
                continue
            name = f"{function.sym_name.data}_{group.template}_{len(kernels)}"
            kernel, grid = self._build(name, group)
            kernels.append(kernel)
            ins = list(op.operands) if op.name == "mirage.kernel" else group.inputs
            allocs = [plan.AllocOp(0, r.type) for r in op.results]
            for alloc in allocs:
                block.insert_op_before(alloc, op)
            block.insert_op_before(plan.LaunchOp(name, grid, ins, allocs), op)
            for result, alloc in zip(op.results, allocs):
                result.replace_all_uses_with(alloc.result)
            block.erase_op(op)
        _erase_dead_host_ops(function)
        assign_slots(function)
        return kernels


_DEAD_HOST_OPS = frozenset(
    {
        "tensor.empty",
        "linalg.fill",
        "arith.constant",
        "tensor.pad",
        "tensor.expand_shape",
        "tensor.collapse_shape",
    }
)
"""Host ops dropped once nothing reads them (kernels read through pads and their views)."""


def _erase_dead_host_ops(function: func.FuncOp) -> None:
    """Drop inits, constants, views and read-through pads nothing reads any more."""
    for op in reversed(list(function.body.block.ops)):
        if op.name in _DEAD_HOST_OPS and not any(r.uses for r in op.results):
            function.body.block.erase_op(op)


def _bytes(tensor_type: TensorType) -> int:
    width = getattr(tensor_type.get_element_type(), "bitwidth", 32)
    count = 1
    for size in tensor_type.get_shape():
        count *= size
    return count * max(1, width // 8)


def assign_slots(function: func.FuncOp) -> None:
    """Number the buffers' slots, reusing the slot of a buffer no later op reads.

    A view (expand/collapse_shape) aliases its source, so it keeps the source
    alive.  Returned buffers are never reused; a buffer freed by a launch is
    only reused by later launches (a launch's inputs and outputs never alias).
    """
    ops = list(function.body.block.ops)
    position = {op: i for i, op in enumerate(ops)}
    root: dict[SSAValue, SSAValue] = {}
    last_use: dict[SSAValue, int] = {}
    for i, op in enumerate(ops):
        if op.name in ("tensor.expand_shape", "tensor.collapse_shape"):
            root[op.results[0]] = root.get(op.operands[0], op.operands[0])
        for operand in op.operands:
            source = root.get(operand, operand)
            last_use[source] = len(ops) if op.name == "func.return" else i
    free: dict[int, list[int]] = {}
    next_slot = 0
    releases: dict[int, list[plan.AllocOp]] = {}
    for op in ops:
        i = position[op]
        if isinstance(op, plan.AllocOp):
            size = _bytes(op.result.type)
            if free.get(size):
                slot = free[size].pop(0)
            else:
                slot, next_slot = next_slot, next_slot + 1
            op.slot = plan.AllocOp(slot, op.result.type).slot
            releases.setdefault(last_use.get(op.result, i), []).append(op)
        for alloc in releases.pop(i, []):
            free.setdefault(_bytes(alloc.result.type), []).append(alloc.slot_index)
