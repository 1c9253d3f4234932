"""Write the f16 and bf16 imports of E2 that the eqsat-optimize FileCheck tests read.

    python tests/filecheck/passes/eqsat-optimize/Inputs/narrow_attention.py

Each file is a header line and what `mirage_mlir.import_torch` returns for the example's model
and its seed-0 inputs, both converted to the narrow type. torch-mlir writes such a model's
products as narrow operands into f32 accumulators followed by a `truncf`, and its softmax in
f32 between an `extf` and a `truncf`. tests/passes/test_low_precision_attention.py checks that
the files still equal a fresh import.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

#: (example, dtype) pairs written here, as `<example>_<dtype>.mlir`.
FILES = (
    ("e2_attention", "f16"),
    ("e2_attention_causal", "f16"),
    ("e2_attention_heads", "bf16"),
)

_TORCH_DTYPES = {"f16": "float16", "bf16": "bfloat16"}


def path(name: str, dtype: str) -> Path:
    """Where the `dtype` import of example `name` is written."""
    return HERE / f"{name}_{dtype}.mlir"


def render(name: str, dtype: str) -> str:
    """The text of `path(name, dtype)`: a header and a fresh import."""
    import torch

    import mirage_mlir
    from mirage_mlir.examples import load_example

    example = load_example(name)
    narrow = getattr(torch, _TORCH_DTYPES[dtype])
    model = example.make_model().to(narrow)
    inputs = [x.to(narrow) for x in example.make_inputs(0)]
    header = (
        f"// {name} in {dtype}: written by narrow_attention.py in this folder; do not edit.\n"
    )
    return header + mirage_mlir.import_torch(model, *inputs)


def main() -> int:
    """Write every file of FILES."""
    for name, dtype in FILES:
        path(name, dtype).write_text(render(name, dtype))
        print(f"wrote {path(name, dtype)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
