"""A portable launch-plan artifact: a lowered program as files a GPU machine can run.

```python
from mirage_mlir.lowering.artifact import export_plan, read_plan

export_plan(lower_module(optimised_mlir), "plan_dir/")   # needs xDSL (here)
plan = read_plan("plan_dir/")                            # needs only json + numpy
```

The directory holds `plan.json`, one `<kernel>.ttir` per kernel and one
`<value>.npy` per tensor constant (the weights).  `plan.json` is

```json
{"format": 1, "function": "main",
 "kernels": {"k0": {"file": "k0.ttir", "sha256": "..."}},
 "steps": [
   {"op": "input",  "value": "v0", "shape": [64, 64], "dtype": "float32"},
   {"op": "const",  "value": "v1", "shape": [64], "dtype": "float32", "file": "v1.npy"},
   {"op": "alloc",  "value": "v2", "slot": 0, "shape": [64, 64], "dtype": "float32"},
   {"op": "view",   "value": "v3", "source": "v2", "shape": [4096]},
   {"op": "launch", "kernel": "k0", "grid": [1, 1, 1], "args": ["v0", "v1", "v2"]},
   {"op": "return", "values": ["v3"]}]}
```

A launch may also list `variants` (written when `export_plan` is given them,
see `lowering.tile_variants`): other kernels computing the same outputs,
each with its grid and `triton.compile` options, the launch's own kernel
and grid first.  A runtime that ignores them runs the first.

```json
   {"op": "launch", "kernel": "k0", "grid": [2, 1, 1], "args": ["v0", "v2"],
    "variants": [{"kernel": "k0", "grid": [2, 1, 1], "options": {"num_warps": 4}},
                 {"kernel": "k0.t1", "grid": [4, 1, 1], "options": {"num_warps": 8}}]}
```

Steps are the host function's ops in order.  `alloc` names a slot: every
alloc of one slot shares that slot's bytes (the plan's buffer reuse), so a
runtime keeps one byte buffer per slot.  `launch` args are the kernel's
operands, inputs first, then outputs.  Constants are stored in the NumPy
dtype the plan interpreter uses (bf16 as float32); `dtype` is the type the
kernels expect.  Nothing here imports xDSL at module level, so `read_plan`
runs where only numpy is installed.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

    from mirage_mlir.lowering.program import LoweredProgram
    from mirage_mlir.lowering.tile_variants import LaunchVariant

__all__ = ["ARTIFACT_FORMAT", "PlanArtifact", "PlanFormatError", "export_plan", "read_plan",
           "write_plan"]

#: The version of `plan.json`; a reader refuses any other.
ARTIFACT_FORMAT = 1

#: Step kinds, in the words of `plan.json`.
STEP_KINDS = ("input", "const", "alloc", "view", "launch", "return")


class PlanFormatError(ValueError):
    """A plan directory is missing, malformed, or of another format version."""


@dataclass(frozen=True)
class PlanArtifact:
    """A launch plan read back from its directory.

    `kernels` maps each kernel name to its TTIR text; `steps` are the
    `plan.json` steps; `constants` maps a value name to its array.
    """

    directory: Path
    function: str
    kernels: dict[str, str]
    steps: list[dict[str, Any]]
    constants: dict[str, "np.ndarray"]

    @property
    def inputs(self) -> list[dict[str, Any]]:
        """The `input` steps, in argument order."""
        return [s for s in self.steps if s["op"] == "input"]


def _element_dtype(tensor_type: Any) -> str:
    """The torch dtype name of a tensor type's elements (float32, bfloat16, int64...)."""
    from xdsl.dialects.builtin import (
        BFloat16Type,
        Float16Type,
        Float32Type,
        Float64Type,
        IndexType,
        IntegerType,
    )

    element = tensor_type.get_element_type()
    if isinstance(element, Float32Type):
        return "float32"
    if isinstance(element, Float16Type):
        return "float16"
    if isinstance(element, BFloat16Type):
        return "bfloat16"
    if isinstance(element, Float64Type):
        return "float64"
    if isinstance(element, IndexType):
        return "int64"
    if isinstance(element, IntegerType):
        width = element.width.data
        if width == 1:
            return "bool"
        if width in (8, 16, 32, 64):
            return f"int{width}"
    raise PlanFormatError(f"no artifact dtype for element type {element}")


