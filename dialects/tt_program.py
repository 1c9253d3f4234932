"""Kernel structure and SPMD ops of the `tt` dialect.

`tt.func` is a kernel: Triton runs its body once per program instance of the
launch grid, and `tt.get_program_id` / `tt.get_num_programs` say which
instance and how many there are along an axis.  `tt.make_range` is the block
of consecutive offsets every kernel starts from.  Names, properties and types
are Triton's own, so these ops print as TTIR:

```mlir
tt.func public @add(%x: !tt.ptr<f32> {tt.divisibility = 16 : i32}, %n: i32) attributes {noinline = false} {
  %pid = tt.get_program_id x : i32
  %offsets = tt.make_range {end = 128 : i32, start = 0 : i32} : tensor<128xi32>
  tt.return
}
```
"""

from __future__ import annotations

from collections.abc import Sequence

from xdsl.dialects.builtin import (
    ArrayAttr,
    DictionaryAttr,
    FunctionType,
    IntegerAttr,
    IntegerType,
    StringAttr,
    SymbolNameConstraint,
    TensorType,
    i32,
)
from xdsl.dialects.utils import parse_func_op_like, print_func_op_like
from xdsl.ir import Attribute, Block, Operation, Region, SSAValue
from xdsl.irdl import (
    IRDLOperation,
    ParsePropInAttrDict,
    irdl_op_definition,
    opt_prop_def,
    prop_def,
    region_def,
    result_def,
    traits_def,
    var_operand_def,
)
from xdsl.parser import Parser
from xdsl.printer import Printer
from xdsl.traits import (
    CallableOpInterface,
    HasParent,
    IsolatedFromAbove,
    IsTerminator,
    Pure,
    SymbolOpInterface,
)
from xdsl.utils.exceptions import VerifyException

from mirage_mlir.dialects.tt_syntax import (
    PROGRAM_AXES,
    i32_attr,
    parse_attr_dict,
    parse_program_axis,
    print_attr_dict,
)

_FUNC_PROPERTIES = ("sym_name", "function_type", "sym_visibility", "arg_attrs", "res_attrs")


class _KernelCallable(CallableOpInterface):
    """Lets xDSL's interpreter call a `tt.func` like any function."""

    @classmethod
    def get_callable_region(cls, op: Operation) -> Region:
        assert isinstance(op, FuncOp)
        return op.body

    @classmethod
    def get_argument_types(cls, op: Operation) -> tuple[Attribute, ...]:
        assert isinstance(op, FuncOp)
        return op.function_type.inputs.data

    @classmethod
    def get_result_types(cls, op: Operation) -> tuple[Attribute, ...]:
        assert isinstance(op, FuncOp)
        return op.function_type.outputs.data


@irdl_op_definition
class FuncOp(IRDLOperation):
    """A Triton kernel (or a device function it calls).

    Argument attributes carry Triton's hints, for example
    `{tt.divisibility = 16 : i32}` on a pointer whose address is a multiple
    of 16 bytes.  Kernels return nothing; they write through pointers.

    ```mlir
    tt.func public @kernel(%x: !tt.ptr<f32>, %n: i32) attributes {noinline = false} {
      tt.return
    }
    ```
    """

    name = "tt.func"

    body = region_def()
    sym_name = prop_def(SymbolNameConstraint())
    function_type = prop_def(FunctionType)
    sym_visibility = opt_prop_def(StringAttr)
    arg_attrs = opt_prop_def(ArrayAttr[DictionaryAttr])
    res_attrs = opt_prop_def(ArrayAttr[DictionaryAttr])

    traits = traits_def(IsolatedFromAbove(), SymbolOpInterface(), _KernelCallable())

    def __init__(
        self,
        name: str,
        input_types: Sequence[Attribute],
        body: Region | None = None,
        *,
        visibility: str | None = "public",
        arg_attrs: Sequence[dict[str, Attribute]] | None = None,
        result_types: Sequence[Attribute] = (),
    ):
        function_type = FunctionType.from_lists(input_types, result_types)
        if body is None:
            body = Region(Block(arg_types=input_types))
        properties: dict[str, Attribute | None] = {
            "sym_name": StringAttr(name),
            "function_type": function_type,
            "sym_visibility": StringAttr(visibility) if visibility else None,
            "arg_attrs": (
                ArrayAttr([DictionaryAttr(d) for d in arg_attrs])
                if arg_attrs is not None
                else None
            ),
        }
        super().__init__(properties=properties, regions=[body])
        self.attributes["noinline"] = IntegerAttr.from_bool(False)

    @property
    def args(self) -> tuple[SSAValue, ...]:
        """The kernel's arguments: the entry block's arguments."""
        return self.body.block.args

    def verify_(self) -> None:
        if not self.body.blocks:
            return
        arg_types = tuple(self.body.blocks.first.arg_types)
        if arg_types != self.function_type.inputs.data:
            raise VerifyException(
                "entry block argument types ("
                + ", ".join(map(str, arg_types))
                + ") do not match the function type "
                + str(self.function_type)
            )
        if self.arg_attrs is not None and len(self.arg_attrs) != len(arg_types):
            raise VerifyException(
                f"{len(self.arg_attrs)} argument attribute dictionaries for "
                f"{len(arg_types)} arguments"
            )

    @classmethod
    def parse(cls, parser: Parser) -> FuncOp:
        visibility = parser.parse_optional_visibility_keyword()
        name, inputs, outputs, region, extra, arg_attrs, res_attrs = parse_func_op_like(
            parser, reserved_attr_names=_FUNC_PROPERTIES
        )
        op = cls(name, inputs, region, visibility=None, result_types=outputs)
        op.attributes.clear()
        if visibility is not None:
            op.sym_visibility = visibility
        op.arg_attrs = arg_attrs
        op.res_attrs = res_attrs
        if extra is not None:
            op.attributes |= extra.data
        return op

    def print(self, printer: Printer) -> None:
        if self.sym_visibility is not None:
            printer.print_string(f" {self.sym_visibility.data}")
        print_func_op_like(
            printer,
            self.sym_name,
            self.function_type,
            self.body,
            self.attributes,
            arg_attrs=self.arg_attrs,
            res_attrs=self.res_attrs,
            reserved_attr_names=_FUNC_PROPERTIES,
            print_empty_outputs=False,
        )


