"""Rewrite the committed `examples/<name>.mlir` files from the example modules.

    python -m mirage_mlir.examples.regenerate                 # every example
    python -m mirage_mlir.examples.regenerate e1_matrix_chain # some of them

Each file is a two-line header followed by exactly what `mirage_mlir.import_torch`
returns for the example's model (seeded weights) and its inputs for seed 0.
The tests check that the committed files still equal a fresh import, so run
this after changing an example or upgrading torch or torch-mlir.
"""

from __future__ import annotations

import sys
import time

from mirage_mlir.driver.errors import MirageError
from mirage_mlir.examples import EXAMPLE_NAMES, Example, load_example

# Weights travel inside the .mlir files as hex blobs; keep each file reviewable.
MAX_MLIR_BYTES = 8 * 1024 * 1024


def mlir_header(example: Example) -> str:
    """The comment lines that open `examples/<name>.mlir`."""
    return (
        f"// {example.name}: {example.title}\n"
        f"// Imported from examples/{example.name}.py by "
        f"`python -m mirage_mlir.examples.regenerate {example.name}`; do not edit.\n"
    )


def render_example_mlir(example: Example) -> str:
    """The full text of `examples/<name>.mlir`: the header and a fresh import."""
    from mirage_mlir.driver.importer import import_torch

    model = example.make_model()
    return mlir_header(example) + import_torch(model, *example.make_inputs(0))


def regenerate(names: list[str]) -> None:
    """Import each named example and write its .mlir file, reporting on stderr."""
    for name in names:
        example = load_example(name)
        start = time.perf_counter()
        text = render_example_mlir(example)
        size = len(text.encode())
        if size > MAX_MLIR_BYTES:
            raise MirageError(
                f"{example.mlir_path}: {size / 2**20:.1f} MiB exceeds the "
                f"{MAX_MLIR_BYTES / 2**20:.0f} MiB limit; shrink the example's weights"
            )
        example.mlir_path.write_text(text)
        seconds = time.perf_counter() - start
        print(
            f"wrote {example.mlir_path} ({size / 1024:.0f} KiB, {seconds:.2f} s)", file=sys.stderr
        )


def main(argv: list[str] | None = None) -> int:
    """Entry point: regenerate the examples named on the command line, or all of them."""
    names = list(sys.argv[1:] if argv is None else argv) or list(EXAMPLE_NAMES)
    unknown = [name for name in names if name not in EXAMPLE_NAMES]
    if unknown:
        print(
            f"regenerate: unknown example(s) {', '.join(unknown)}; "
            f"choose from {', '.join(EXAMPLE_NAMES)}",
            file=sys.stderr,
        )
        return 1
    try:
        regenerate(names)
    except MirageError as error:
        print(f"regenerate: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
