"""The CPU runtime: an optimised module run with torch ops.

```python
from mirage_mlir.driver.torch_executor import TorchProgram
program = TorchProgram.from_text(optimised_mlir)     # walks @main once
outputs = program(x, y)                              # list of torch tensors
```

Loading walks the function once and builds a list of steps, each a torch
closure with the SSA values it reads and writes.  Contractions go to BLAS
(`torch.matmul`, `torch.einsum`), so the contraction orders the optimiser chose
run at full speed; `mirage.attention` is `F.scaled_dot_product_attention`;
the norms and softmax are torch's own ops; `linalg.generic` is a whole-tensor
expression (`torch_generic`); convolutions, pooling, `tensor.pad` and
`cf.assert` are `F.conv2d`, `F.max_pool2d`, `F.pad` and checks
(`torch_convolution`); torch-mlir's scans and sorts are torch's (`torch_tm_tensor`); shape ops are views; weights are decoded once.
`mirage.kernel` runs its body's steps.  Steps whose operands are all constants
(a concatenation of weights, a transposed weight) run once at load time, and
steps whose results nothing reads are dropped.

torch-mlir is never imported: this runs saved artifacts on machines without it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from xdsl.dialects.builtin import (
    DenseIntOrFPElementsAttr,
    DenseResourceAttr,
    FloatAttr,
    IntegerAttr,
    ModuleOp,
    TensorType,
)
from xdsl.ir import Block, Operation, SSAValue

from mirage_mlir.driver.torch_convolution import CONVOLUTION_BUILDERS
from mirage_mlir.driver.torch_tm_tensor import TM_TENSOR_BUILDERS
from mirage_mlir.driver.torch_generic import (
    StructuredOpRunner,
    TorchExecutorError,
    scalar_op_function,
    torch_dtype,
)

__all__ = ["TorchExecutorError", "TorchProgram"]


@dataclass
class Step:
    """One op as a torch closure: `results = function(*operands)`."""

    name: str
    function: Callable[..., tuple]
    operands: list[SSAValue]
    results: list[SSAValue]


class BlockProgram:
    """The steps of one block (a function body or a `mirage.kernel` body).

    `constants` holds the values known at load time (weights, folded steps,
    and values from enclosing blocks that were constant there).
    """

    def __init__(
        self,
        block: Block,
        outer_constants: dict[SSAValue, Any] | None = None,
        pinned: list[Any] | None = None,
        resources: dict[str, Any] | None = None,
    ) -> None:
        """Build the block's steps; drop dead ones; fold the live constant ones.

        `pinned` lists tensors (model buffers the function updates) whose
        constants must stay replaceable: a constant equal to exactly one of
        them becomes `self.parameters[index]` instead of a foldable constant.
        `resources` (see `TorchProgram`) supplies `dense_resource` payloads.
        """
        self.args = list(block.args)
        self.resources = resources
        self.constants: dict[SSAValue, Any] = dict(outer_constants or {})
        self.pinned = list(pinned or [])
        self.parameters: dict[int, SSAValue] = {}
        self._values: dict[SSAValue, Any] = {}
        # Results of steps that could run at load time; they run only if live.
        self._foldable: set[SSAValue] = set()
        self.steps: list[Step] = []
        terminator = block.last_op
        assert terminator is not None
        self.returned = list(terminator.operands)
        for op in block.ops:
            if op is terminator:
                break
            self._add(op)
        self._drop_dead_steps()
        self._fold_constant_steps()

    def _add(self, op: Operation) -> None:
        function, operands = build_step(op, self.constants, self.resources)
        step = Step(op.name, function, operands, list(op.results))
        if self.pinned and op.name == "arith.constant" and self._pin(op, function):
            return
        known = all(v in self.constants or v in self._foldable for v in operands)
        if not known or op.name == "tensor.empty":
            self.steps.append(step)
        elif operands:
            self._foldable.update(step.results)
            self.steps.append(step)
        else:
            self.constants.update(zip(step.results, function()))

    def _fold_constant_steps(self) -> None:
        """Run the steps whose operands are all known now, once (a fill that a matmul
        with a zero init never reads was dropped as dead before this)."""
        remaining = []
        for step in self.steps:
            if step.results and step.results[0] in self._foldable:
                outs = step.function(*(self.constants[v] for v in step.operands))
                self.constants.update(zip(step.results, outs))
            else:
                remaining.append(step)
        self.steps = remaining

    def _pin(self, op: Operation, function: Callable) -> bool:
        (value,) = function()
        matches = [
            i
            for i, p in enumerate(self.pinned)
            if p.shape == value.shape
            and p.dtype == value.dtype
            and bool((p == value).all())
        ]
        if len(matches) != 1 or matches[0] in self.parameters:
            return False
        self.parameters[matches[0]] = op.results[0]
        self._values[op.results[0]] = value
        return True

    def set_parameter(self, index: int, value: Any) -> None:
        """Replace the value of pinned tensor `index` for later runs."""
        self._values[self.parameters[index]] = value

    def _drop_dead_steps(self) -> None:
        live = set(self.returned)
        kept = []
        for step in reversed(self.steps):
            if any(r in live for r in step.results):
                kept.append(step)
                live.update(step.operands)
        self.steps = kept[::-1]

    def run(self, arguments: list[Any]) -> list[Any]:
        """The block's returned values for these argument values."""
        env = dict(self.constants)
        env.update(self._values)
        env.update(zip(self.args, arguments))
        for step in self.steps:
            outs = step.function(*(env[v] for v in step.operands))
            for r, value in zip(step.results, outs):
                env[r] = value
        return [env[v] for v in self.returned]


