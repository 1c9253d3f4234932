"""Op counts of the examples' imported MLIR: what torch-mlir made of each model.

    python -m mirage_mlir.examples.demo --ops e2_attention e7_llama_attention

For each example the model is imported with `mirage_mlir.import_torch` (timed),
the MLIR text is parsed back with MLIR's own parser (`torch_mlir.ir`), and the
ops directly in `@main` are counted by name.  The table shows the linalg ops by
kind, the `tensor` ops (shape bookkeeping: empty, expand/collapse_shape,
extract_slice), and the compute ops: every linalg op but `linalg.fill`, which
only initialises an output.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass

from mirage_mlir.driver.errors import MirageError
from mirage_mlir.examples import load_example

__all__ = ["ImportSummary", "count_ops", "format_ops_table", "summarise"]

# linalg ops that compute no value of their own.
NON_COMPUTE_OPS = frozenset({"linalg.fill"})


@dataclass(frozen=True)
class ImportSummary:
    """One row of the op-count table: an example, its op counts and its import time."""

    name: str
    title: str
    op_counts: Counter
    import_seconds: float

    @property
    def compute_ops(self) -> int:
        """linalg (and tm_tensor) ops in @main, less those that only initialise."""
        return sum(
            count
            for op, count in self.op_counts.items()
            if op.split(".")[0] in ("linalg", "tm_tensor") and op not in NON_COMPUTE_OPS
        )

    @property
    def tensor_ops(self) -> int:
        """`tensor` dialect ops in @main."""
        return sum(count for op, count in self.op_counts.items() if op.startswith("tensor."))


def count_ops(mlir_text: str, function: str = "main") -> Counter:
    """Count the ops directly in the body of `function`, by op name.

    Ops nested in regions (a `linalg.generic` body's arith ops and its
    `linalg.yield`) belong to their parent and are not counted; nor is the
    function's terminator.  Raises `MirageError` when the text does not parse
    or has no such function.
    """
    from torch_mlir import ir

    with ir.Context():
        try:
            module = ir.Module.parse(mlir_text)
        except Exception as error:  # MLIRError carries the located diagnostics
            raise MirageError(f"the imported MLIR does not parse: {error}") from error
        # `.operation` gives the generic view: a FuncOp's own `.name` is its symbol.
        for operation in (op.operation for op in module.body.operations):
            if operation.name == "func.func" and _symbol_name(operation) == function:
                names = (op.operation.name for op in operation.regions[0].blocks[0].operations)
                return Counter(name for name in names if name != "func.return")
    raise MirageError(f"the imported MLIR has no function @{function}")


def _symbol_name(operation) -> str:
    """The bare symbol name of a func.func (its sym_name attribute, unquoted)."""
    from torch_mlir import ir

    return ir.StringAttr(operation.attributes["sym_name"]).value


def summarise(name: str) -> ImportSummary:
    """Import one example (timing only the import) and count the ops of its @main."""
    from mirage_mlir.driver.importer import import_torch

    example = load_example(name)
    model = example.make_model()
    inputs = example.make_inputs(0)
    start = time.perf_counter()
    text = import_torch(model, *inputs)
    seconds = time.perf_counter() - start
    return ImportSummary(name, example.title, count_ops(text), seconds)


def format_ops_table(rows: list[ImportSummary]) -> str:
    """A plain-text table: one column per linalg op kind seen, then totals and times."""
    linalg_kinds = sorted(
        {op for row in rows for op in row.op_counts if op.startswith(("linalg.", "tm_tensor."))}
    )
    headers = (
        ["example"]
        + [op.split(".", 1)[1] for op in linalg_kinds]
        + ["tensor.*", "compute", "import s", "title"]
    )
    body = [
        [row.name]
        + [str(row.op_counts.get(op, 0)) for op in linalg_kinds]
        + [str(row.tensor_ops), str(row.compute_ops), f"{row.import_seconds:.2f}", row.title]
        for row in rows
    ]
    widths = [max(len(line[i]) for line in [headers] + body) for i in range(len(headers))]

    def render(cells: list[str]) -> str:
        # Names and titles read left-aligned, numbers right-aligned.
        parts = [
            cell.ljust(width) if i in (0, len(cells) - 1) else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(cells, widths))
        ]
        return "  ".join(parts).rstrip()

    rule = "  ".join("-" * width for width in widths)
    lines = [render(headers), rule] + [render(cells) for cells in body]
    total = sum(row.import_seconds for row in rows)
    lines.append(
        f"\n{len(rows)} examples imported in {total:.2f} s "
        "(ops counted directly in @main; linalg columns by op name)"
    )
    return "\n".join(lines)
