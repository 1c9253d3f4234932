"""Convolutions, pooling, padding and runtime checks as torch calls, for the CPU runtime.

torch-mlir lowers `nn.Conv*d`, pooling and `F.pad` to linalg named ops and
`tensor.pad`; each becomes one torch call here, with the op's strides and
dilations read from its attributes:

| op | torch call |
|---|---|
| `linalg.conv_{1,2,3}d_nc..._fc...` | `F.conv1d` / `F.conv2d` / `F.conv3d` |
| `linalg.conv_2d_ngchw_{gfchw,fgchw}` | `F.conv2d(groups=G)` |
| `linalg.depthwise_conv_2d_nchw_chw` | `F.conv2d(groups=C)` |
| `linalg.conv_2d_nhwc_{hwcf,fhwc}` | `F.conv2d` on permuted views |
| `linalg.pooling_nchw_max` | `F.max_pool2d` |
| `linalg.pooling_nchw_sum` | `F.avg_pool2d(divisor_override=1)` (an exact sum) |
| `tensor.pad` (constant value) | `F.pad` |
| `tensor.insert_slice` (static) | a copy and a strided assignment |
| `cf.assert` | a check that raises `RuntimeAssertionError` |

Two producers are folded into the torch call when that is exact: a
`tensor.pad` of the input that pads only spatial axes, the same amount on both
sides, with the op's neutral value (0 for a convolution or a sum, -inf for a
max) becomes the call's `padding`; an init that is a per-channel
`linalg.broadcast` becomes a convolution's `bias`, and an all-zeros (or all
-inf for max) init is not read.  The padded tensor and the broadcast are then
never built, unless something else reads them.
"""

from __future__ import annotations

from typing import Any, Callable

from xdsl.dialects.builtin import AnyFloat
from xdsl.ir import Operation, SSAValue

from mirage_mlir.driver.torch_generic import TorchExecutorError, torch_dtype

__all__ = ["CONVOLUTION_BUILDERS", "RuntimeAssertionError", "assert_function"]


class RuntimeAssertionError(TorchExecutorError):
    """A `cf.assert` of the program failed on these inputs (the message quotes it)."""


def _shape(value: SSAValue) -> tuple[int, ...]:
    return tuple(value.type.get_shape())


def _owner(value: SSAValue) -> Operation | None:
    return getattr(value, "op", None)


def _where(op: Operation) -> str:
    """A short description of where `op` sits: the op that holds it, if any."""
    parent = op.parent_op()
    if parent is None or parent.name in ("func.func", "builtin.module"):
        return "in the function body"
    types = ", ".join(str(r.type) for r in parent.results)
    return f"in the body of {parent.name} -> {types}" if types else f"in {parent.name}"


def assert_function(op: Operation) -> Callable[[Any], tuple]:
    """The check of a `cf.assert`: raise `RuntimeAssertionError` where its condition fails.

    The condition may be a whole tensor (an assert inside a `linalg.generic`
    body is evaluated over the loop space at once); every element must hold.
    """
    message = (
        op.properties["msg"].data
        if "msg" in op.properties
        else op.attributes["msg"].data
    )
    where = _where(op)

    def check(condition: Any) -> tuple:
        from mirage_mlir.driver.torch_graph import tracing

        if tracing():
            import torch

            # Recorded in the traced graph (the form with a message, which graph passes
            # keep), so the graph fails where this check fails.
            torch._assert_async(condition.all(), f"cf.assert failed: {message}")
            return ()
        if not bool(condition.all()):
            failed = int((~condition.bool()).sum()) if condition.dim() else 1
            raise RuntimeAssertionError(
                f'cf.assert failed: "{message}" ({where}; {failed} of '
                f"{max(condition.numel(), 1)} points fail)"
            )
        return ()

    return check


def _assert(op: Operation, constants: dict) -> tuple[Callable, list]:
    return assert_function(op), [op.operands[0]]


# ---------------------------------------------------------------------------------------------
# tensor.pad and tensor.insert_slice