#: The call that traces the steps into one graph (torch_graph.py): the first calls run them
#: one by one, so a program called once never pays for tracing.
TRACE_AT_CALL = 2


class TorchProgram:
    """A function of an optimised module, ready to run on torch CPU tensors."""

    def __init__(
        self,
        module: ModuleOp,
        function: str = "main",
        pinned: list[Any] | None = None,
        resources: dict[str, Any] | None = None,
    ) -> None:
        """Walk `@function` of `module` once and build its steps.

        `pinned` lists tensors baked in as constants that may change between
        runs (see `BlockProgram`); `self.block.parameters` says which were found.
        `resources` maps each `dense_resource` name to its payload bytes (a
        saved artifact's `weights.bin`, see `driver.weights`); the module's
        own resources section is then not read.
        """
        from xdsl.dialects import func

        for op in module.body.block.ops:
            if isinstance(op, func.FuncOp) and op.sym_name.data == function:
                break
        else:
            raise TorchExecutorError(f"the module has no function @{function}")
        self.function = function
        self.input_types = [a.type for a in op.body.block.args]
        self.output_types = list(op.function_type.outputs.data)
        self.block = BlockProgram(op.body.block, pinned=pinned, resources=resources)
        #: The steps traced into one aten graph on the first call (None until then, or when
        #: they cannot be traced: see `_run`).
        self.graph: Any = None
        self._untraceable = False
        self._calls = 0
        #: What runs the traced graph: "aten" or "inductor" (torch_graph.CODEGENS); set
        #: before the first call.
        self.codegen = "aten"

    @classmethod
    def from_text(
        cls, mlir_text: str, function: str = "main", pinned: list[Any] | None = None
    ) -> "TorchProgram":
        """Parse MLIR text (weights included) and load `@function`."""
        from mirage_mlir.dialects.context import parse_mlir

        return cls(parse_mlir(mlir_text), function, pinned)

    def __call__(self, *tensors: Any) -> list[Any]:
        """Run on torch tensors (converted to the function's dtypes); return its results."""
        import torch

        if len(tensors) != len(self.input_types):
            raise TorchExecutorError(
                f"@{self.function} takes {len(self.input_types)} inputs, got {len(tensors)}"
            )
        arguments = [
            torch.as_tensor(t).to(torch_dtype(ty))
            for t, ty in zip(tensors, self.input_types)
        ]
        with torch.no_grad():
            outs = self._run(arguments)
        return [o.contiguous() if o.is_contiguous() is False else o for o in outs]

    def _run(self, arguments: list[Any]) -> list[Any]:
        """The steps as one traced graph (built on the second call), else one by one.

        The second call (a program called once never pays for tracing) traces the steps into an aten graph (`torch_graph.trace_steps`) and
        keeps it when it computes exactly what the steps compute on that call; a program
        whose constants may change between calls (`pinned`) or that cannot be traced runs
        step by step. When the graph fails (a `cf.assert` whose condition does not hold), the
        steps run again to raise the precise error.
        """
        from mirage_mlir.driver.torch_graph import trace_steps

        self._calls += 1
        if (
            self.graph is None
            and self._calls >= TRACE_AT_CALL
            and not self.block.parameters
            and not self._untraceable
        ):
            self.graph, outs = trace_steps(self.block.run, arguments, self.codegen)
            self._untraceable = self.graph is None
            return outs
        if self.graph is not None:
            try:
                return list(self.graph(*arguments))
            except RuntimeError:
                pass
        return self.block.run(arguments)


