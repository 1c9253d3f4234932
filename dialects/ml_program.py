"""The `ml_program` dialect as mirage-mlir reads and writes it: globals and their loads and stores.

torch-mlir's linalg-on-tensors output keeps state in `ml_program` globals.  A model that
draws random numbers (`torch.rand_like`, dropout in training mode) reads and advances a
seed held in one:

```mlir
ml_program.global private mutable @global_seed(dense<0> : tensor<i64>) : tensor<i64>
func.func @main(...) {
  %seed = ml_program.global_load @global_seed : tensor<i64>
  ...
  ml_program.global_store @global_seed = %next : tensor<i64>
}
```

xDSL 0.74 has `ml_program.global` and `ml_program.global_load_const` only, names the
latter's symbol property `global_attr` where MLIR names it `global`, requires a
visibility property MLIR leaves optional, and reads the attribute dictionary of a global
before its name where MLIR writes it last.  This dialect declares the four ops with
MLIR's properties and syntax.  The other `ml_program` ops (functions, subgraphs, tokens,
graph loads and stores) are not emitted by torch-mlir and are not declared.

`global_load` reads memory and `global_store` writes it, so passes keep them in place
and in order; `global_load_const` reads an immutable global and is pure.
"""

from __future__ import annotations

from typing import Self

from xdsl.dialects.builtin import StringAttr, SymbolNameConstraint, SymbolRefAttr, UnitAttr
from xdsl.ir import Attribute, Dialect, TypeAttribute
from xdsl.irdl import (
    IRDLOperation,
    irdl_op_definition,
    operand_def,
    opt_prop_def,
    prop_def,
    result_def,
    traits_def,
)
from xdsl.parser import Parser
from xdsl.printer import Printer
from xdsl.traits import MemoryReadEffect, MemoryWriteEffect, Pure, SymbolOpInterface
from xdsl.utils.exceptions import VerifyException

__all__ = [
    "GlobalLoadConstOp",
    "GlobalLoadOp",
    "GlobalOp",
    "GlobalStoreOp",
    "MLProgram",
]

_VISIBILITIES = ("public", "private", "nested")


@irdl_op_definition
class GlobalOp(IRDLOperation):
    """`ml_program.global`: a module-level variable, with an initial value unless mutable.

    ```mlir
    ml_program.global private mutable @seed(dense<0> : tensor<i64>) : tensor<i64>
    ml_program.global private @table(dense<1.0> : tensor<4xf32>) : tensor<4xf32> {note}
    ```
    """

    name = "ml_program.global"

    sym_name = prop_def(SymbolNameConstraint())
    type = prop_def(TypeAttribute)
    is_mutable = opt_prop_def(UnitAttr)
    value = opt_prop_def()
    sym_visibility = opt_prop_def(StringAttr)

    traits = traits_def(SymbolOpInterface())

    def __init__(
        self,
        sym_name: str,
        type: Attribute,
        *,
        value: Attribute | None = None,
        is_mutable: bool = False,
        sym_visibility: str | None = "private",
    ):
        # In MLIR's (alphabetical) order, so that the generic form prints as MLIR's does.
        properties: dict[str, Attribute | None] = {
            "is_mutable": UnitAttr() if is_mutable else None,
            "sym_name": StringAttr(sym_name),
            "sym_visibility": None if sym_visibility is None else StringAttr(sym_visibility),
            "type": type,
            "value": value,
        }
        super().__init__(properties=properties)

    def verify_(self) -> None:
        if self.is_mutable is None and self.value is None:
            raise VerifyException("an immutable global must have an initial value")
        if self.sym_visibility is not None and self.sym_visibility.data not in _VISIBILITIES:
            raise VerifyException(
                f"visibility must be one of {', '.join(_VISIBILITIES)}, "
                f"not '{self.sym_visibility.data}'"
            )

    def print(self, printer: Printer) -> None:
        # MLIR always writes a visibility here; a global without one is public.
        visibility = self.sym_visibility.data if self.sym_visibility else "public"
        printer.print_string(f" {visibility} ")
        if self.is_mutable is not None:
            printer.print_string("mutable ")
        printer.print_symbol_name(self.sym_name.data)
        if self.value is not None:
            printer.print_string("(")
            printer.print_attribute(self.value)
            printer.print_string(")")
        printer.print_string(" : ")
        printer.print_attribute(self.type)
        printer.print_op_attributes(self.attributes)

    @classmethod
    def parse(cls, parser: Parser) -> Self:
        visibility = parser.parse_visibility_keyword().data
        is_mutable = parser.parse_optional_keyword("mutable") is not None
        sym_name = parser.parse_symbol_name().data
        value = None
        if parser.parse_optional_punctuation("(") is not None:
            value = parser.parse_attribute()
            parser.parse_punctuation(")")
        parser.parse_punctuation(":")
        type = parser.parse_type()
        attributes = parser.parse_optional_attr_dict()
        op = cls(
            sym_name, type, value=value, is_mutable=is_mutable, sym_visibility=visibility
        )
        op.attributes |= attributes
        return op


@irdl_op_definition
class GlobalLoadOp(IRDLOperation):
    """`ml_program.global_load`: the current value of a mutable global.

    ```mlir
    %seed = ml_program.global_load @seed : tensor<i64>
    ```
    """

    name = "ml_program.global_load"

    global_ = prop_def(SymbolRefAttr, prop_name="global")
    result = result_def()

    traits = traits_def(MemoryReadEffect())

    assembly_format = "$global `:` type($result) attr-dict"


@irdl_op_definition
class GlobalLoadConstOp(IRDLOperation):
    """`ml_program.global_load_const`: the value of an immutable global.

    ```mlir
    %table = ml_program.global_load_const @table : tensor<4xf32>
    ```
    """

    name = "ml_program.global_load_const"

    global_ = prop_def(SymbolRefAttr, prop_name="global")
    result = result_def()

    traits = traits_def(Pure())

    assembly_format = "$global `:` type($result) attr-dict"


@irdl_op_definition
class GlobalStoreOp(IRDLOperation):
    """`ml_program.global_store`: a new value for a mutable global.

    ```mlir
    ml_program.global_store @seed = %next : tensor<i64>
    ```
    """

    name = "ml_program.global_store"

    global_ = prop_def(SymbolRefAttr, prop_name="global")
    value = operand_def()

    traits = traits_def(MemoryWriteEffect())

    assembly_format = "$global `=` $value `:` type($value) attr-dict"


MLProgram = Dialect(
    "ml_program",
    [GlobalOp, GlobalLoadOp, GlobalLoadConstOp, GlobalStoreOp],
    [],
)