def _pad_value(op: Any, constants: dict) -> tuple[Any, SSAValue | None]:
    """The padding value: (a Python number, None), or (None, the outer SSA value holding it)."""
    block = op.region.block
    (yielded,) = block.last_op.operands
    inner = {r for o in block.ops for r in o.results} | set(block.args)
    if yielded in inner:
        source = _owner(yielded)
        if source is None or source.name != "arith.constant":
            raise TorchExecutorError(
                "tensor.pad: the CPU runtime needs a constant padding value"
            )
        value = source.properties.get("value", source.attributes.get("value"))
        return value.value.data, None
    if yielded in constants:
        return constants[yielded].item(), None
    return None, yielded


def _static_pads(op: Any) -> tuple[list[int], list[int]]:
    if len(op.low) or len(op.high):
        raise TorchExecutorError("tensor.pad with dynamic padding is not supported")
    return list(op.static_low.get_values()), list(op.static_high.get_values())


def _pad(op: Any, constants: dict) -> tuple[Callable, list]:
    import torch.nn.functional as F

    low, high = _static_pads(op)
    widths: list[int] = []
    for lo, hi in reversed(list(zip(low, high))):
        widths += [lo, hi]
    value, captured = _pad_value(op, constants)
    if not any(widths):
        return (lambda x, *_: (x,)), [op.source]
    if captured is not None:
        return (lambda x, v: (F.pad(x, widths, value=v.item()),)), [op.source, captured]
    return (lambda x: (F.pad(x, widths, value=value),)), [op.source]


def _insert_slice(op: Any, constants: dict) -> tuple[Callable, list]:
    if op.offsets or op.sizes or op.strides:
        raise TorchExecutorError(
            "tensor.insert_slice with dynamic offsets is not supported"
        )
    index = tuple(
        slice(o, o + (n - 1) * s + 1 if n > 0 else o, s)
        for o, n, s in zip(
            op.static_offsets.get_values(),
            op.static_sizes.get_values(),
            op.static_strides.get_values(),
        )
    )
    sizes = tuple(op.static_sizes.get_values())

    def run(source: Any, dest: Any) -> tuple:
        out = dest.clone()
        out[index] = source.reshape(sizes)
        return (out,)

    return run, [op.source, op.dest]


def _fused_padding(
    value: SSAValue, n_spatial: int, neutral: float, constants: dict
) -> tuple[SSAValue, list[int]] | None:
    """(the unpadded tensor, per-axis padding) when `value` is a foldable pad (see module doc)."""
    op = _owner(value)
    if op is None or op.name != "tensor.pad" or len(op.low) or len(op.high):
        return None
    low, high = _static_pads(op)
    lead = len(low) - n_spatial
    if any(low[:lead]) or any(high[:lead]) or low[lead:] != high[lead:]:
        return None
    try:
        number, captured = _pad_value(op, constants)
    except TorchExecutorError:
        return None
    if captured is not None or float(number) != neutral:
        return None
    return op.source, low[lead:]


# ---------------------------------------------------------------------------------------------
# Inits: a bias to pass to the convolution, nothing, or a tensor to combine with.


def _channel_split_source(value: SSAValue) -> SSAValue | None:
    """The NC... tensor a `tensor.expand_shape` splits into NGC... (grouped convolutions)."""
    op = _owner(value)
    if op is None or op.name != "tensor.expand_shape":
        return None
    groups = [[int(i.value.data) for i in g.data] for g in op.reassociation.data]
    rank = len(groups)
    if groups != [[0], [1, 2], *([d] for d in range(3, rank + 1))]:
        return None
    return op.src


def _bias_of(init: SSAValue) -> SSAValue | None:
    """The 1-D per-channel tensor an init broadcasts (channel axis 1), or None."""
    op = _owner(init)
    if op is not None and op.name == "tensor.expand_shape":
        source = _channel_split_source(init)
        return _bias_of(source) if source is not None else None
    if op is None or op.name != "linalg.broadcast":
        return None
    rank = len(_shape(op.results[0]))
    if list(op.dimensions.get_values()) != [d for d in range(rank) if d != 1]:
        return None
    return op.input