# ---------------------------------------------------------------------------------------------
# Op -> torch closure.


def _shape(value: SSAValue) -> tuple[int, ...]:
    return tuple(value.type.get_shape())


def build_step(
    op: Operation,
    constants: dict[SSAValue, Any],
    resources: dict[str, Any] | None = None,
) -> tuple[Callable, list[SSAValue]]:
    """The torch closure of `op` and the SSA values it reads.

    `constants` holds the load-time values visible at `op` (needed by
    `mirage.kernel`, whose body may read them); `resources` are the weights'
    payloads when they do not come from the module's text.
    """
    name = op.name
    if name == "arith.constant":
        return _constant(op, constants, resources)
    if name == "mirage.kernel":
        return _kernel(op, constants, resources)
    builder = _BUILDERS.get(name)
    if builder is not None:
        return builder(op, constants)
    if name.startswith("linalg.") and hasattr(op, "get_indexing_maps"):
        return _structured(op)
    if name.startswith(("arith.", "math.")):
        function = scalar_op_function(op)
        return (lambda *xs: (function(*xs),)), list(op.operands)
    # An unregistered op's own name is in op_name; its class name is generic.
    shown = op.op_name.data if hasattr(op, "op_name") else name
    raise TorchExecutorError(f"the CPU runtime cannot run '{shown}'")


def _constant(
    op: Operation, constants: dict, resources: dict | None = None
) -> tuple[Callable, list]:
    import torch

    from mirage_mlir.passes.recognize.constants import (
        decode_blob,
        dense_value,
        resource_blob,
        static_tensor_type,
    )

    value = op.properties.get("value", op.attributes.get("value"))
    result_type = op.results[0].type
    if isinstance(result_type, TensorType):
        typed = static_tensor_type(result_type)
        if typed is None:
            raise TorchExecutorError(
                f"arith.constant of unsupported type {result_type}"
            )
        shape, dtype = typed
        if isinstance(value, DenseResourceAttr) and resources is not None:
            stored = _stored_weight(value, shape, result_type, resources)
            return (lambda: (stored,)), []
        if isinstance(value, DenseResourceAttr):
            blob = resource_blob(value)
            if blob is None:
                raise TorchExecutorError(
                    f"weight {value.resource_handle.data} is not in the module's resources"
                )
            array = decode_blob(blob, shape, dtype)
        elif isinstance(value, DenseIntOrFPElementsAttr):
            array = dense_value(value, shape, dtype)
        else:
            raise TorchExecutorError(f"arith.constant: unsupported value {value}")
        tensor = torch.from_numpy(array.copy()).to(torch_dtype(result_type))
    elif isinstance(value, FloatAttr | IntegerAttr):
        tensor = torch.tensor(value.value.data, dtype=torch_dtype(result_type))
    else:
        raise TorchExecutorError(f"arith.constant: unsupported value {value}")
    return (lambda: (tensor,)), []


def _stored_weight(
    value: DenseResourceAttr, shape: tuple, result_type: Any, resources: dict
) -> Any:
    """The tensor of a `dense_resource` whose payload comes from a saved artifact."""
    from mirage_mlir.driver.weights import blob_tensor

    name = value.resource_handle.data
    if name not in resources:
        raise TorchExecutorError(f"weight {name} is not among the artifact's weights")
    try:
        return blob_tensor(resources[name], shape, torch_dtype(result_type))
    except ValueError as error:
        raise TorchExecutorError(f"weight {name}: {error}") from None


def _empty(op: Operation, constants: dict) -> tuple[Callable, list]:
    import torch

    shape, dtype = _shape(op.results[0]), torch_dtype(op.results[0].type)
    return (lambda *_: (torch.empty(shape, dtype=dtype),)), list(op.operands)


def _fill(op: Any, constants: dict) -> tuple[Callable, list]:
    import torch

    shape, dtype = _shape(op.results[0]), torch_dtype(op.results[0].type)
    # The init is never read: depending on the value alone lets constant fills fold.
    return (lambda value: (torch.full(shape, value.item(), dtype=dtype),)), [
        op.inputs[0]
    ]


