"""Tests of the project's MLIR entry points: mirage_context, parse_mlir, print_mlir."""

from __future__ import annotations

import pytest
from xdsl.dialects.builtin import ModuleOp
from xdsl.utils.exceptions import DiagnosticException, ParseError

from mirage_mlir.dialects.context import (
    MlirError,
    MlirSyntaxError,
    MlirVerifyError,
    dialect_factories,
    mirage_context,
    parse_mlir,
    print_mlir,
)
from mirage_mlir.dialects.linalg import BatchMatmulOp, GenericOp


def test_context_has_xdsl_project_and_fixed_linalg_dialects():
    from mirage_mlir.universe import MIRAGE_UNIVERSE

    names = set(dialect_factories())
    assert {"builtin", "func", "arith", "tensor", "math", "linalg"} <= names
    assert set(MIRAGE_UNIVERSE.all_dialects) <= names
    ctx = mirage_context()
    assert ctx.get_op("linalg.batch_matmul") is BatchMatmulOp
    assert ctx.get_op("linalg.generic") is GenericOp


def test_contexts_are_independent():
    first, second = mirage_context(), mirage_context()
    first.get_op("linalg.generic")
    assert first is not second
    assert not mirage_context(allow_unregistered=False).allow_unregistered
    assert mirage_context(allow_unregistered=True).allow_unregistered


def test_parse_wraps_loose_ops_in_a_module():
    module = parse_mlir("%0 = arith.constant 1 : i32")
    assert isinstance(module, ModuleOp)
    assert print_mlir(module).startswith("builtin.module {")


@pytest.mark.parametrize(
    ("text", "line", "column", "message"),
    [
        (
            "%0 = arith.constant 1 : i32\n%1 = arith.addi %0, %0 : i64",
            2,
            17,
            "operand is used with type i64",
        ),
        ('\n\n  "nosuch.op"() : () -> ()', 3, 4, "unregistered operation 'nosuch.op'"),
        ("func.func @f() {\n  func.return\n", 3, 1, ""),
        ("%0 = arith.constant 1 : i32 )", 1, 29, ""),
    ],
)
def test_syntax_errors_are_located(text, line, column, message):
    with pytest.raises(MlirSyntaxError) as info:
        parse_mlir(text, "input.mlir")
    error = info.value
    assert (error.file, error.line, error.column) == ("input.mlir", line, column)
    assert message in error.message
    assert str(error).startswith(f"input.mlir:{line}:{column}: error: ")
    assert not isinstance(error, ParseError)


def test_verify_errors_are_located_at_the_op():
    text = (
        "func.func @f(%a: tensor<2x4xf32>) -> tensor<2x4xf32> {\n"
        "  %0 = linalg.matmul ins(%a, %a : tensor<2x4xf32>, tensor<2x4xf32>) "
        "outs(%a : tensor<2x4xf32>) -> tensor<2x4xf32>\n"
        "  func.return %0 : tensor<2x4xf32>\n"
        "}\n"
    )
    with pytest.raises(MlirVerifyError) as info:
        parse_mlir(text, "mm.mlir")
    error = info.value
    assert (error.file, error.line, error.column) == ("mm.mlir", 2, 3)
    assert error.message.startswith(
        "'linalg.matmul' op inferred input/output operand #1"
    )
    assert "  %0 = linalg.matmul" in str(error)
    # Callers catch one family; xDSL's driver sees a diagnostic.
    assert isinstance(error, MlirError)
    assert isinstance(error, DiagnosticException)


def test_type_error_while_building_an_op_is_a_located_verify_error():
    with pytest.raises(MlirVerifyError) as info:
        parse_mlir(
            "func.func @f(%a: i32) {\n  %0 = arith.addi %a, %a : f32\n  func.return\n}",
            "t.mlir",
        )
    assert (info.value.line, info.value.column) == (2, 3)
    assert info.value.message.startswith("'arith.addi' op")


def test_verification_can_be_skipped():
    text = "func.func @f() {\n  %x = arith.constant 1 : f32\n}"
    with pytest.raises(MlirVerifyError, match="terminator"):
        parse_mlir(text)
    assert isinstance(parse_mlir(text, verify=False), ModuleOp)


def test_print_keeps_dialect_resources():
    text = (
        "%0 = arith.constant dense_resource<w_ctx_test> : tensor<1xf32>\n"
        '{-#\n  dialect_resources: {\n    builtin: {\n      w_ctx_test: "0x040000000000803F"\n    }\n  }\n#-}\n'
    )
    printed = print_mlir(parse_mlir(text))
    assert "dense_resource<w_ctx_test>" in printed
    assert "{-#" in printed and 'w_ctx_test: "0x040000000000803F"' in printed
    assert print_mlir(parse_mlir(printed)) == printed


def test_print_generic_form_parses_back():
    text = (
        "func.func @bmm(%a: tensor<1x2x3xf32>, %b: tensor<1x3x4xf32>, %c: tensor<1x2x4xf32>) -> tensor<1x2x4xf32> {\n"
        "  %0 = linalg.batch_matmul ins(%a, %b : tensor<1x2x3xf32>, tensor<1x3x4xf32>) outs(%c : tensor<1x2x4xf32>) -> tensor<1x2x4xf32>\n"
        "  func.return %0 : tensor<1x2x4xf32>\n"
        "}\n"
    )
    module = parse_mlir(text)
    generic = print_mlir(module, generic=True)
    assert '"linalg.batch_matmul"' in generic
    assert print_mlir(parse_mlir(generic)) == print_mlir(module)


def test_debuginfo_prints_source_locations():
    printed = print_mlir(
        parse_mlir("%0 = arith.constant 1 : i32", "a.mlir"), debuginfo=True
    )
    assert 'loc("a.mlir":1:1)' in printed
