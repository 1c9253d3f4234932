"""The MLIR parser mirage-mlir reads with: xDSL's, with repairs.

`MirageParser` is xDSL's `Parser` with four changes, each for a way the stock
parser loses or hides information on torch-mlir output:

* Hex float literals.  `dense<0xFF800000> : tensor<4xf32>` is -inf, written
  as its IEEE bits (MLIR's form for values with no exact decimal: infinities,
  NaNs).  xDSL 0.74 reads the digits as the integer 4286578688 and converts
  that to a float: a silent miscompile (causal masks and SDPA's guard use
  -inf).  Here hex elements of float-typed dense literals, splat or not, are
  reinterpreted as the bits of the element type (f16, bf16, f32, f64).  Hex
  `FloatAttr`s (`0xFF800000 : f32`) were already right in xDSL.
* Resource names.  Resource blobs (`dense_resource<name>` and the
  `{-# dialect_resources #-}` section: all of a model's weights) live in one
  table per process.  When a second module reuses a name, xDSL renames the
  reference but looks the blob up under the old name, so the weights are
  silently dropped.  Here a renamed key is used consistently for the reference
  and its blob; if the blob is byte-identical to the one already stored under
  the original name, the module keeps the original name (so re-parsing the
  same text prints the same text).
* Op locations.  Every op gets a `loc("file":line:col)` of where it starts in
  the text (unless the text gives one), so that a verifier error can say where
  the offending op is.  Locations are printed only on request.
* Errors raised while an op is built (an attribute that does not verify, an
  xDSL op parser that asserts) become located errors instead of escaping as
  bare Python exceptions.
* Error positions.  xDSL reports a use of an undefined value at the end of
  the file, and a dense literal whose element count disagrees with its type
  at the token after the type.  Here the first is reported at the first use
  of the value (when the function, or any op isolated from above, that uses
  it ends), and the second at the literal.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterator
from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialect_interfaces.op_asm import OpAsmDialectInterface
from xdsl.dialects.builtin import (
    AnyFloat,
    ComplexType,
    DenseResourceAttr,
    FileLineColLoc,
    IndexType,
    IntAttr,
    IntegerType,
    ModuleOp,
    StringAttr,
    UnknownLoc,
)
from xdsl.ir import Attribute, Operation
from xdsl.parser import Parser, UnresolvedOperand
from xdsl.parser.attribute_parser import AttrParser
from xdsl.traits import IsolatedFromAbove
from xdsl.utils.exceptions import ParseError, VerifyException
from xdsl.utils.lexer import Span
from xdsl.utils.mlir_lexer import MLIRTokenKind

from mirage_mlir.dialects.diagnostics import MlirVerifyError, error_at_span


@dataclass
class LocatedVerifyException(VerifyException):
    """A verifier failure met while parsing, with the place of the op in the text.

    It stays a `VerifyException`, so `--verify-diagnostics` treats it as xDSL
    does (print it, exit 0); its text starts with `file:line:col`.
    """

    span: Span[str]
    message: str

    def __str__(self) -> str:
        return str(error_at_span(MlirVerifyError, self.span, self.message))


_TensorLiteralElement = AttrParser._TensorLiteralElement


@dataclass
class _HexFloatElement(_TensorLiteralElement):
    """A tensor literal element written in hex: IEEE bits when the type is a float."""

    def to_type(
        self,
        parser: AttrParser,
        type: AnyFloat | IntegerType | IndexType | ComplexType,
    ):
        if not isinstance(type, AnyFloat):
            return super().to_type(parser, type)
        if self.is_negative:
            parser.raise_error(
                "hexadecimal float literal should not have a leading minus",
                at_position=self.span,
            )
        bits = self.value
        assert isinstance(bits, int)
        if bits >> type.bitwidth:
            parser.raise_error(
                f"hexadecimal float constant out of range for type {type}",
                at_position=self.span,
            )
        raw = bits.to_bytes(type.compile_time_size, "little")
        return next(iter(type.iter_unpack(raw)))


class MirageParser(Parser):
    """xDSL's MLIR parser with mirage-mlir's repairs (see the module docstring).

    `line_offset` is the number of lines before `input` in its file, for
    chunks of a split input: locations then name lines of the whole file.
    """

    def __init__(
        self,
        ctx: Context,
        input: str | bytes,
        name: str = "<unknown>",
        *,
        line_offset: int = 0,
    ) -> None:
        super().__init__(ctx, input, name)
        self.line_offset = line_offset
        self._filename = StringAttr(name)
        self._line_starts: list[int] | None = None
        self._resource_names: dict[tuple[str, str], str] = {}
        self._op_start = 0
        # Where each still-undefined value name was first used, and how many
        # regions were open there.
        self._first_uses: dict[str, tuple[Span[str], int]] = {}
        self._region_depth = 0

    # -- op locations and errors while building ops --------------------------

    def parse_operation(self) -> Operation:
        start = self._current_token.span.start
        self._op_start = start
        pending = set(self.forward_ssa_references)
        depth = self._region_depth
        try:
            op = super().parse_operation()
        except (ParseError, LocatedVerifyException):
            raise
        except VerifyException as error:
            raise LocatedVerifyException(
                self._span(start), f"{self._op_name_at(start)}{_first_line(error)}"
            ) from error
        except Exception as error:
            raise ParseError(
                self._span(start),
                f"{self._op_name_at(start)}could not be built "
                f"({type(error).__name__}: {_first_line(error)})",
            ) from error
        if isinstance(op.location, UnknownLoc):
            line, column = self._line_and_column(start)
            op.location = FileLineColLoc(self._filename, IntAttr(line), IntAttr(column))
        if op.has_trait(IsolatedFromAbove):
            # Nothing outside an isolated op can define what its body uses,
            # so a name first used in it and still undefined at its end is
            # undefined for good.
            self._raise_first_undefined_use(exclude=pending, deeper_than=depth)
        return op

    # -- undefined values -----------------------------------------------------

    def resolve_operand(self, operand: UnresolvedOperand, type: Attribute):
        """xDSL's, noting where a name not defined yet is first used."""
        name = operand.operand_name
        if name not in self.ssa_values and name not in self.forward_ssa_references:
            span = Span(operand.span.start, operand.span.end, self.lexer.input, self.line_offset)
            self._first_uses[name] = (span, self._region_depth)
        return super().resolve_operand(operand, type)

    def parse_optional_region(self, arguments=None):
        """xDSL's, counting the regions open (uses inside an op's regions are its own)."""
        self._region_depth += 1
        try:
            return super().parse_optional_region(arguments)
        finally:
            self._region_depth -= 1

    def _raise_first_undefined_use(
        self, exclude: set[str] = frozenset(), deeper_than: int = -1
    ) -> None:
        """Raise at the earliest use of a value that no op or block defines.

        Only names first used with more than `deeper_than` regions open (in
        the regions of the op being finished, not among its operands) and not
        in `exclude` (used before that op began) are considered: the others
        may still be defined by the ops around it.
        """
        undefined = [
            span
            for name in self.forward_ssa_references
            if name in self._first_uses and name not in exclude
            for span, depth in [self._first_uses[name]]
            if depth > deeper_than
        ]
        if undefined:
            first = min(undefined, key=lambda span: span.start)
            raise ParseError(first, f"use of undefined value {first.text}")

    # -- op locations and errors while building ops (helpers) -----------------

    def _get_op_by_name(self, name: str) -> type[Operation]:
        op_type = self.ctx.get_optional_op(
            name, dialect_stack=self._parser_state.dialect_stack
        )
        if op_type is not None:
            return op_type
        # Point at the name itself, not at the token after it.
        content = self.lexer.input.content
        at = content.find(name, self._op_start)
        at = self._op_start if at == -1 else at
        self.raise_error(
            f"unregistered operation '{name}' (its dialect is not registered; "
            "--allow-unregistered-dialect accepts it as an opaque op)",
            at,
            at + len(name),
        )

    def _op_name_at(self, start: int) -> str:
        """`'dialect.op' op ` for the op written at `start`, or `` if unreadable."""
        text = self.lexer.input.content[start : self._end_of_line(start)]
        match = _OP_NAME.match(text)
        return f"'{match.group(1)}' op " if match else ""

    def _span(self, start: int) -> Span[str]:
        end = max(start + 1, min(self.pos, self._end_of_line(start)))
        return Span(start, end, self.lexer.input, self.line_offset)

    def _end_of_line(self, position: int) -> int:
        return self.lexer.input.get_end_of_line(position)

    def _line_and_column(self, position: int) -> tuple[int, int]:
        # One index of line starts per parser, so locating every op stays
        # linear in the input instead of rescanning it per op.
        if self._line_starts is None:
            content = self.lexer.input.content
            starts = [0]
            index = content.find("\n")
            while index != -1:
                starts.append(index + 1)
                index = content.find("\n", index + 1)
            self._line_starts = starts
        line_index = bisect.bisect_right(self._line_starts, position) - 1
        column = position - self._line_starts[line_index] + 1
        return line_index + 1 + self.line_offset, column

    # -- hex float literals ---------------------------------------------------

    def _parse_tensor_literal_element(self) -> _TensorLiteralElement:
        element = super()._parse_tensor_literal_element()
        digits = element.span.text.lstrip("-").lstrip()
        if isinstance(element.value, int) and digits[:2] in ("0x", "0X"):
            return _HexFloatElement(element.is_negative, element.value, element.span)
        return element

    # -- dense literals -------------------------------------------------------

    def parse_dense_int_or_fp_elements_attr(self, type):
        """xDSL's, with a literal that disagrees with its type reported at the literal."""
        # `<` is the current token: the literal starts at the token after it.
        opening = self._current_token.span.end
        try:
            return super().parse_dense_int_or_fp_elements_attr(type)
        except ParseError as error:
            # xDSL checks the literal against its type only once both are read,
            # and reports at the token after them; the literal is at fault.
            if not error.msg.startswith(_LITERAL_MISMATCH) or (
                error.span.start < self._current_token.span.start
            ):
                raise
            content = self.lexer.input.content
            start = opening + (len(content[opening:]) - len(content[opening:].lstrip()))
            end = content.find(">", start)
            end = self._end_of_line(start) if end == -1 else end
            raise ParseError(
                Span(start, max(end, start + 1), self.lexer.input, self.line_offset),
                error.msg,
            ) from None

    # -- resource names -------------------------------------------------------

    def _parse_dialect_resource_handle(
        self, dialect_name: str, interface: OpAsmDialectInterface
    ) -> str:
        key = self.parse_identifier(" for resource handle")
        used = self._resource_names.get((dialect_name, key))
        if used is None:
            # A fresh name when `key` is taken by an earlier module; the same
            # name then serves the reference and, later, its blob.
            used = interface.declare_resource(key)
            self._resource_names[(dialect_name, key)] = used
            self.dialect_resources.add((dialect_name, used))
        return used

    def parse_module(self, allow_implicit_module: bool = True) -> ModuleOp:
        if allow_implicit_module and self._current_token.kind == MLIRTokenKind.EOF:
            # Empty input (or only comments) is an empty module, as in MLIR.
            return ModuleOp([])
        try:
            module = super().parse_module(allow_implicit_module)
        except ParseError as error:
            # xDSL's end-of-file check for values never defined (outside any
            # isolated op) has no better place than the end: give it the use.
            if error.msg.startswith("values used but not defined"):
                self._raise_first_undefined_use()
            raise
        self._restore_resource_names(module)
        return module

    def _restore_resource_names(self, module: ModuleOp) -> None:
        """Give back original names to renamed blobs that equal the stored ones."""
        renamed = {
            used: key
            for (dialect, key), used in self._resource_names.items()
            if dialect == "builtin" and used != key
        }
        if not renamed:
            return
        interface = self.ctx.get_dialect("builtin").get_interface(OpAsmDialectInterface)
        assert interface is not None
        restore: dict[str, str] = {}
        for used, key in renamed.items():
            blob = interface.lookup(used)
            if blob is None:
                continue
            for earlier in _earlier_names(interface, key, used):
                stored = interface.lookup(earlier)
                if stored == blob:
                    restore[used] = earlier
                    # Share one string for both names, so the copy just
                    # parsed can be freed.
                    if blob:
                        interface.parse_resource(used, stored)
                    break
        if not restore:
            return
        for op in module.walk():
            for table in (op.properties, op.attributes):
                for name, attr in table.items():
                    new = _renamed_resource(attr, restore)
                    if new is not None:
                        table[name] = new


#: Openings of xDSL's messages for a dense literal that disagrees with its type.
_LITERAL_MISMATCH = (
    "Shape mismatch in dense literal",
    "Expected at least one element in the dense literal",
    "Hex string in denseAttr",
)

_OP_NAME = re.compile(r'\s*(?:%[^=]*=\s*)?"?([A-Za-z_][\w$.]*)')


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _earlier_names(
    interface: OpAsmDialectInterface, key: str, used: str
) -> Iterator[str]:
    """The names `key` was given by earlier parses, in the order they were given."""
    yield key
    counter = 0
    while (name := f"{key}_{counter}") != used and interface.lookup(name) is not None:
        yield name
        counter += 1


def _renamed_resource(attr: Attribute, restore: dict[str, str]) -> Attribute | None:
    if isinstance(attr, DenseResourceAttr):
        handle = attr.resource_handle.data
        if handle in restore:
            return DenseResourceAttr.from_params(restore[handle], attr.type)
    return None