def _is_fill_of(value: SSAValue, number: float, constants: dict) -> bool:
    """Whether `value` is a `linalg.fill` with the load-time constant `number`."""
    op = _owner(value)
    if op is None or op.name != "linalg.fill" or op.inputs[0] not in constants:
        return False
    return float(constants[op.inputs[0]]) == number


# ---------------------------------------------------------------------------------------------
# Convolutions


def _out_size(size: int, kernel: int, stride: int, dilation: int, padding: int) -> int:
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def _fit(name: str, computed: tuple[int, ...], wanted: tuple[int, ...]) -> tuple | None:
    """The slice trimming torch's spatial output to the op's, or None when none is needed.

    linalg lets an output cover fewer windows than fit; more than fit would
    read out of bounds and is invalid IR.
    """
    if computed == wanted:
        return None
    if any(c < w for c, w in zip(computed, wanted)):
        raise TorchExecutorError(
            f"{name}: the output {wanted} needs windows past the input"
        )
    return (Ellipsis, *(slice(0, w) for w in wanted))


def _float_check(op: Any) -> Any:
    dtype = torch_dtype(op.results[0].type)
    if not isinstance(op.results[0].type.get_element_type(), AnyFloat):
        raise TorchExecutorError(
            f"{op.name}: the CPU runtime runs float convolutions only"
        )
    return dtype


#: name -> (spatial axes, layout): how each convolution's operands map onto torch's NC... form.
_CONVOLUTIONS = {
    "linalg.conv_1d_ncw_fcw": (1, "nc"),
    "linalg.conv_2d_nchw_fchw": (2, "nc"),
    "linalg.conv_3d_ncdhw_fcdhw": (3, "nc"),
    "linalg.depthwise_conv_2d_nchw_chw": (2, "depthwise"),
    "linalg.conv_2d_ngchw_gfchw": (2, "gf"),
    "linalg.conv_2d_ngchw_fgchw": (2, "fg"),
    "linalg.conv_2d_nhwc_hwcf": (2, "hwcf"),
    "linalg.conv_2d_nhwc_fhwc": (2, "fhwc"),
}


def _convolution(op: Any, constants: dict) -> tuple[Callable, list]:
    import torch.nn.functional as F

    n_spatial, layout = _CONVOLUTIONS[op.name]
    function = (F.conv1d, F.conv2d, F.conv3d)[n_spatial - 1]
    dtype = _float_check(op)
    strides = list(op.strides.get_values())
    dilations = list(op.dilations.get_values())
    x_value, w_value, init = op.inputs[0], op.inputs[1], op.outputs[0]
    result_shape = _shape(op.results[0])
    grouped = layout in ("gf", "fg")
    if grouped:
        # Run on the ungrouped NCHW tensor the importer split, when it is at hand.
        merged = _channel_split_source(x_value)
        x_value = merged if merged is not None else x_value
    padding = [0] * n_spatial
    if layout not in ("hwcf", "fhwc"):
        fused = _fused_padding(x_value, n_spatial, 0.0, constants)
        if fused is not None:
            x_value, padding = fused
    x_shape, w_shape = _shape(x_value), _shape(w_value)

    if layout == "hwcf":
        kernel = w_shape[:2]
        spatial_in, out_spatial = x_shape[1:3], result_shape[1:3]
    elif layout == "fhwc":
        kernel = w_shape[1:3]
        spatial_in, out_spatial = x_shape[1:3], result_shape[1:3]
    else:
        kernel = w_shape[-n_spatial:]
        spatial_in, out_spatial = x_shape[-n_spatial:], result_shape[-n_spatial:]
    computed = tuple(
        _out_size(n, k, s, d, p)
        for n, k, s, d, p in zip(spatial_in, kernel, strides, dilations, padding)
    )
    trim = _fit(op.name, computed, tuple(out_spatial))

    groups = 1
    if layout == "depthwise":
        groups = w_shape[0]
    elif grouped:
        groups = w_shape[0] if layout == "gf" else w_shape[1]

    def weight(w: Any) -> Any:
        if layout == "depthwise":
            return w.unsqueeze(1)
        if layout == "gf":
            return w.reshape(w_shape[0] * w_shape[1], *w_shape[2:])
        if layout == "fg":
            return w.transpose(0, 1).reshape(w_shape[0] * w_shape[1], *w_shape[2:])
        if layout == "hwcf":
            return w.permute(3, 2, 0, 1)
        if layout == "fhwc":
            return w.permute(0, 3, 1, 2)
        return w

    channels_last = layout in ("hwcf", "fhwc")
    bias_value = None if channels_last else _bias_of(init)
    zero_init = _is_fill_of(init, 0.0, constants) or (
        init in constants and not bool(constants[init].any())
    )

    def convolve(x: Any, w: Any, bias: Any = None) -> Any:
        if x.dtype != dtype:
            # Named convolutions cast their operands to the output's type first.
            x, w = x.to(dtype), w.to(dtype)
        if grouped and x.dim() == n_spatial + 3:
            x = x.flatten(1, 2)
        if channels_last:
            x = x.permute(0, 3, 1, 2)
        y = function(x, weight(w), bias, strides, padding, dilations, groups)
        if trim is not None:
            y = y[trim]
        if channels_last:
            y = y.permute(0, 2, 3, 1)
        if grouped:
            y = y.reshape(result_shape)
        return y

    if bias_value is not None:
        return (lambda x, w, b: (convolve(x, w, b.to(dtype)),)), [
            x_value,
            w_value,
            bias_value,
        ]
    if zero_init:
        return (lambda x, w: (convolve(x, w),)), [x_value, w_value]
    return (lambda x, w, c: (c + convolve(x, w),)), [x_value, w_value, init]


