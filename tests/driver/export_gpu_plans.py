"""Export every example's launch plan for a GPU machine that has no compiler stack.

    .venv/bin/python -m mirage_mlir.tests.driver.export_gpu_plans [DIRECTORY]

Each example is optimised and lowered here (torch-mlir, xDSL, egglog), then
written with `export_plan` (with every launch's tile variants, for the
runtime's autotuning) to DIRECTORY/<example>/ (default build/gpu_plans,
an ignored folder a GPU run carries).  Beside each plan, `example.json`
records checksums of the example's weights and seed-0 inputs, so the GPU side
can tell that the torch it rebuilds the model with draws the same numbers.
DIRECTORY/modules/<example>/ holds `mirage_mlir.compile(...).save()` of the
same example (target h100), for testing `mirage_mlir.load` on the GPU.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

DEFAULT_DIRECTORY = Path(__file__).resolve().parents[2] / "build" / "gpu_plans"


def tensor_checksums(model, inputs) -> dict[str, float]:
    """Sums of the model's parameters and buffers and of the inputs (float64)."""
    import torch

    with torch.no_grad():
        weights = sum(float(t.double().sum()) for t in model.state_dict().values()
                      if t.is_floating_point())
        data = sum(float(t.double().sum()) for t in inputs)
    return {"weights": weights, "inputs": data}


def export_example(name: str, directory: Path, variants: bool = True) -> Path:
    """Optimise, lower and export example `name` into directory/name; return that folder.

    With `variants`, every launch carries its tile variants for autotuning.
    """
    import mirage_mlir
    from mirage_mlir.examples import load_example
    from mirage_mlir.lowering.artifact import export_plan
    from mirage_mlir.lowering.program import lower_module
    from mirage_mlir.lowering.tile_variants import lower_variants

    example = load_example(name)
    optimised = mirage_mlir.optimize(example.mlir_path.read_text()).mlir
    if variants:
        lowered, launch_variants = lower_variants(optimised)
        folder = export_plan(lowered, directory / name, launch_variants)
    else:
        folder = export_plan(lower_module(optimised), directory / name)
    checksums = tensor_checksums(example.make_model(), example.make_inputs(0))
    (folder / "example.json").write_text(json.dumps({"example": name, **checksums}, indent=1))
    return folder


def save_module(name: str, directory: Path) -> Path:
    """Compile example `name` for the H100 and save the artifact to directory/modules/name."""
    import mirage_mlir
    from mirage_mlir.examples import load_example

    example = load_example(name)
    compiled = mirage_mlir.compile(example.make_model(), *example.make_inputs(0),
                                   target="h100", use_cache=False)
    if compiled.launch_plan is None:
        raise RuntimeError(f"{name}: no launch plan ({compiled.report.get('notes')})")
    return compiled.save(directory / "modules" / name)


def main(argv: list[str]) -> int:
    """Export all examples (or those named after the directory)."""
    from mirage_mlir.examples import EXAMPLE_NAMES

    directory = Path(argv[0]) if argv else DEFAULT_DIRECTORY
    names = argv[1:] or list(EXAMPLE_NAMES)
    for name in names:
        started = time.perf_counter()
        folder = export_example(name, directory)
        size = sum(f.stat().st_size for f in folder.iterdir())
        save_module(name, directory)
        print(f"{name}: {folder} ({size / 1e6:.2f} MB, {time.perf_counter() - started:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
