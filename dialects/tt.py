"""The `tt` dialect: the subset of Triton's TTIR that kernel templates use.

Op names, operand, result and property names, and types are Triton's own, so
a module of `tt.func` kernels printed by xDSL (the generic form is enough) is
TTIR that `triton.compile` accepts; Triton's own printed TTIR, stripped of
`loc(...)` (`mirage_mlir.lowering.ttir.strip_locations`), parses back into
these ops.  Elementwise arithmetic and loops are xDSL's `arith`, `math` and
`scf`.  The ops live in small modules by theme and are re-exported here; their
NumPy semantics are in `mirage_mlir.interpreters.tt`.

| module | ops |
|---|---|
| `tt_program` | `tt.func`, `tt.return`, `tt.get_program_id`, `tt.get_num_programs`, `tt.make_range` |
| `tt_memory` | `tt.addptr`, `tt.load`, `tt.store` |
| `tt_shape` | `tt.splat`, `tt.broadcast`, `tt.expand_dims`, `tt.trans`, `tt.reshape` |
| `tt_compute` | `tt.dot`, `tt.reduce`, `tt.reduce.return`, `tt.bitcast`, `tt.fp_to_fp` |
| `tt_scan` | `tt.scan`, `tt.scan.return`, `tt.assert` |
"""

from __future__ import annotations

from xdsl.ir import Dialect

from mirage_mlir.dialects.tt_compute import (
    BitcastOp,
    DotOp,
    FpToFpOp,
    ReduceOp,
    ReduceReturnOp,
)
from mirage_mlir.dialects.tt_memory import AddPtrOp, LoadOp, StoreOp
from mirage_mlir.dialects.tt_program import (
    FuncOp,
    GetNumProgramsOp,
    GetProgramIdOp,
    MakeRangeOp,
    ReturnOp,
)
from mirage_mlir.dialects.tt_scan import AssertOp, ScanOp, ScanReturnOp
from mirage_mlir.dialects.tt_shape import (
    BroadcastOp,
    ExpandDimsOp,
    ReshapeOp,
    SplatOp,
    TransOp,
)
from mirage_mlir.dialects.tt_types import PointerType, ptr

__all__ = [
    "TT",
    "AddPtrOp",
    "AssertOp",
    "BitcastOp",
    "BroadcastOp",
    "DotOp",
    "ExpandDimsOp",
    "FpToFpOp",
    "FuncOp",
    "GetNumProgramsOp",
    "GetProgramIdOp",
    "LoadOp",
    "MakeRangeOp",
    "PointerType",
    "ReduceOp",
    "ReduceReturnOp",
    "ReshapeOp",
    "ReturnOp",
    "ScanOp",
    "ScanReturnOp",
    "SplatOp",
    "StoreOp",
    "TransOp",
    "ptr",
]

TT = Dialect(
    "tt",
    [
        FuncOp,
        ReturnOp,
        GetProgramIdOp,
        GetNumProgramsOp,
        MakeRangeOp,
        AddPtrOp,
        LoadOp,
        StoreOp,
        SplatOp,
        BroadcastOp,
        ExpandDimsOp,
        TransOp,
        ReshapeOp,
        DotOp,
        ReduceOp,
        ReduceReturnOp,
        BitcastOp,
        FpToFpOp,
        ScanOp,
        ScanReturnOp,
        AssertOp,
    ],
    [PointerType],
)
