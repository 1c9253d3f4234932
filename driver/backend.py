"""The `mirage` torch.compile backend: `torch.compile(model, backend="mirage")`.

Registered through the `torch_dynamo_backends` entry point in pyproject.toml;
importing this module registers nothing by itself.  Each FX subgraph dynamo
hands over is compiled with `mirage_mlir.compile` for its example inputs.
A subgraph the pipeline cannot handle (an op torch-mlir cannot lower, inputs
that need gradients, symbolic sizes, anything else that raises) runs as torch
would, through the graph module's own `forward`, so a model that runs
eagerly never fails here, unless the caller asks for that:

```python
compiled = torch.compile(model, backend="mirage", options={"fallback": "error"})
```

Options (`torch.compile(..., options={...})`): `fallback` ("eager", the
default, or "error": raise `BackendFallbackError` instead of running a
subgraph eagerly), `target`, `cache_dir`, `use_cache` and the optimiser's
limits (`driver.optimize.LIMIT_OPTIONS`: `max_iterations`, `timeout`, ...),
all passed to `mirage_mlir.compile`.  An unknown option is an error.  `mode` is accepted
and ignored: inductor's modes mean nothing to this backend.

What the backend did is recorded, one `SubgraphRecord` per subgraph, in
`mirage_backend.records` (cleared by `torch._dynamo.reset()`); MIRAGE_VERBOSE=1
prints each record as it is made:

```python
from mirage_mlir.driver.backend import mirage_backend
torch.compile(model, backend="mirage")(x)
mirage_backend.fallbacks          # [] when mirage compiled every subgraph
print(mirage_backend.summary())   # one line per subgraph, with the reason of a fallback
```

`MirageBackend(**options)` makes a backend with its own records and default
options, to pass as `torch.compile(model, backend=MirageBackend(...))`.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import Any, Callable

from mirage_mlir.driver.errors import MirageError
from mirage_mlir.driver.optimize import LIMIT_OPTIONS

__all__ = ["BackendFallbackError", "BackendOptionsError", "MirageBackend", "SubgraphRecord",
           "mirage_backend"]

#: What to do with a subgraph mirage cannot compile.
FALLBACK_MODES = ("eager", "error")

#: Options passed on to `mirage_mlir.compile` as they are.
COMPILE_OPTIONS = ("target", "cache_dir", "use_cache", *LIMIT_OPTIONS)


class BackendFallbackError(MirageError):
    """mirage could not compile a subgraph, and the backend was told not to fall back."""


class BackendOptionsError(MirageError):
    """The backend was given an option it does not know, or a value it does not take."""


@dataclass(frozen=True)
class SubgraphRecord:
    """What the backend did with one FX graph dynamo handed it.

    `index` counts the backend's subgraphs from 0 (since its last reset);
    `ops` names the graph's operations in order; `inputs` gives each input's
    shape and dtype (a non-tensor input shows its type); `compiled` says
    whether mirage runs the subgraph; otherwise `reason` says why torch does.
    `report` is mirage's compile report of a compiled subgraph.
    """

    index: int
    ops: tuple[str, ...]
    inputs: tuple[str, ...]
    compiled: bool
    reason: str | None = None
    report: Any = None

    @property
    def status(self) -> str:
        """'mirage' for a compiled subgraph, 'eager' for one that fell back."""
        return "mirage" if self.compiled else "eager"

    @property
    def title(self) -> str:
        """'subgraph 0 (3 ops: torch.matmul, ...)'."""
        ops = ", ".join(self.ops[:8]) + (", ..." if len(self.ops) > 8 else "")
        return f"subgraph {self.index} ({len(self.ops)} ops: {ops})"

    def __str__(self) -> str:
        """One line: index, who runs it, its ops, and the reason of a fallback."""
        head = self.title
        if self.compiled:
            report = self.report or {}
            return (f"{head}: compiled by mirage (target {report.get('target')}, "
                    f"cache {report.get('cache')})")
        return f"{head}: runs eagerly: {self.reason}"


class MirageBackend:
    """A torch.compile backend compiling each subgraph with mirage (see the module docstring).

    `records` lists a `SubgraphRecord` per subgraph compiled since the last
    `reset`; `options` are defaults that `torch.compile(options=...)` overrides.
    """

    def __init__(self, **options: Any) -> None:
        """Keep `options` (checked as `torch.compile` options are) and an empty record."""
        self.options = _checked(options)
        self.records: list[SubgraphRecord] = []

    @property
    def compiled(self) -> list[SubgraphRecord]:
        """The records of subgraphs mirage compiled."""
        return [r for r in self.records if r.compiled]

    @property
    def fallbacks(self) -> list[SubgraphRecord]:
        """The records of subgraphs that run eagerly, each with its reason."""
        return [r for r in self.records if not r.compiled]

    def summary(self) -> str:
        """The records, one line each."""
        return "\n".join(str(r) for r in self.records) or "no subgraphs compiled"

    def reset(self) -> None:
        """Forget the records (`torch._dynamo.reset()` calls this)."""
        self.records.clear()

    def __call__(
        self, gm: Any, example_inputs: list[Any], options: dict[str, Any] | None = None,
        mode: str | None = None,
    ) -> Callable[..., Any]:
        """Compile one FX graph module; fall back to `gm.forward` (or raise) when that fails.

        `options` come from `torch.compile(options=...)`; `mode` is inductor's
        and means nothing here.
        """
        import torch

        from mirage_mlir.driver.compile import compile as mirage_compile

        settings = {**self.options, **_checked(options or {})}
        fallback = settings.pop("fallback", "eager")
        index = len(self.records)
        ops = _graph_ops(gm)
        inputs = tuple(_describe_input(t) for t in example_inputs)
        tensors = [t for t in example_inputs if isinstance(t, torch.Tensor)]
        # dynamo guards on grad mode, so a graph traced under no_grad only runs under it.
        needs_grad = torch.is_grad_enabled() and (
            any(t.requires_grad for t in tensors) or any(p.requires_grad for p in gm.parameters())
        )
        reason, error, compiled = None, None, None
        if len(tensors) != len(example_inputs):
            reason = "the graph takes non-tensor inputs (symbolic sizes or Python values)"
        elif needs_grad:
            # Autograd through the compiled program is not supported: keep torch's path.
            reason = "inputs need gradients (mirage compiles inference only)"
        else:
            try:
                compiled = mirage_compile(gm, *tensors, **settings)
            except Exception as caught:  # any failure means: run this subgraph as torch would
                error = caught
                message = str(caught).splitlines()[0] if str(caught) else ""
                reason = f"{type(caught).__name__}: {message}"
        record = SubgraphRecord(index, ops, inputs, compiled is not None, reason,
                                compiled.report if compiled is not None else None)
        self.records.append(record)
        if os.environ.get("MIRAGE_VERBOSE", "") not in ("", "0"):
            print(f"[mirage] {record}", file=sys.stderr, flush=True)
        if compiled is None:
            if fallback == "error":
                raise BackendFallbackError(
                    f"mirage could not compile {record.title}: {reason} "
                    f"(options={{'fallback': 'eager'}} runs it with torch instead)"
                ) from error
            return gm.forward

        def run(*args: Any) -> Any:
            outputs = compiled(*args)
            # dynamo's graph modules return a tuple or list of outputs.
            return outputs if isinstance(outputs, tuple) else (outputs,)

        return run


def _checked(options: dict[str, Any]) -> dict[str, Any]:
    """`options` if every key and the fallback mode are known; else BackendOptionsError."""
    unknown = sorted(set(options) - {"fallback", *COMPILE_OPTIONS})
    if unknown:
        raise BackendOptionsError(
            f"the mirage backend has no option {', '.join(map(repr, unknown))}; it takes "
            f"fallback, {', '.join(COMPILE_OPTIONS)}")
    if options.get("fallback", "eager") not in FALLBACK_MODES:
        raise BackendOptionsError(
            f"fallback={options['fallback']!r}: expected one of {', '.join(FALLBACK_MODES)}")
    return dict(options)


def _graph_ops(gm: Any) -> tuple[str, ...]:
    """The operations of an FX graph, by name, in order."""
    names = []
    for node in gm.graph.nodes:
        if node.op == "call_function":
            target = node.target
            module = getattr(target, "__module__", None) or ""
            name = getattr(target, "__name__", None) or str(target)
            names.append(f"{module.split('.')[0].lstrip('_')}.{name}" if module else name)
        elif node.op == "call_method":
            names.append(f"Tensor.{node.target}")
        elif node.op == "call_module":
            names.append(type(gm.get_submodule(node.target)).__name__)
    return tuple(names)


def _describe_input(value: Any) -> str:
    import torch

    if isinstance(value, torch.Tensor):
        return f"{list(value.shape)} {str(value.dtype).removeprefix('torch.')}"
    return type(value).__name__


#: The backend `torch.compile(backend="mirage")` uses (the entry point names it).
mirage_backend = MirageBackend()