def _is_zero_fill(value: SSAValue, constants: dict) -> bool:
    """Whether `value` is known to be all zeros (a matmul init that adds nothing)."""
    owner = getattr(value, "op", None)
    # A constant fill says so by its scalar: no need to scan the tensor it folded to.
    if (
        owner is not None
        and owner.name == "linalg.fill"
        and owner.inputs[0] in constants
    ):
        return float(constants[owner.inputs[0]]) == 0.0
    return value in constants and not bool(constants[value].any())


def _named_matmul(op: Any, constants: dict) -> tuple[Callable, list]:
    import torch

    dtype = torch_dtype(op.results[0].type)
    if _is_zero_fill(op.outputs[0], constants):
        return (lambda a, b: (torch.matmul(a, b).to(dtype),)), list(op.inputs)
    return (lambda a, b, c: (torch.matmul(a, b).to(dtype) + c,)), [
        *op.inputs,
        op.outputs[0],
    ]


def _transpose(op: Any, constants: dict) -> tuple[Callable, list]:
    permutation = list(op.permutation.get_values())
    return (lambda x: (x.permute(permutation),)), [op.inputs[0]]


def _broadcast(op: Any, constants: dict) -> tuple[Callable, list]:
    added = list(op.dimensions.get_values())
    shape = _shape(op.results[0])
    view = [1 if d in added else n for d, n in enumerate(shape)]
    return (lambda x: (x.reshape(view).expand(shape),)), [op.input]


def _structured(op: Any) -> tuple[Callable, list]:
    runner = StructuredOpRunner(op)
    n_in, n_out = len(op.inputs), len(op.outputs)

    def run(*values: Any) -> tuple:
        return tuple(
            runner(
                list(values[:n_in]),
                list(values[n_in : n_in + n_out]),
                list(values[n_in + n_out :]),
            )
        )

    return run, [*op.inputs, *op.outputs, *runner.captured]


def _generic(op: Any, constants: dict) -> tuple[Callable, list]:
    runner = StructuredOpRunner(op)
    if runner.einsum is not None and _is_zero_fill(op.outputs[0], constants):
        import torch

        # A contraction into zeros is the einsum alone: the init is neither read nor added
        # (it would cost a full pass over the result), and its fill becomes a dead step.
        equation = runner.einsum
        return (lambda a, b: (torch.einsum(equation, a, b).contiguous(),)), list(
            op.inputs
        )
    return _structured(op)


def _reshape(op: Operation, constants: dict) -> tuple[Callable, list]:
    shape = _shape(op.results[0])
    return (lambda x, *_: (x.reshape(shape),)), list(op.operands)


def _cast(op: Operation, constants: dict) -> tuple[Callable, list]:
    return (lambda x: (x,)), [op.operands[0]]


def _strided_slice(offsets: list[int], sizes: list[int], strides: list[int]) -> tuple:
    return tuple(
        slice(o, o + (n - 1) * s + 1 if n > 0 else o, s)
        for o, n, s in zip(offsets, sizes, strides)
    )


def _extract_slice(op: Any, constants: dict) -> tuple[Callable, list]:
    if op.offsets or op.sizes or op.strides:
        raise TorchExecutorError(
            "tensor.extract_slice with dynamic offsets is not supported"
        )
    index = _strided_slice(
        list(op.static_offsets.get_values()),
        list(op.static_sizes.get_values()),
        list(op.static_strides.get_values()),
    )
    shape = _shape(op.results[0])
    return (lambda x: (x[index].reshape(shape),)), [op.source]


def _mirage_slice(op: Any, constants: dict) -> tuple[Callable, list]:
    index = _strided_slice(list(op.offsets), list(op.sizes), list(op.strides))
    return (lambda x: (x[index],)), [op.source]


def _concat(op: Any, constants: dict) -> tuple[Callable, list]:
    import torch

    axis = op.normalized_axis
    return (lambda *xs: (torch.cat(xs, dim=axis),)), list(op.operands)


def _tensor_concat(op: Any, constants: dict) -> tuple[Callable, list]:
    import torch

    axis = op.dim.value.data
    return (lambda *xs: (torch.cat(xs, dim=axis),)), list(op.inputs)


def _mirage_matmul(op: Any, constants: dict) -> tuple[Callable, list]:
    import torch

    ta, tb = op.transpose_lhs is not None, op.transpose_rhs is not None
    dtype = torch_dtype(op.result.type)

    def run(a: Any, b: Any) -> tuple:
        return (torch.matmul(a.mT if ta else a, b.mT if tb else b).to(dtype),)

    return run, [op.lhs, op.rhs]


def _softmax(op: Any, constants: dict) -> tuple[Callable, list]:
    import torch

    axis = op.normalized_axis
    return (lambda x: (torch.softmax(x, dim=axis),)), [op.input]