# ---------------------------------------------------------------------------------------------
# Pooling


def _pooling(op: Any, constants: dict) -> tuple[Callable, list]:
    import torch
    import torch.nn.functional as F

    is_max = op.name == "linalg.pooling_nchw_max"
    _float_check(op)
    neutral = float("-inf") if is_max else 0.0
    strides = list(op.strides.get_values())
    dilations = list(op.dilations.get_values())
    kernel = list(_shape(op.inputs[1]))
    x_value, init = op.inputs[0], op.outputs[0]
    padding = [0, 0]
    fused = _fused_padding(x_value, 2, neutral, constants)
    # torch pads at most half a window; a wider pad is built explicitly.
    if fused is not None and all(
        p <= ((k - 1) * d + 1) // 2 if is_max else p <= k // 2
        for p, k, d in zip(fused[1], kernel, dilations)
    ):
        x_value, padding = fused
    x_shape, result_shape = _shape(x_value), _shape(op.results[0])
    computed = tuple(
        _out_size(n, k, s, d, p)
        for n, k, s, d, p in zip(x_shape[2:], kernel, strides, dilations, padding)
    )
    trim = _fit(op.name, computed, result_shape[2:])
    channels = x_shape[1]

    def pool(x: Any) -> Any:
        if is_max:
            y = F.max_pool2d(x, kernel, strides, padding, dilations)
        elif dilations == [1, 1]:
            # divisor_override=1 divides by one: the window sums, exactly.
            y = F.avg_pool2d(x, kernel, strides, padding, divisor_override=1)
        else:
            ones = torch.ones(channels, 1, *kernel, dtype=x.dtype)
            y = F.conv2d(x, ones, None, strides, padding, dilations, channels)
        return y[trim] if trim is not None else y

    if _is_fill_of(init, neutral, constants):
        return (lambda x: (pool(x),)), [x_value]
    if is_max:
        return (lambda x, c: (torch.maximum(c, pool(x)),)), [x_value, init]
    return (lambda x, c: (c + pool(x),)), [x_value, init]


CONVOLUTION_BUILDERS: dict[str, Callable[[Any, dict], tuple[Callable, list]]] = {
    **{name: _convolution for name in _CONVOLUTIONS},
    "linalg.pooling_nchw_max": _pooling,
    "linalg.pooling_nchw_sum": _pooling,
    "tensor.pad": _pad,
    "tensor.insert_slice": _insert_slice,
    "cf.assert": _assert,
}
"""Op name -> builder of its torch closure (the signature of `torch_executor`'s builders)."""
