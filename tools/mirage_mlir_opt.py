"""`mirage-mlir-opt`: the modular optimiser driver of mirage-mlir.

xDSL's opt driver (`xdsl-opt`) with the project's dialects and passes, the
project's parser (hex float literals, resource names, op locations) and fixed
linalg, and a printer that keeps the `{-# dialect_resources #-}` section:

```
mirage-mlir-opt model.mlir -p 'canonicalize,arith-add-fastmath{flags=fast}' -o out.mlir
mirage-mlir-opt - < model.mlir                 # stdin
mirage-mlir-opt --split-input-file cases.mlir  # each `// -----` chunk on its own
mirage-mlir-opt --verify-diagnostics invalid.mlir
```

Bad input is reported as one diagnostic naming `file:line:col` and the problem,
with exit status 1 and no Python traceback.  Under `--verify-diagnostics`
verifier diagnostics are printed to stdout and the tool exits 0, as xDSL's
does, so that tests of invalid IR can check them.  When a pass fails, the
module it was given is saved to a temporary directory and the exact command
that reproduces the failure is printed.

`--help` lists every pass.  Also runnable as
`python -m mirage_mlir.tools.mirage_mlir_opt`.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import os
import shlex
import sys
import tempfile
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from io import BytesIO
from typing import IO

from xdsl.dialects.builtin import ModuleOp
from xdsl.passes import ModulePass, PassPipeline
from xdsl.utils.exceptions import (
    ArgSpecParseError,
    DiagnosticException,
    ParseError,
)
from xdsl.xdsl_opt_main import xDSLOptMain

from mirage_mlir.dialects.context import dialect_factories, verify_module
from mirage_mlir.dialects.diagnostics import (
    MlirError,
    MlirSyntaxError,
    MlirVerifyError,
    error_at_span,
    syntax_error_from,
)
from mirage_mlir.dialects.parser import LocatedVerifyException, MirageParser

TOOL_NAME = "mirage-mlir-opt"
SPLIT_MARKER = b"// -----"
"""A line holding only this separates the chunks of `--split-input-file`."""


def pass_factories() -> dict[str, Callable[[], type[ModulePass]]]:
    """Name -> factory of every pass the tool runs: xDSL's and the project's."""
    from xdsl.transforms import get_all_passes

    from mirage_mlir.universe import MIRAGE_UNIVERSE

    factories = dict(get_all_passes())
    for name, factory in MIRAGE_UNIVERSE.all_passes.items():
        if name in factories:
            raise ValueError(f"mirage-mlir pass '{name}' clashes with an xDSL pass")
        factories[name] = factory
    return factories


def _mirage_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("mirage-mlir")
    except PackageNotFoundError:
        return "unknown"


@dataclass
class ToolError(Exception):
    """A problem the tool reports as one `mirage-mlir-opt: error: ...` line (plus notes)."""

    message: str
    notes: Sequence[str] = ()

    def __str__(self) -> str:
        lines = [f"{TOOL_NAME}: error: {self.message}"]
        lines += [f"note: {note}" for note in self.notes]
        return "\n".join(lines)


class MirageOptMain(xDSLOptMain):
    """xDSL's opt driver, set up with mirage-mlir's dialects, passes and parser."""

    def __init__(self, args: Sequence[str] | None = None):
        self.version_format = (
            f"{TOOL_NAME} {_mirage_version()} (mirage-mlir, built on xDSL "
            "{xdsl_version})"
        )
        self._chunk_text = b""
        self._pass_running: ModulePass | None = None
        self._verifying_after: ModulePass | None = None
        super().__init__(
            description=f"{TOOL_NAME}: the mirage-mlir optimiser driver", args=args
        )

    # -- registration ---------------------------------------------------------

    def register_all_dialects(self):
        for name, factory in dialect_factories().items():
            self.ctx.register_dialect(name, factory)

    def register_all_passes(self):
        for name, factory in pass_factories().items():
            self.register_pass(name, factory)

    def register_all_frontends(self):
        super().register_all_frontends()
        self.available_frontends["mlir"] = self._parse_stream

    def _parse_stream(self, stream: IO[bytes]) -> ModuleOp:
        module = self.parse_chunk(stream, "mlir")
        assert module is not None
        return module

    def register_all_arguments(self, arg_parser: argparse.ArgumentParser):
        super().register_all_arguments(arg_parser)
        arg_parser.add_argument(
            "--emit",
            choices=("mlir", "ttir", "ttgir", "ptx"),
            default="mlir",
            help="print the result as MLIR (default) or print its Triton kernels at a stage: "
            "ttir, ttgir or ptx (needs convert-mirage-to-triton in the pipeline)",
        )
        arg_parser.add_argument(
            "--arch",
            type=int,
            choices=(80, 90),
            default=90,
            help="compute capability for --emit=ttgir|ptx: 90 (sm_90, default) or 80",
        )
        for action in arg_parser._actions:
            if action.dest == "input_file":
                action.help = "path to the input file, or - for stdin (the default)"

    # -- the pass pipeline ----------------------------------------------------

    def setup_pipeline(self):
        self._check_pipeline(self.args.passes)
        super().setup_pipeline()
        check_and_print = self.pipeline.callback
        assert check_and_print is not None

        # xDSL's callback verifies the module between passes; remembering which
        # pass ran last tells a failing pass from IR a pass left invalid.
        def tracking(
            previous: ModulePass | None, module: ModuleOp, following: ModulePass | None
        ) -> None:
            self._pass_running = None
            self._verifying_after = previous
            check_and_print(previous, module, following)
            self._verifying_after = None
            self._pass_running = following

        self.pipeline = PassPipeline(self.pipeline.passes, tracking)

    def _check_pipeline(self, spec: str) -> None:
        """Raise a `ToolError` naming the pass for an unknown pass or bad option."""
        from xdsl.utils.arg_spec import parse_pipeline

        try:
            specs = list(parse_pipeline(spec))
        except ArgSpecParseError as error:
            raise ToolError(_pipeline_syntax_message(error)) from None
        for pass_spec in specs:
            factory = self.available_passes.get(pass_spec.name)
            if factory is None:
                close = difflib.get_close_matches(
                    pass_spec.name, self.available_passes, n=3
                )
                notes = [f"did you mean: {', '.join(close)}?"] if close else []
                raise ToolError(
                    f"unknown pass '{pass_spec.name}' in -p pipeline '{spec}'", notes
                )
            try:
                factory().from_pass_spec(pass_spec)
            except (ValueError, TypeError, KeyError) as error:
                raise ToolError(
                    f"bad options for pass '{pass_spec.name}' in -p pipeline "
                    f"'{spec}': {error}"
                ) from None

    def apply_passes(self, prog: ModuleOp):
        # The input was verified right after parsing; with no passes there is
        # nothing left to do.
        if not self.pipeline.passes:
            return
        try:
            self.pipeline.apply(self.ctx, prog)
        except DiagnosticException as error:
            if self.args.verify_diagnostics:
                raise
            self._report_pass_failure(error)
        except Exception as error:
            self._report_pass_failure(error)

    def _report_pass_failure(self, error: Exception) -> None:
        """Save the pipeline's input and raise a `ToolError` with the repro command."""
        directory = tempfile.mkdtemp(prefix="mirage-mlir-opt-")
        reproducer = os.path.join(directory, "reproducer.mlir")
        with open(reproducer, "wb") as stream:
            stream.write(self._chunk_text)
        trace_file = os.path.join(directory, "traceback.txt")
        with open(trace_file, "w") as stream:
            stream.write("".join(traceback.format_exception(error)))

        detail = _one_line(error)
        if self._verifying_after is not None:
            message = (
                f"pass '{self._verifying_after.name}' produced IR that does not "
                f"verify: {detail}"
            )
        elif self._pass_running is not None:
            message = f"pass '{self._pass_running.name}' failed: {detail}"
        else:
            message = f"the pass pipeline failed: {detail}"
        command = [TOOL_NAME, reproducer, "-p", self.args.passes]
        for flag in (
            "allow_unregistered_dialect",
            "no_implicit_module",
            "disable_verify",
        ):
            if getattr(self.args, flag):
                command.append("--" + flag.replace("_", "-"))
        raise ToolError(
            message,
            [
                f"the pipeline's input module was saved to {reproducer}",
                "reproduce with: " + shlex.join(command),
                f"Python traceback in {trace_file}",
            ],
        ) from None

    def output_resulting_program(self, prog: ModuleOp) -> str:
        if self.args.emit == "mlir":
            return super().output_resulting_program(prog)
        from mirage_mlir.lowering.stages import NoKernelsError, emit_stage
        from mirage_mlir.lowering.staging import TritonCompileError

        try:
            return emit_stage(prog, self.args.emit, self.args.arch)
        except NoKernelsError as error:
            raise ToolError(str(error)) from None
        except TritonCompileError as error:
            raise ToolError(f"triton.compile failed: {_one_line(error)}") from None

    # -- running --------------------------------------------------------------

    def run(self):
        """Process every chunk; report each failure; raise `ToolFailures` if any.

        Unlike xDSL's driver, a failing chunk of a split input does not stop
        the others (MLIR's opt tools behave so too).
        """
        if self.args.shrink:
            return super().run()
        chunks, extension = self.prepare_input()
        output = self.prepare_output()
        failures: list[object] = []
        try:
            for index, (chunk, offset) in enumerate(chunks):
                if index > 0:
                    output.write("// -----\n")
                try:
                    module = self.parse_chunk(chunk, extension, offset)
                    if module is not None:
                        self.apply_passes(module)
                        output.write(self.output_resulting_program(module))
                    output.flush()
                except (ParseError, MlirSyntaxError) as error:
                    if self.args.parsing_diagnostics:
                        print(as_diagnostic(error))
                    else:
                        failures.append(as_diagnostic(error))
                except DiagnosticException as error:
                    if self.args.verify_diagnostics:
                        print(as_diagnostic(error, with_notes=True))
                    else:
                        failures.append(as_diagnostic(error))
                except ToolError as error:
                    failures.append(error)
                finally:
                    chunk.close()
        finally:
            if output is not sys.stdout:
                output.close()
        if failures:
            raise ToolFailures(failures)

    # -- input ----------------------------------------------------------------

    def get_input_stream(self) -> tuple[IO[bytes], str]:
        name = self.args.input_file
        if name in (None, "-"):
            return sys.stdin.buffer, "mlir"
        try:
            stream = open(name, "rb")
        except OSError as error:
            raise ToolError(
                f"could not open input file '{name}': {error.strerror or error}"
            ) from None
        # Every input is MLIR text, whatever its extension (.mlir, .ttir, ...).
        return stream, "mlir"

    def get_input_name(self):
        name = self.args.input_file
        return "<stdin>" if name in (None, "-") else name

    def prepare_input(self) -> tuple[list[tuple[IO[bytes], int]], str]:
        stream, extension = self.get_input_stream()
        if not self.args.split_input_file:
            return [(stream, 0)], extension
        # Split only at lines that are the marker alone, as MLIR does: xDSL
        # splits at the text anywhere, so `// CHECK: // -----` would split.
        data = stream.read()
        if stream is not sys.stdin.buffer:
            stream.close()
        chunks: list[tuple[IO[bytes], int]] = []
        current: list[bytes] = []
        first_line = 0
        for number, line in enumerate(data.splitlines(keepends=True)):
            if line.strip() == SPLIT_MARKER:
                chunks.append((BytesIO(b"".join(current)), first_line))
                current, first_line = [], number + 1
            else:
                current.append(line)
        chunks.append((BytesIO(b"".join(current)), first_line))
        return chunks, extension

    def prepare_output(self) -> IO[str]:
        try:
            return super().prepare_output()
        except OSError as error:
            raise ToolError(
                f"could not open output file '{self.args.output_file}': "
                f"{error.strerror or error}"
            ) from None

    def parse_chunk(
        self, chunk: IO[bytes], file_extension: str, start_offset: int = 0
    ) -> ModuleOp | None:
        data = chunk.read()
        self._chunk_text = data
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as error:
            raise MlirSyntaxError(
                f"input is not UTF-8 text ({error.reason} at byte {error.start})",
                file=self.get_input_name(),
            ) from None
        parser = MirageParser(
            self.ctx, text, self.get_input_name(), line_offset=start_offset
        )
        try:
            module = parser.parse_module(not self.args.no_implicit_module)
        except ParseError as error:
            # Lines are counted in the whole file, not in this chunk.
            error.span = dataclasses.replace(error.span, line_offset=start_offset)
            raise
        if not self.args.disable_verify:
            verify_module(module, text, start_offset)
        return module


