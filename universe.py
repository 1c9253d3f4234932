"""The xDSL universe of mirage-mlir: the dialects and passes it adds to xdsl-opt.

`mirage-mlir-opt` and `xdsl-opt` (through the `xdsl.universe` entry point) both
see these names.  Factories import lazily so that loading the universe is cheap.
"""

from __future__ import annotations

from xdsl.universe import Universe


def _mirage_dialect():
    from mirage_mlir.dialects.mirage import Mirage

    return Mirage


def _tt_dialect():
    from mirage_mlir.dialects.tt import TT

    return TT


def _plan_dialect():
    from mirage_mlir.dialects.plan import Plan

    return Plan


def _tm_tensor_dialect():
    from mirage_mlir.dialects.tm_tensor import TMTensor

    return TMTensor


def _all_dialects():
    return {
        "mirage": _mirage_dialect,
        "tt": _tt_dialect,
        "plan": _plan_dialect,
        "tm_tensor": _tm_tensor_dialect,
    }


def _eqsat_optimize():
    from mirage_mlir.passes.eqsat_optimize import EqsatOptimize

    return EqsatOptimize


def _convert_mirage_to_triton():
    from mirage_mlir.lowering.convert_mirage_to_triton import ConvertMirageToTriton

    return ConvertMirageToTriton


def _convert_mirage_to_linalg():
    from mirage_mlir.passes.convert_mirage_to_linalg import ConvertMirageToLinalg

    return ConvertMirageToLinalg


def _all_passes():
    return {
        "eqsat-optimize": _eqsat_optimize,
        "convert-mirage-to-triton": _convert_mirage_to_triton,
        "convert-mirage-to-linalg": _convert_mirage_to_linalg,
    }


MIRAGE_UNIVERSE = Universe(all_dialects=_all_dialects(), all_passes=_all_passes())