def export_plan(lowered: "LoweredProgram", directory: str | Path,
                variants: "list[list[LaunchVariant]] | None" = None) -> Path:
    """Write `lowered`'s launch plan, kernels and constants into `directory`; return it.

    `variants` (from `tile_variants.lower_variants`) gives, per launch in plan
    order, the kernels an autotuner may pick from; the first must be the
    launch's own kernel and grid.
    """
    import numpy as np
    from xdsl.dialects.builtin import TensorType

    from mirage_mlir.dialects import plan
    from mirage_mlir.lowering.program import _host_function, constant_array

    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    host = _host_function(lowered.plan, lowered.function)
    names: dict[Any, str] = {}

    def name_of(value: Any) -> str:
        return names.setdefault(value, f"v{len(names)}")

    def tensor_step(op: str, value: Any) -> dict[str, Any]:
        if not isinstance(value.type, TensorType):
            raise PlanFormatError(f"@{lowered.function}: a {op} of non-tensor type {value.type}")
        return {"op": op, "value": name_of(value), "shape": list(value.type.get_shape()),
                "dtype": _element_dtype(value.type)}

    steps: list[dict[str, Any]] = [tensor_step("input", a) for a in host.body.block.args]
    for op in host.body.block.ops:
        if op.name == "arith.constant":
            result = op.results[0]
            if not isinstance(result.type, TensorType):
                raise PlanFormatError(f"@{lowered.function}: scalar constant {result.type} "
                                      "in the host plan")
            step = tensor_step("const", result)
            value = op.properties.get("value") or op.attributes.get("value")
            step["file"] = f"{step['value']}.npy"
            np.save(folder / step["file"], constant_array(value, result.type))
            steps.append(step)
        elif isinstance(op, plan.AllocOp):
            steps.append({**tensor_step("alloc", op.result), "slot": op.slot_index})
        elif op.name in ("tensor.expand_shape", "tensor.collapse_shape"):
            steps.append({"op": "view", "value": name_of(op.results[0]),
                          "source": name_of(op.operands[0]),
                          "shape": list(op.results[0].type.get_shape())})
        elif isinstance(op, plan.LaunchOp):
            steps.append({"op": "launch", "kernel": op.kernel_name,
                          "grid": list(op.grid_sizes),
                          "args": [name_of(v) for v in (*op.ins, *op.outs)]})
        elif op.name == "func.return":
            steps.append({"op": "return", "values": [name_of(v) for v in op.operands]})
        else:
            raise PlanFormatError(f"@{lowered.function}: '{op.name}' has no artifact step")
    texts = dict(lowered.kernels)
    if variants is not None:
        _add_variants(steps, texts, variants)
    kernels = {}
    for name, ttir in texts.items():
        (folder / f"{name}.ttir").write_text(ttir)
        kernels[name] = {"file": f"{name}.ttir",
                         "sha256": hashlib.sha256(ttir.encode()).hexdigest()}
    document = {"format": ARTIFACT_FORMAT, "function": lowered.function,
                "kernels": kernels, "steps": steps}
    (folder / "plan.json").write_text(json.dumps(document, indent=1))
    return folder


def _add_variants(steps: list[dict[str, Any]], texts: dict[str, str],
                  variants: "list[list[LaunchVariant]]") -> None:
    """Give each launch step its `variants`, adding their kernels to `texts`."""
    launches = [s for s in steps if s["op"] == "launch"]
    if len(launches) != len(variants):
        raise PlanFormatError(f"{len(variants)} variant lists for {len(launches)} launches")
    by_text = {text: name for name, text in texts.items()}
    for step, options in zip(launches, variants):
        first = options[0] if options else None
        if first is None or texts[step["kernel"]] != first.ttir or \
                list(first.grid) != step["grid"]:
            raise PlanFormatError(f"launch of {step['kernel']}: the first variant is not the "
                                  "launch's own kernel and grid")
        entries = []
        added = 0
        for variant in options:
            name = by_text.get(variant.ttir)
            if name is None:  # a kernel no launch runs by default: `<kernel>.t<n>`
                added += 1
                name = by_text[variant.ttir] = f"{step['kernel']}.t{added}"
                texts[name] = variant.ttir
            entries.append({"kernel": name, "grid": list(variant.grid),
                            "options": {"num_warps": variant.num_warps}})
        step["variants"] = entries


def read_plan(directory: str | Path) -> PlanArtifact:
    """Read a directory written by `export_plan`, checking its format and references."""
    import numpy as np

    folder = Path(directory)
    try:
        document = json.loads((folder / "plan.json").read_text())
    except (OSError, ValueError) as error:
        raise PlanFormatError(f"{folder}: not a launch-plan artifact ({error})") from None
    if document.get("format") != ARTIFACT_FORMAT:
        raise PlanFormatError(f"{folder}/plan.json: format {document.get('format')!r}, "
                              f"expected {ARTIFACT_FORMAT}")
    kernels = {}
    for name, entry in document["kernels"].items():
        text = (folder / entry["file"]).read_text()
        if hashlib.sha256(text.encode()).hexdigest() != entry["sha256"]:
            raise PlanFormatError(f"{folder}/{entry['file']}: contents do not match plan.json")
        kernels[name] = text
    defined: set[str] = set()
    constants = {}
    for index, step in enumerate(document["steps"]):
        where = f"{folder}/plan.json: step {index} ({step.get('op')})"
        if step.get("op") not in STEP_KINDS:
            raise PlanFormatError(f"{where}: unknown step kind")
        used = {"view": [step.get("source")], "launch": step.get("args", []),
                "return": step.get("values", [])}.get(step["op"], [])
        for name in used:
            if name not in defined:
                raise PlanFormatError(f"{where}: value {name!r} is used before it is defined")
        if step["op"] == "launch":
            for kernel in [step["kernel"], *(v.get("kernel") for v in step.get("variants", []))]:
                if kernel not in kernels:
                    raise PlanFormatError(f"{where}: unknown kernel {kernel!r}")
        if step["op"] == "const":
            constants[step["value"]] = np.load(folder / step["file"])
        if "value" in step:
            defined.add(step["value"])
    return PlanArtifact(folder, document["function"], kernels, document["steps"], constants)


def write_plan(artifact: PlanArtifact, directory: str | Path) -> Path:
    """Write a plan read by `read_plan` (a saved `CompiledModule`, say) to `directory`."""
    import numpy as np

    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    kernels = {}
    for name, text in artifact.kernels.items():
        (folder / f"{name}.ttir").write_text(text)
        kernels[name] = {"file": f"{name}.ttir",
                         "sha256": hashlib.sha256(text.encode()).hexdigest()}
    for step in artifact.steps:
        if step["op"] == "const":
            np.save(folder / step["file"], artifact.constants[step["value"]])
    document = {"format": ARTIFACT_FORMAT, "function": artifact.function,
                "kernels": kernels, "steps": artifact.steps}
    (folder / "plan.json").write_text(json.dumps(document, indent=1))
    return folder
