"""Shared pieces of the custom syntax Triton prints for `tt` ops.

Triton's assembly formats put an op's properties (`axis`, `isVolatile`, ...)
in the same `{...}` dictionary as its discardable attributes, and spell the
program axis as `x`, `y`, `z`.  These helpers read and write that dictionary
and those keywords, so each op's `parse`/`print` stays a few lines.
"""

from __future__ import annotations

from collections.abc import Collection

from xdsl.dialects.builtin import IntegerAttr, i32
from xdsl.ir import Attribute, Operation
from xdsl.parser import Parser
from xdsl.printer import Printer

PROGRAM_AXES = ("x", "y", "z")
"""Triton's names for the program-id axes 0, 1 and 2."""


def parse_attr_dict(
    parser: Parser, property_names: Collection[str]
) -> tuple[dict[str, Attribute], dict[str, Attribute]]:
    """Parse an optional `{...}`; split it into (properties, attributes)."""
    entries = parser.parse_optional_attr_dict()
    properties = {k: v for k, v in entries.items() if k in property_names}
    attributes = {k: v for k, v in entries.items() if k not in property_names}
    return properties, attributes


def print_attr_dict(
    printer: Printer,
    op: Operation,
    *,
    elide: Collection[str] = (),
    defaults: dict[str, Attribute] | None = None,
) -> None:
    """Print `op`'s properties and attributes as one `{...}`, as Triton does.

    Entries named in `elide` are printed elsewhere by the op; properties equal
    to their default in `defaults` are left out.
    """
    defaults = defaults or {}
    entries = {
        k: v
        for k, v in op.properties.items()
        if k not in elide and defaults.get(k) != v
    }
    entries.update((k, v) for k, v in op.attributes.items() if k not in elide)
    if entries:
        printer.print_string(" ")
        printer.print_attr_dict(entries)


def parse_program_axis(parser: Parser) -> IntegerAttr:
    """Parse `x`, `y` or `z` into the i32 axis attribute Triton stores."""
    axis = parser.parse_keyword_in(PROGRAM_AXES, " as the program axis")
    return IntegerAttr(PROGRAM_AXES.index(axis), i32)


def i32_attr(value: int) -> IntegerAttr:
    """An i32 integer attribute, the type Triton gives axes and enum cases."""
    return IntegerAttr(value, i32)