@irdl_op_definition
class ReturnOp(IRDLOperation):
    """Ends a `tt.func`, returning its results (none for a kernel).

    ```mlir
    tt.return
    ```
    """

    name = "tt.return"

    srcs = var_operand_def()

    traits = traits_def(IsTerminator(), HasParent(FuncOp), Pure())

    assembly_format = "attr-dict ($srcs^ `:` type($srcs))?"

    def __init__(self, *srcs: SSAValue | Operation):
        super().__init__(operands=[srcs])

    def verify_(self) -> None:
        func = self.parent_op()
        assert isinstance(func, FuncOp)
        expected = func.function_type.outputs.data
        got = tuple(v.type for v in self.srcs)
        if got != expected:
            raise VerifyException(
                f"returns ({', '.join(map(str, got))}) but the function "
                f"returns ({', '.join(map(str, expected))})"
            )


class _ProgramAxisOp(IRDLOperation):
    """An op whose only input is a program axis `x`, `y` or `z` (0, 1, 2)."""

    axis = prop_def(IntegerAttr[IntegerType])
    result = result_def(i32)

    traits = traits_def(Pure())

    def __init__(self, axis: int):
        super().__init__(properties={"axis": i32_attr(axis)}, result_types=[i32])

    @property
    def axis_index(self) -> int:
        """The axis as 0, 1 or 2."""
        return self.axis.value.data

    def verify_(self) -> None:
        if self.axis_index not in range(len(PROGRAM_AXES)):
            raise VerifyException(f"program axis must be 0, 1 or 2, got {self.axis_index}")

    @classmethod
    def parse(cls, parser: Parser) -> _ProgramAxisOp:
        axis = parse_program_axis(parser)
        _, attributes = parse_attr_dict(parser, ())
        parser.parse_punctuation(":")
        parser.parse_type()
        op = cls(axis.value.data)
        op.attributes |= attributes
        return op

    def print(self, printer: Printer) -> None:
        printer.print_string(f" {PROGRAM_AXES[self.axis_index]}")
        print_attr_dict(printer, self, elide=("axis",))
        printer.print_string(" : ")
        printer.print_attribute(self.result.type)


@irdl_op_definition
class GetProgramIdOp(_ProgramAxisOp):
    """The index of this program instance along a grid axis.

    ```mlir
    %pid = tt.get_program_id x : i32
    ```
    """

    name = "tt.get_program_id"


@irdl_op_definition
class GetNumProgramsOp(_ProgramAxisOp):
    """The number of program instances along a grid axis.

    ```mlir
    %n = tt.get_num_programs y : i32
    ```
    """

    name = "tt.get_num_programs"


@irdl_op_definition
class MakeRangeOp(IRDLOperation):
    """The 1-D i32 block `start, start + 1, ..., end - 1` (a power-of-two count).

    ```mlir
    %offsets = tt.make_range {end = 128 : i32, start = 0 : i32} : tensor<128xi32>
    ```
    """

    name = "tt.make_range"

    start = prop_def(IntegerAttr[IntegerType])
    end = prop_def(IntegerAttr[IntegerType])
    result = result_def(TensorType)

    traits = traits_def(Pure())

    assembly_format = "attr-dict `:` type($result)"
    irdl_options = (ParsePropInAttrDict(),)

    def __init__(self, start: int, end: int):
        super().__init__(
            properties={"start": i32_attr(start), "end": i32_attr(end)},
            result_types=[TensorType(i32, [end - start])],
        )

    def verify_(self) -> None:
        start, end = self.start.value.data, self.end.value.data
        result_type = self.result.type
        assert isinstance(result_type, TensorType)
        if end <= start:
            raise VerifyException(f"end ({end}) must be greater than start ({start})")
        if (end - start) & (end - start - 1):
            raise VerifyException(
                f"the range has {end - start} elements; Triton needs a power of two"
            )
        if result_type.get_element_type() != i32 or result_type.get_shape() != (end - start,):
            raise VerifyException(
                f"result must be tensor<{end - start}xi32>, got {result_type}"
            )
