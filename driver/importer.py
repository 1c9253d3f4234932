"""Import a PyTorch model as linalg-on-tensors MLIR, through torch-mlir's fx importer.

This is the pipeline's first stage: `torch.export` traces the model with its
example inputs, torch-mlir's fx importer turns the exported program into the
`torch` dialect, and torch-mlir's backend pipeline lowers that to `linalg` on
tensors (with `tensor`, `arith` and `math`).  Parameters and buffers become
`dense_resource` constants in the module's `dialect_resources` section.

Only static shapes are accepted: every cost and every rewrite downstream depends
on concrete sizes.  A dynamic dimension, whether asked for with
`dynamic_shapes=` or produced by a data-dependent op such as boolean indexing,
is refused with a `DynamicShapeError` that names it, before torch-mlir lowers
anything.

torch and torch-mlir are imported inside the functions that use them, so that
`import mirage_mlir` stays cheap and the runtime can work without torch-mlir.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mirage_mlir.driver.errors import DynamicShapeError, TorchImportError

if TYPE_CHECKING:
    import torch
    from torch.export import ExportedProgram

# Messages quote at most this many lines of a library's own error text.
_QUOTED_LINES = 12


@dataclass(frozen=True)
class TorchImport:
    """A model imported by `import_torch_program`.

    `mlir` is the linalg-on-tensors text `import_torch` returns;
    `exported_program` is torch.export's program it was lowered from, which
    says what the function's arguments and results are (user inputs, lifted
    parameters, buffers the model mutates, outputs).
    """

    mlir: str
    exported_program: "ExportedProgram"


def import_torch(
    model: "torch.nn.Module",
    *example_inputs: "torch.Tensor",
    dynamic_shapes: Any = None,
) -> str:
    """Import `model` called on `example_inputs` as linalg-on-tensors MLIR text.

    The module holds one public function, `@main`, whose arguments are the
    example inputs (in order) and whose results are the model's outputs; in
    training mode, buffers the model updates (BatchNorm's running statistics,
    for example) are returned before the outputs.  The model is traced in the
    mode it is in: call `model.eval()` first for inference semantics.

    `dynamic_shapes` is passed to `torch.export.export`.  Since mirage-mlir
    compiles for static shapes only, a dimension that stays dynamic is refused
    with a `DynamicShapeError` naming the input, the dimension index and its
    symbol.

    Raises `TorchImportError` (with torch's or torch-mlir's exception as
    `__cause__`) when the model cannot be exported or lowered.

    >>> import torch, mirage_mlir as mm
    >>> text = mm.import_torch(torch.nn.ReLU(), torch.randn(4, 8))
    >>> "linalg.generic" in text
    True
    """
    return import_torch_program(model, *example_inputs, dynamic_shapes=dynamic_shapes).mlir


def import_torch_program(
    model: "torch.nn.Module",
    *example_inputs: "torch.Tensor",
    dynamic_shapes: Any = None,
) -> TorchImport:
    """`import_torch`, also returning the `ExportedProgram` the MLIR was lowered from.

    For callers that need to know how the imported function maps onto the
    model (the compile driver reads which buffers it updates from the
    program's graph signature).  Raises what `import_torch` raises.
    """
    _check_arguments(model, example_inputs)
    with warnings.catch_warnings():
        # torch 2.13 deprecates a pytree spelling that torch.export itself still
        # uses; the warning is about torch's internals, not the user's model.
        warnings.filterwarnings(
            "ignore", message=r".*isinstance\(treespec, LeafSpec\)", category=FutureWarning
        )
        program = _export(model, example_inputs, dynamic_shapes)
        _refuse_dynamic_program(program, dynamic_shapes)
        _views_as_reshapes(program)
        module = _lower_to_linalg(_with_non_persistent_buffers(program), type(model).__name__)
    _refuse_dynamic_mlir(module)
    return TorchImport(str(module), program)


def _check_arguments(model: Any, example_inputs: tuple) -> None:
    """Reject what torch.export would reject less clearly: non-modules, non-tensors."""
    import torch

    if not isinstance(model, torch.nn.Module):
        raise TorchImportError(
            f"import_torch expects a torch.nn.Module, got {type(model).__name__}; "
            "wrap a function in a Module whose forward calls it"
        )
    for index, value in enumerate(example_inputs):
        if not isinstance(value, torch.Tensor):
            raise TorchImportError(
                f"example input {index} of {type(model).__name__} is a "
                f"{type(value).__name__}, not a torch.Tensor; the imported function "
                "takes tensors only (make other values attributes of the model)"
            )


def _export(
    model: "torch.nn.Module", example_inputs: tuple, dynamic_shapes: Any
) -> "ExportedProgram":
    """Trace the model with torch.export (non-strict), in the mode it is in."""
    import torch

    try:
        return torch.export.export(
            model, tuple(example_inputs), dynamic_shapes=dynamic_shapes, strict=False
        )
    except Exception as error:  # torch raises many unrelated types here
        raise TorchImportError(
            f"torch.export could not trace {type(model).__name__}"
            f"{_user_location(str(error))}: {_summary(error)}"
        ) from error


def _views_as_reshapes(program: "ExportedProgram") -> None:
    """Make every `aten.view` of `program`'s graph an `aten.reshape`, in place.

    torch-mlir re-runs torch's decompositions on the exported graph, and some of them (the
    math form of scaled_dot_product_attention) produce outputs with other strides than the
    eager kernels did; a later `view` of such a value then fails ("Cannot view a tensor with
    shape [4, 64, 256] and strides (256, 1024, 1) as a tensor with shape (256, 256)": GPT-2
    at batch 4). The exported graph is functional, so whether a reshape returns a view or a
    copy cannot change a value: `reshape` means the same and accepts any strides. A graph
    that still mutates a tensor in place (through which a view would alias) is left as it is.
    """
    import torch

    # In-place in name only: detach_ changes autograd metadata, never values.
    metadata_only = {torch.ops.aten.detach_.default}

    def mutates(node: Any) -> bool:
        schema = getattr(node.target, "_schema", None)
        return schema is not None and schema.is_mutable and node.target not in metadata_only

    calls = [node for node in program.graph.nodes if node.op == "call_function"]
    if any(mutates(node) for node in calls):
        return
    changed = False
    for node in calls:
        if node.target is torch.ops.aten.view.default:
            node.target = torch.ops.aten.reshape.default
            changed = True
    if changed:
        program.graph_module.recompile()


def _with_non_persistent_buffers(program: "ExportedProgram") -> "ExportedProgram":
    """`program` as torch-mlir's importer can read it when the model has non-persistent
    buffers (`register_buffer(..., persistent=False)`: Llama's rotary frequencies, BERT's
    position ids).

    torch.export keeps such a buffer's value in `program.constants`, not in its
    `state_dict`, and torch-mlir 20261001 looks every buffer up in the state dict alone
    ("Could not find state mapping for buffer"; llvm/torch-mlir issue 4744). A buffer the
    program never writes is a constant of the program, so the importer is given a shallow
    copy whose signature lists each such buffer as a lifted tensor constant, which
    torch-mlir reads from `constants`. The program itself (and the user's model) are left
    as they are.
    """
    import copy

    from torch.export.graph_signature import ExportGraphSignature, InputKind, InputSpec

    signature = program.graph_signature
    written = set(signature.buffers_to_mutate.values())
    specs = []
    changed = False
    for spec in signature.input_specs:
        if (
            spec.kind == InputKind.BUFFER
            and spec.persistent is False
            and spec.target not in written
            and spec.target in program.constants
        ):
            spec = InputSpec(InputKind.CONSTANT_TENSOR, spec.arg, spec.target)
            changed = True
        specs.append(spec)
    if not changed:
        return program
    patched = copy.copy(program)
    patched._graph_signature = ExportGraphSignature(specs, list(signature.output_specs))
    return patched


def _refuse_dynamic_program(program: "ExportedProgram", dynamic_shapes: Any) -> None:
    """Raise `DynamicShapeError` for the first tensor of `program` with a symbolic size.

    Inputs are checked before intermediate values, so that a dimension the
    caller declared dynamic is reported as such.  This runs before lowering:
    torch-mlir's handling of data-dependent sizes can be very slow and memory
    hungry, and its error would not say which dimension was at fault.
    """
    from torch.export.graph_signature import InputKind

    user_inputs = [
        spec.arg.name
        for spec in program.graph_signature.input_specs
        if spec.kind == InputKind.USER_INPUT
    ]
    nodes = list(program.graph.nodes)
    placeholders = [node for node in nodes if node.op == "placeholder"]
    others = [node for node in nodes if node.op != "placeholder"]
    for node in placeholders + others:
        dimension = _first_symbolic_dimension(node.meta.get("val"))
        if dimension is None:
            continue
        index, symbol = dimension
        if node.op == "placeholder" and node.name in user_inputs:
            position = user_inputs.index(node.name)
            declared = _declared_dimension(dynamic_shapes, node.name, position, index)
            declared_text = f", declared as {declared}" if declared else ""
            what = (
                f"input '{node.name}' (argument {position}) has dynamic dimension "
                f"{index} (symbol {symbol}{declared_text})"
            )
        elif node.op == "placeholder":
            what = f"state tensor '{node.name}' has dynamic dimension {index} (symbol {symbol})"
        else:
            what = (
                f"{_node_location(node)}the result of {node.target} "
                f"(node '{node.name}') has data-dependent dimension {index} "
                f"(symbol {symbol})"
            )
        raise DynamicShapeError(
            f"{what}; mirage-mlir imports static shapes only: pass example inputs "
            "of the exact shapes to compile for, without dynamic_shapes"
        )


def _first_symbolic_dimension(value: Any) -> tuple[int, str] | None:
    """The first (dimension index, symbol name) of a fake tensor whose size is symbolic."""
    import torch

    if not isinstance(value, torch.Tensor):
        return None
    for index, size in enumerate(value.shape):
        if isinstance(size, torch.SymInt):
            return index, str(size)
    return None


def _declared_dimension(dynamic_shapes: Any, name: str, position: int, index: int) -> str | None:
    """How the caller's `dynamic_shapes` spelled dimension `index` of one input, if it did."""
    if dynamic_shapes is None:
        return None
    if isinstance(dynamic_shapes, dict):
        spec = dynamic_shapes.get(name)
    elif isinstance(dynamic_shapes, (list, tuple)) and position < len(dynamic_shapes):
        spec = dynamic_shapes[position]
    else:
        return None
    if isinstance(spec, dict):
        entry = spec.get(index)
    elif isinstance(spec, (list, tuple)) and index < len(spec):
        entry = spec[index]
    else:
        return None
    if entry is None:
        return None
    dim_name = getattr(entry, "__name__", None)
    if dim_name:
        return f"Dim '{dim_name}'"
    # Dim.AUTO and Dim.DYNAMIC are DimHint objects that print as "DimHint(AUTO)".
    hint = re.fullmatch(r"DimHint\((\w+)\)", repr(entry))
    return f"Dim.{hint.group(1)}" if hint else repr(entry)


def _node_location(node: Any) -> str:
    """'file:line: ' of the user code that produced an fx node, or '' when unknown."""
    trace = node.meta.get("stack_trace") or ""
    frames = re.findall(r'File "([^"]+)", line (\d+)', trace)
    if not frames:
        return ""
    path, line = frames[-1]
    return f"{path}:{line}: "


def _lower_to_linalg(program: "ExportedProgram", model_name: str) -> Any:
    """Run torch-mlir's fx importer and its linalg-on-tensors backend pipeline.

    MLIR's diagnostics are collected by a handler on our own context: the C++
    side prints them straight to the process's stderr otherwise, and the
    exception torch-mlir raises would not contain them.
    """
    from torch_mlir import fx, ir
    from torch_mlir.compiler_utils import OutputType
    from torch_mlir.dialects import torch as torch_dialect
    from torch_mlir.extras.fx_importer import FxImporter

    context = ir.Context()
    torch_dialect.register_dialect(context)
    diagnostics: list[str] = []

    def collect(diagnostic: Any) -> bool:
        if diagnostic.severity == ir.DiagnosticSeverity.ERROR:
            diagnostics.append(f"{_mlir_location(diagnostic.location)}{diagnostic.message}")
        return True

    handler = context.attach_diagnostic_handler(collect)
    try:
        return fx.export_and_import(
            program,
            output_type=OutputType.LINALG_ON_TENSORS,
            func_name="main",
            fx_importer=FxImporter(context=context),
        )
    except Exception as error:  # the importer and the pass manager raise various types
        if diagnostics:
            reason = _describe_diagnostic(diagnostics[0])
        else:
            reason = _summary(error)
        # torch-mlir saves the failing module and names the offline command that
        # replays the failed pipeline on it; pass that on.
        replay = re.search(r"^\$ (torch-mlir-opt .*)$", str(error), re.MULTILINE)
        replay_text = f"\nreproduce with: {replay.group(1)}" if replay else ""
        raise TorchImportError(
            f"torch-mlir could not lower {model_name} to linalg on tensors: {reason}{replay_text}"
        ) from error
    finally:
        handler.detach()


def _describe_diagnostic(diagnostic: str) -> str:
    """Shorten an MLIR legalisation error to the op it names, keeping its location."""
    first_line = diagnostic.splitlines()[0]
    operator = re.search(r'"torch\.operator"\(.*?name = "([^"]+)"', first_line)
    if operator:
        location = first_line.split("failed to legalize", 1)[0]
        return f"{location}no lowering for {operator.group(1)}"
    legalize = re.search(r"failed to legalize operation '([^']+)'", first_line)
    if legalize:
        location = first_line.split("failed to legalize", 1)[0]
        return f"{location}no lowering for {legalize.group(1)}"
    return first_line if len(first_line) <= 400 else first_line[:400] + " ..."


def _mlir_location(location: Any) -> str:
    """'file:line:col: ' of an MLIR file location, or '' for an unknown one."""
    match = re.search(r'loc\("([^"]+)":(\d+):(\d+)\)', str(location))
    if not match:
        return ""
    path, line, column = match.groups()
    return f"{path}:{line}:{column}: "


def _refuse_dynamic_mlir(module: Any) -> None:
    """Raise `DynamicShapeError` if any value in the lowered module has a `?` dimension.

    The exported program was checked already; this guards against a dynamic
    size that only the lowering introduces.
    """
    from torch_mlir import ir

    found: list[str] = []

    def visit(operation: Any) -> Any:
        values = list(operation.results) + list(operation.operands)
        for region in operation.regions:
            for block in region.blocks:
                values.extend(block.arguments)
        for value in values:
            shaped = value.type
            if not isinstance(shaped, ir.RankedTensorType):
                continue
            for index in range(shaped.rank):
                if shaped.is_dynamic_dim(index):
                    found.append(
                        f"{_mlir_location(operation.location)}'{operation.name}' has "
                        f"a value of type {shaped} whose dimension {index} is dynamic"
                    )
                    return ir.WalkResult.INTERRUPT
        return ir.WalkResult.ADVANCE

    module.operation.walk(visit)
    if found:
        raise DynamicShapeError(f"{found[0]}; mirage-mlir imports static shapes only")


def _summary(error: BaseException) -> str:
    """The first paragraph of an exception's message, prefixed by its type name."""
    lines: list[str] = []
    for line in str(error).strip().splitlines():
        if not line.strip():
            if lines:
                break
            continue
        lines.append(line.rstrip())
        if len(lines) == _QUOTED_LINES:
            lines.append("...")
            break
    text = "\n".join(lines) or "(no message)"
    return f"{type(error).__name__}: {text}"


def _user_location(message: str) -> str:
    """' at file:line' of the user's code in a torch error message, or ''.

    torch.export's messages quote the user frame that raised; frames inside
    torch itself are skipped.
    """
    for path, line in re.findall(r'File "([^"]+)", line (\d+)', message):
        if "/torch/" not in path and "/site-packages/" not in path:
            return f" at {path}:{line}"
    return ""
