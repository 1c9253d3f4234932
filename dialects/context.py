"""Reading and writing MLIR text the way the whole project does.

Every part of mirage-mlir that turns text into IR or IR into text goes through
these three functions, so that all of them see the same dialects and the same
repairs to xDSL:

```python
from mirage_mlir.dialects.context import mirage_context, parse_mlir, print_mlir

module = parse_mlir(text, "model.mlir")   # raises MlirSyntaxError / MlirVerifyError
text = print_mlir(module)                 # the module and its dialect_resources
```

`mirage_context()` holds all of xDSL's dialects, the project's dialects from
`mirage_mlir.universe.MIRAGE_UNIVERSE` (among them torch-mlir's `tm_tensor`),
and the project's linalg, arith, tensor and ml_program in place of xDSL's.
`parse_mlir` uses `MirageParser` (hex float literals, resource names, op
locations) and reports problems as located `MlirError`s.  `print_mlir`
prints the `{-# dialect_resources #-}` section after the module: without it
every `dense_resource` weight would be silently dropped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from io import StringIO

from xdsl.context import Context
from xdsl.dialect_interfaces.op_asm import OpAsmDialectInterface
from xdsl.dialects.builtin import Builtin, ModuleOp
from xdsl.ir import Dialect
from xdsl.utils.exceptions import DiagnosticException, ParseError

from mirage_mlir.dialects.diagnostics import (
    MlirError,
    MlirSyntaxError,
    MlirVerifyError,
    error_at_span,
    syntax_error_from,
    verify_error_from,
)
from mirage_mlir.dialects.parser import LocatedVerifyException, MirageParser

__all__ = [
    "MlirError",
    "MlirSyntaxError",
    "MlirVerifyError",
    "dialect_factories",
    "mirage_context",
    "parse_mlir",
    "print_mlir",
    "verify_module",
]


def _fixed_linalg() -> Dialect:
    from mirage_mlir.dialects.linalg import Linalg

    return Linalg


def _fixed_arith() -> Dialect:
    from mirage_mlir.dialects.arith import Arith

    return Arith


def _fixed_tensor() -> Dialect:
    from mirage_mlir.dialects.tensor import Tensor

    return Tensor


def _fixed_ml_program() -> Dialect:
    from mirage_mlir.dialects.ml_program import MLProgram

    return MLProgram


def dialect_factories() -> dict[str, Callable[[], Dialect]]:
    """Name -> factory of every dialect mirage-mlir reads, loaded lazily.

    xDSL's dialects, then the project's (which may not reuse an xDSL name),
    then the fixed linalg, arith, tensor and ml_program in place of xDSL's.
    """
    from xdsl.dialects import get_all_dialects

    from mirage_mlir.universe import MIRAGE_UNIVERSE

    factories = dict(get_all_dialects())
    for name, factory in MIRAGE_UNIVERSE.all_dialects.items():
        if name in factories:
            raise ValueError(
                f"mirage-mlir dialect '{name}' clashes with an xDSL dialect"
            )
        factories[name] = factory
    factories["linalg"] = _fixed_linalg
    factories["arith"] = _fixed_arith
    factories["tensor"] = _fixed_tensor
    factories["ml_program"] = _fixed_ml_program
    return factories


def mirage_context(*, allow_unregistered: bool = False) -> Context:
    """A fresh xDSL context with every dialect mirage-mlir uses registered."""
    ctx = Context(allow_unregistered=allow_unregistered)
    for name, factory in dialect_factories().items():
        ctx.register_dialect(name, factory)
    return ctx


def verify_module(
    module: ModuleOp, source: str | None = None, line_offset: int = 0
) -> None:
    """Verify `module`, raising a located `MlirVerifyError` on failure.

    `source` (the text the module came from) lets the error quote the line.
    """
    try:
        module.verify()
    except DiagnosticException as error:
        raise verify_error_from(error, module, source, line_offset) from None


def parse_mlir(
    text: str,
    source_name: str = "<string>",
    *,
    ctx: Context | None = None,
    verify: bool = True,
) -> ModuleOp:
    """Parse MLIR text into a module, with the project's dialects and repairs.

    Top-level ops outside a `module` are wrapped in one.  The module is
    verified unless `verify` is False.  Raises `MlirSyntaxError` for text that
    does not parse and `MlirVerifyError` for IR that does not verify, both
    naming `source_name:line:col`.
    """
    parser = MirageParser(ctx or mirage_context(), text, source_name)
    try:
        module = parser.parse_module()
    except ParseError as error:
        raise syntax_error_from(error) from None
    except LocatedVerifyException as error:
        raise error_at_span(MlirVerifyError, error.span, error.message) from None
    if verify:
        verify_module(module, text)
    return module


def print_mlir(
    module: ModuleOp,
    *,
    generic: bool = False,
    debuginfo: bool = False,
    dialects: Iterable[Dialect] = (),
) -> str:
    """Print `module` and its `{-# dialect_resources #-}` section as MLIR text.

    `generic` prints every op in MLIR's generic form; `debuginfo` prints op
    locations.  Resources are looked up in the builtin dialect (where
    `dense_resource` blobs live) and in `dialects`.
    """
    from xdsl.printer import Printer

    out = StringIO()
    printer = Printer(
        stream=out, print_generic_format=generic, print_debuginfo=debuginfo
    )
    printer.print_op(module)
    resource_dialects = [Builtin, *dialects]
    printer.print_metadata(
        d for d in resource_dialects if d.has_interface(OpAsmDialectInterface)
    )
    out.write("\n")
    return out.getvalue()
