"""A parsed module as a flat snapshot, so that a compile-cache hit rebuilds it without parsing.

xDSL's parser reads an optimised module at roughly 0.3 ms per op: 15-35 ms for
E7 or BatchNorm, most of what a cache hit had left to do.  A snapshot lists
each op as (op class, operand numbers, result types, properties, attributes,
regions), with every SSA value numbered in definition order; rebuilding it
is `Operation.create` per op, several times faster than parsing.  It is not
a pickle of the IR objects themselves: their use-def links make pickling
recurse once per op of a dependency chain, beyond Python's recursion limit
for a hundred ops.

Types and attributes are pickled.  Unpickling can run code, so a snapshot
is read only from the compile cache, trusted as Python trusts its
`__pycache__`, and only classes of xDSL and of this project may appear in
it (`load_snapshot` refuses any other).  `mirage_mlir.load` of an artifact
folder never reads a snapshot.  `dump_snapshot` checks that the rebuilt
module prints exactly as the original, and gives None for a module it cannot
rebuild exactly (an unregistered op, branches between blocks).
"""

from __future__ import annotations

import io
import pickle
from typing import Any

__all__ = ["SnapshotError", "dump_snapshot", "load_snapshot"]

# Bumped when the layout of a snapshot changes.
_FORMAT = 1

# Where the classes a snapshot may name come from.
_TRUSTED_MODULES = ("xdsl.", "mirage_mlir.")
_TRUSTED_BUILTINS = frozenset({"frozenset", "set", "tuple", "list", "dict", "int", "float",
                               "complex", "str", "bytes", "bool", "slice", "range"})
# What pickle itself uses to rebuild objects of older protocols.
_COPYREG_HELPERS = frozenset({"_reconstructor", "__newobj__", "__newobj_ex__"})


class SnapshotError(ValueError):
    """A snapshot that cannot be read: damaged, of another format, or naming a foreign class."""


class _Unsupported(Exception):
    """The module has something a snapshot does not rebuild."""


def dump_snapshot(module: Any) -> bytes | None:
    """The snapshot of `module` (a `ModuleOp`), or None when it cannot be rebuilt exactly."""
    numbers: dict[Any, int] = {}
    try:
        record = _op_record(module, numbers)
        data = pickle.dumps((_FORMAT, record), protocol=pickle.HIGHEST_PROTOCOL)
        rebuilt = load_snapshot(data)
    except (_Unsupported, pickle.PicklingError, TypeError, AttributeError, RecursionError,
            SnapshotError):
        return None
    return data if _printed(rebuilt) == _printed(module) else None


def load_snapshot(data: bytes) -> Any:
    """The module a snapshot holds; SnapshotError when it cannot be read."""
    try:
        version, record = _TrustedUnpickler(io.BytesIO(data)).load()
    except SnapshotError:
        raise
    except Exception as error:  # a damaged pickle fails in many ways
        raise SnapshotError(f"unreadable snapshot: {type(error).__name__}: {error}") from None
    if version != _FORMAT:
        raise SnapshotError(f"snapshot format {version!r} is not {_FORMAT}")
    try:
        return _build_op(record, [])
    except Exception as error:  # a record that does not fit the classes it names
        raise SnapshotError(f"snapshot does not rebuild: {type(error).__name__}: {error}") \
            from None


def _op_record(op: Any, numbers: dict[Any, int]) -> tuple:
    from xdsl.dialects.builtin import UnregisteredOp

    if isinstance(op, UnregisteredOp) or op.successors:
        raise _Unsupported(op.name)
    try:
        operands = [numbers[value] for value in op.operands]
    except KeyError:
        raise _Unsupported(f"{op.name} uses a value defined after it") from None
    regions = [[_block_record(block, numbers) for block in region.blocks]
               for region in op.regions]
    # Numbered after the regions, as `_build_op` sees them.
    for result in op.results:
        numbers[result] = len(numbers)
    return (type(op), operands, [r.type for r in op.results], [r.name_hint for r in op.results],
            dict(op.properties), dict(op.attributes), op.location, regions)


def _block_record(block: Any, numbers: dict[Any, int]) -> tuple:
    for argument in block.args:
        numbers[argument] = len(numbers)
    return ([a.type for a in block.args], [a.name_hint for a in block.args], block.name_hint,
            [_op_record(op, numbers) for op in block.ops])


def _build_op(record: tuple, values: list[Any]) -> Any:
    from xdsl.ir import Region

    kind, operands, result_types, hints, properties, attributes, location, regions = record
    built = [Region([_build_block(block, values) for block in region]) for region in regions]
    op = kind.create(operands=[values[i] for i in operands], result_types=result_types,
                     properties=properties, attributes=attributes, location=location,
                     regions=built)
    for result, hint in zip(op.results, hints):
        result.name_hint = hint
    values.extend(op.results)
    return op


def _build_block(record: tuple, values: list[Any]) -> Any:
    from xdsl.ir import Block

    arg_types, hints, name, ops = record
    block = Block(arg_types=arg_types)
    block.name_hint = name
    for argument, hint in zip(block.args, hints):
        argument.name_hint = hint
    values.extend(block.args)
    for op_record in ops:
        block.add_op(_build_op(op_record, values))
    return block


def _printed(module: Any) -> str:
    """The module's ops as text, with locations (resources are left out: names suffice)."""
    from xdsl.printer import Printer

    out = io.StringIO()
    Printer(stream=out, print_generic_format=True, print_debuginfo=True).print_op(module)
    return out.getvalue()


class _TrustedUnpickler(pickle.Unpickler):
    """An unpickler that builds only xDSL's and this project's classes (no functions)."""

    def find_class(self, module: str, name: str) -> Any:
        """The class, if its module is trusted; SnapshotError otherwise."""
        if module == "copyreg" and name in _COPYREG_HELPERS:
            return super().find_class(module, name)
        trusted = module.startswith(_TRUSTED_MODULES) or (
            module == "builtins" and name in _TRUSTED_BUILTINS)
        if trusted and "." not in name:
            found = super().find_class(module, name)
            if isinstance(found, type):
                return found
        raise SnapshotError(f"a snapshot may not name {module}.{name}")
