"""Tests of `MirageParser`: hex float literals, resource names, op locations.

The hex-literal tests are the regression tests of a silent miscompile in
xDSL 0.74 (`dense<0xFF800000>` read as 4286578688.0 instead of -inf); they
compare against the bits and against MLIR's own parser.
"""

from __future__ import annotations

import math
import re
import struct

import pytest
from xdsl.dialects import arith
from xdsl.dialects.builtin import DenseResourceAttr, FileLineColLoc

from mirage_mlir.dialects.context import (
    MlirSyntaxError,
    mirage_context,
    parse_mlir,
    print_mlir,
)
from mirage_mlir.dialects.parser import MirageParser


def constant_values(text: str) -> list[tuple[float | int, ...]]:
    """The element values of every arith.constant in `text`, in order."""
    module = parse_mlir(text)
    return [
        tuple(op.value.get_values())
        for op in module.walk()
        if isinstance(op, arith.ConstantOp)
    ]


def f32_bits(value: float) -> int:
    return struct.unpack("<I", struct.pack("<f", value))[0]


@pytest.mark.parametrize(
    ("literal", "element_type", "expected"),
    [
        ("0xFF800000", "f32", -math.inf),
        ("0x7F800000", "f32", math.inf),
        ("0x3F800000", "f32", 1.0),
        ("0x00000001", "f32", struct.unpack("<f", b"\x01\x00\x00\x00")[0]),
        ("0xFFF0000000000000", "f64", -math.inf),
        ("0x3FF0000000000000", "f64", 1.0),
        ("0xFC00", "f16", -math.inf),
        ("0x3C00", "f16", 1.0),
        ("0xFF80", "bf16", -math.inf),
        ("0x3F80", "bf16", 1.0),
    ],
)
def test_hex_splat_is_ieee_bits(literal, element_type, expected):
    text = f"%0 = arith.constant dense<{literal}> : tensor<4x4x{element_type}>"
    (values,) = constant_values(text)
    assert len(values) == 16
    assert all(v == expected for v in values), values[:2]
    # The integer reading xDSL 0.74 gave, kept here so the difference is plain.
    assert values[0] != float(int(literal, 16))


def test_hex_non_splat_mixed_with_decimal():
    text = "%0 = arith.constant dense<[[0xFF800000, 2.5], [0x3F800000, -0.0]]> : tensor<2x2xf32>"
    (values,) = constant_values(text)
    assert values[0] == -math.inf
    assert values[1:3] == (2.5, 1.0)
    assert math.copysign(1.0, values[3]) == -1.0


def test_hex_nan_stays_nan():
    (values,) = constant_values("%0 = arith.constant dense<0x7FC00000> : tensor<2xf32>")
    assert all(math.isnan(v) for v in values)
    assert f32_bits(values[0]) == 0x7FC00000


def test_hex_integers_unchanged():
    values = constant_values(
        "%0 = arith.constant dense<0xFF> : tensor<2xi8>\n"
        "%1 = arith.constant dense<[0x10, 0x20]> : tensor<2xi32>"
    )
    assert values == [(-1, -1), (16, 32)]


def test_hex_float_matches_mlir():
    ir = pytest.importorskip("torch_mlir.ir")
    text = (
        "func.func @f() -> (tensor<4x4xf32>, tensor<2xf32>, tensor<2xbf16>) {\n"
        "  %0 = arith.constant dense<0xFF800000> : tensor<4x4xf32>\n"
        "  %1 = arith.constant dense<[0x7F800000, 0x3F800000]> : tensor<2xf32>\n"
        "  %2 = arith.constant dense<[0xFF80, 0x3F80]> : tensor<2xbf16>\n"
        "  func.return %0, %1, %2 : tensor<4x4xf32>, tensor<2xf32>, tensor<2xbf16>\n"
        "}\n"
    )
    with ir.Context():
        expected = str(ir.Module.parse(text))
    with ir.Context():
        ours = str(ir.Module.parse(print_mlir(parse_mlir(text))))
    assert ours == expected


