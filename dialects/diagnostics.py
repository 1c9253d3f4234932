"""Located diagnostics for MLIR input: the project's error types.

Every problem found in MLIR text is reported as one `MlirError` that names the
file, line and column (where the problem has a place in the text) and says
what is wrong, in the form compilers use:

```
model.mlir:12:5: error: 'linalg.matmul' op inferred input/output operand #1 ...
    %2 = linalg.matmul ins(%a, %a : tensor<2x4xf32>, tensor<2x4xf32>) ...
    ^
```

`MlirSyntaxError` is text that does not parse; `MlirVerifyError` is IR that
parses but breaks an op's rules.  Both replace xDSL's own exceptions at the
project's boundary, so callers catch one family and users never see a Python
traceback for bad input.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

from xdsl.dialects.builtin import FileLineColLoc, ModuleOp
from xdsl.ir import Operation
from xdsl.utils.exceptions import DiagnosticException, ParseError
from xdsl.utils.lexer import Span


@dataclass
class MlirError(Exception):
    """A problem in MLIR input, with its place in the text where it has one."""

    message: str
    """What is wrong, in one line."""
    file: str | None = None
    """The name of the input (a path, `<stdin>` or `<string>`)."""
    line: int | None = None
    """1-based line of the problem, or None when it has no place."""
    column: int | None = None
    """1-based column of the problem, or None when it has no place."""
    context: str = ""
    """Source lines with a caret under the problem, or notes; may be empty."""

    @property
    def location(self) -> str:
        """`file:line:col`, or as much of it as is known."""
        parts = [self.file or "<unknown>"]
        if self.line is not None:
            parts.append(str(self.line))
            if self.column is not None:
                parts.append(str(self.column))
        return ":".join(parts)

    def __str__(self) -> str:
        header = f"{self.location}: error: {self.message}"
        if not self.context:
            return header
        return header + "\n" + self.context.rstrip("\n")


class MlirSyntaxError(MlirError):
    """MLIR text that does not parse: malformed syntax, an unknown op or type."""


class MlirVerifyError(MlirError, DiagnosticException):
    """IR that parses but does not verify: wrong types, shapes or structure.

    Also a `DiagnosticException`, so xDSL's `--verify-diagnostics` handling
    prints it and carries on.
    """


MlirErrorT = TypeVar("MlirErrorT", bound=MlirError)


def caret_context(source: str, line: int, column: int, width: int = 1) -> str:
    """The source line `line` (1-based) with `^` under `width` columns from `column`."""
    lines = source.splitlines()
    if not 1 <= line <= len(lines):
        return ""
    text = lines[line - 1]
    start = max(column - 1, 0)
    width = max(1, min(width, len(text) - start))
    return f"{text}\n{' ' * start}{'^' * width}\n"


def error_at_span(
    kind: type[MlirErrorT], span: Span[str] | Span[bytes], message: str
) -> MlirErrorT:
    """An error of type `kind` at an xDSL source span, quoting its line."""
    location = span.get_location()
    source = span.input.content
    text = source.decode("utf-8", "replace") if isinstance(source, bytes) else source
    # The span's line includes the offset of a split-input chunk; the text
    # itself is the chunk only.
    local_line = location.line - span.line_offset
    first_line_end = text.find("\n", span.start)
    end = span.end if first_line_end == -1 else min(span.end, first_line_end)
    context = caret_context(text, local_line, location.col, max(end - span.start, 1))
    return kind(
        message=message,
        file=location.file,
        line=location.line,
        column=location.col,
        context=context,
    )


def syntax_error_from(error: ParseError) -> MlirSyntaxError:
    """Turn xDSL's `ParseError` into a located `MlirSyntaxError`."""
    message = error.msg
    if message.startswith(" "):
        # xDSL sometimes gives only the context (" in block definition").
        found = error.span.text.strip()
        message = (
            f"unexpected '{found}'" if found else "unexpected end of input"
        ) + message
    return error_at_span(MlirSyntaxError, error.span, message)


def failing_operation(module: Operation) -> tuple[Operation, Exception] | None:
    """Find the op whose own rules fail, innermost first, as xDSL verifies.

    Returns the op and its error, or None if every op verifies on its own (the
    failure was then in a region or block, not in one op).
    """
    for op in module.walk(region_first=True):
        try:
            op.verify(verify_nested_ops=False)
        except DiagnosticException as error:
            return op, error
    return None


def verify_error_from(
    error: Exception,
    module: ModuleOp,
    source: str | None = None,
    line_offset: int = 0,
) -> MlirVerifyError:
    """Locate a verifier failure of `module` at the op that caused it.

    `source` is the text `module` was parsed from (a chunk of it under
    split-input, which starts at line `line_offset + 1` of the file); when
    given, the op's source line is quoted under the message.
    """
    found = failing_operation(module)
    message = _first_line(str(error))
    if found is None:
        return MlirVerifyError(message=message, file=_location_file(module))
    op, own_error = found
    message = f"'{op.name}' op {_first_line(str(own_error))}"
    location = op.location
    if not isinstance(location, FileLineColLoc):
        return MlirVerifyError(message=message, file=_location_file(module))
    line, column = location.line.data, location.column.data
    context = ""
    if source is not None:
        context = caret_context(source, line - line_offset, column)
    return MlirVerifyError(
        message=message,
        file=location.filename.data,
        line=line,
        column=column,
        context=context,
    )


def _location_file(op: Operation) -> str | None:
    location = op.location
    return location.filename.data if isinstance(location, FileLineColLoc) else None


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else "verification failed"