def _attention(op: Any, constants: dict) -> tuple[Callable, list]:
    import torch.nn.functional as F

    scale = float(op.scale.value.data)
    causal = op.causal is not None
    q_shape, k_shape = _shape(op.query), _shape(op.key)
    gqa = len(q_shape) == 4 and q_shape[1] != k_shape[1]
    operands = [op.query, op.key, op.value] + ([op.mask] if op.mask is not None else [])

    def run(q: Any, k: Any, v: Any, mask: Any = None) -> tuple:
        if mask is not None and mask.dtype != q.dtype:
            mask = mask.to(q.dtype)
        out = F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, is_causal=causal, scale=scale, enable_gqa=gqa
        )
        return (out,)

    return run, operands


def _rms_norm(op: Any, constants: dict) -> tuple[Callable, list]:
    import torch.nn.functional as F

    eps = float(op.eps.value.data)
    size = (_shape(op.input)[-1],)
    return (lambda x, w: (F.rms_norm(x, size, w, eps),)), [op.input, op.weight]


def _layer_norm(op: Any, constants: dict) -> tuple[Callable, list]:
    import torch.nn.functional as F

    eps = float(op.eps.value.data)
    size = (_shape(op.input)[-1],)
    return (lambda x, w, b: (F.layer_norm(x, size, w, b, eps),)), [
        op.input,
        op.weight,
        op.bias,
    ]


def _batch_norm(op: Any, constants: dict) -> tuple[Callable, list]:
    import torch
    import torch.nn.functional as F

    eps, momentum = float(op.eps.value.data), float(op.momentum.value.data)
    rank = len(_shape(op.input))
    axes = [0, *range(2, rank)]
    channel_shape = [1, -1] + [1] * (rank - 2)

    def run(x: Any, gamma: Any, beta: Any, mean: Any, var: Any) -> tuple:
        if mean.dtype == var.dtype == x.dtype:
            # torch's own kernel: statistics, normalisation and the running-statistics
            # update (unbiased variance, as here) in one pass, several times faster than
            # composing var_mean over the batch axis.
            new_mean, new_var = mean.clone(), var.clone()
            y = F.batch_norm(x, new_mean, new_var, gamma, beta, True, momentum, eps)
            return (y, new_mean, new_var)[: len(op.results)]
        count = x.numel() // x.shape[1]
        batch_var, batch_mean = torch.var_mean(x, dim=axes, correction=0)
        scale = torch.rsqrt(batch_var + eps) * gamma
        y = (x - batch_mean.reshape(channel_shape)) * scale.reshape(
            channel_shape
        ) + beta.reshape(channel_shape)
        unbiased = batch_var.to(var.dtype) * (count / (count - 1))
        new_mean = (1.0 - momentum) * mean + momentum * batch_mean.to(mean.dtype)
        new_var = (1.0 - momentum) * var + momentum * unbiased
        return (y, new_mean, new_var)[: len(op.results)]

    return run, list(op.operands)


def _kernel(
    op: Any, constants: dict, resources: dict | None = None
) -> tuple[Callable, list]:
    body = BlockProgram(op.body.block, constants, resources=resources)
    return (lambda *xs: tuple(body.run(list(xs)))), list(op.operands)


_BUILDERS: dict[str, Callable[[Any, dict], tuple[Callable, list]]] = {
    "arith.constant": _constant,
    "tensor.empty": _empty,
    "tensor.expand_shape": _reshape,
    "tensor.collapse_shape": _reshape,
    "tensor.reshape": _reshape,
    "tensor.cast": _cast,
    "tensor.extract_slice": _extract_slice,
    "tensor.concat": _tensor_concat,
    "linalg.fill": _fill,
    "linalg.matmul": _named_matmul,
    "linalg.batch_matmul": _named_matmul,
    "linalg.transpose": _transpose,
    "linalg.broadcast": _broadcast,
    "linalg.generic": _generic,
    "mirage.matmul": _mirage_matmul,
    "mirage.softmax": _softmax,
    "mirage.attention": _attention,
    "mirage.rms_norm": _rms_norm,
    "mirage.layer_norm": _layer_norm,
    "mirage.batch_norm": _batch_norm,
    "mirage.concat": _concat,
    "mirage.slice": _mirage_slice,
    "mirage.kernel": _kernel,
    **CONVOLUTION_BUILDERS,
    **TM_TENSOR_BUILDERS,
}