@pytest.mark.parametrize(
    ("literal", "message"),
    [
        ("0x1FF800000", "hexadecimal float constant out of range for type f32"),
        ("-0x3F800000", "hexadecimal float literal should not have a leading minus"),
    ],
)
def test_bad_hex_float_is_a_located_error(literal, message):
    text = f"%0 = arith.constant dense<{literal}> : tensor<2xf32>"
    with pytest.raises(MlirSyntaxError) as info:
        parse_mlir(text, "consts.mlir")
    assert info.value.message == message
    assert (info.value.file, info.value.line, info.value.column) == (
        "consts.mlir",
        1,
        27,
    )


LINEAR = """
func.func @f() -> tensor<2xf32> {
  %0 = arith.constant dense_resource<weights> : tensor<2xf32>
  func.return %0 : tensor<2xf32>
}
{-#
  dialect_resources: {
    builtin: {
      weights: "0x04000000BLOB"
    }
  }
#-}
"""


def with_blob(values: tuple[float, float]) -> str:
    blob = "0x04000000" + struct.pack("<2f", *values).hex().upper()
    return LINEAR.replace("0x04000000BLOB", blob)


def resources(text: str) -> dict[str, str]:
    """name -> blob of the dialect_resources section of printed MLIR."""
    section = text[text.index("{-#") :]
    return dict(re.findall(r'([\w.$-]+): "(0x[0-9A-Fa-f]*)"', section))


def referenced(text: str) -> list[str]:
    return re.findall(r"dense_resource<([^>]+)>", text)


def test_second_module_with_same_resource_name_keeps_its_blob():
    # xDSL 0.74 renamed the second module's reference but stored its blob
    # under the old name: the printed module lost its weights.
    first = print_mlir(parse_mlir(with_blob((1.0, 2.0))))
    second_text = with_blob((3.0, 4.0))
    second = print_mlir(parse_mlir(second_text))
    for printed, values in ((first, (1.0, 2.0)), (second, (3.0, 4.0))):
        (name,) = referenced(printed)
        blob = resources(printed)[name]
        assert struct.unpack("<2f", bytes.fromhex(blob[10:])) == values
    assert referenced(first) != referenced(second)


def test_reparsing_the_same_text_prints_the_same_text():
    text = with_blob((5.0, 6.0))
    outputs = {print_mlir(parse_mlir(text)) for _ in range(3)}
    assert len(outputs) == 1
    (printed,) = outputs
    assert resources(printed)[referenced(printed)[0]].startswith("0x04000000")


def test_resource_attribute_points_at_its_blob():
    from xdsl.dialect_interfaces.op_asm import OpAsmDialectInterface
    from xdsl.dialects.builtin import Builtin

    parse_mlir(with_blob((1.0, 1.0)))
    module = parse_mlir(with_blob((7.0, 8.0)))
    (attr,) = [op.value for op in module.walk() if isinstance(op, arith.ConstantOp)]
    assert isinstance(attr, DenseResourceAttr)
    interface = Builtin.get_interface(OpAsmDialectInterface)
    blob = interface.lookup(attr.resource_handle.data)
    assert struct.unpack("<2f", bytes.fromhex(blob[10:])) == (7.0, 8.0)


def test_ops_carry_their_source_location():
    text = "func.func @f(%x: i32) -> i32 {\n  %0 = arith.addi %x, %x : i32\n  func.return %0 : i32\n}\n"
    module = MirageParser(
        mirage_context(), text, "model.mlir", line_offset=10
    ).parse_module()
    add = next(op for op in module.walk() if isinstance(op, arith.AddiOp))
    assert isinstance(add.location, FileLineColLoc)
    assert (
        add.location.filename.data,
        add.location.line.data,
        add.location.column.data,
    ) == (
        "model.mlir",
        12,
        3,
    )


def test_explicit_location_wins():
    text = '%0 = arith.constant 1 : i32 loc("model.py":7:9)'
    module = parse_mlir(text)
    (op,) = module.ops
    assert isinstance(op.location, FileLineColLoc)
    assert op.location.filename.data == "model.py"
    assert op.location.line.data == 7