def _one_line(error: BaseException) -> str:
    text = str(error).strip()
    first = text.splitlines()[0] if text else ""
    return f"{type(error).__name__}: {first}" if first else type(error).__name__


def _pipeline_syntax_message(error: ArgSpecParseError) -> str:
    detail = str(error).replace("Error parsing pass pipeline specification:", "")
    return "malformed -p pipeline at " + detail.strip("\n")


def _report(message: object) -> int:
    print(message, file=sys.stderr)
    return 1


@dataclass
class ToolFailures(Exception):
    """The failures of one run, one diagnostic per failed chunk."""

    failures: Sequence[object]

    def __str__(self) -> str:
        return "\n".join(str(failure) for failure in self.failures)


def as_diagnostic(error: Exception, *, with_notes: bool = False) -> object:
    """The located diagnostic to print for an error from parsing or verifying."""
    if isinstance(error, MlirError | ToolError):
        return error
    if isinstance(error, ParseError):
        return syntax_error_from(error)
    if isinstance(error, LocatedVerifyException):
        return error_at_span(MlirVerifyError, error.span, error.message)
    if with_notes:
        # xDSL's diagnostics carry the annotated module as notes; tests of
        # invalid IR written for xdsl-opt check them.
        return "\n".join([str(error), *getattr(error, "__notes__", ())])
    return ToolError(_one_line(error))


def main(argv: Sequence[str] | None = None) -> int:
    """Run `mirage-mlir-opt` on `argv` (default: the command line); the exit status."""
    try:
        MirageOptMain(args=argv).run()
    except (ToolError, ToolFailures) as error:
        return _report(error)
    except (MlirError, ParseError, DiagnosticException) as error:
        return _report(as_diagnostic(error))
    except ArgSpecParseError as error:
        return _report(ToolError(_pipeline_syntax_message(error)))
    except BrokenPipeError:
        # The reader went away (`mirage-mlir-opt x.mlir | head`): not an error.
        # Point stdout at /dev/null so the interpreter's final flush is quiet.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as error:
        return _report(_internal_error(error))
    return 0


def _internal_error(error: Exception) -> ToolError:
    """An unexpected failure: one line, with the traceback kept in a file."""
    directory = tempfile.mkdtemp(prefix="mirage-mlir-opt-")
    trace_file = os.path.join(directory, "traceback.txt")
    with open(trace_file, "w") as stream:
        stream.write("".join(traceback.format_exception(error)))
    return ToolError(
        f"internal error: {_one_line(error)}",
        [f"Python traceback in {trace_file}"],
    )


if __name__ == "__main__":
    sys.exit(main())
