"""The `mirage` torch.compile backend: `torch.compile(model, backend="mirage")`.

Registered through the `torch_dynamo_backends` entry point in pyproject.toml;
importing this module registers nothing by itself.  Each FX subgraph dynamo
hands over is compiled with `mirage_mlir.compile` for its example inputs.
A subgraph the pipeline cannot handle (an op torch-mlir cannot lower, a
data-dependent shape, anything else that raises) runs as torch would, through
the graph module's own `forward`, so a model that runs eagerly never fails
here.  Set MIRAGE_VERBOSE=1 to see which subgraphs fell back and why.
"""

from __future__ import annotations

import os
import sys
from typing import Any, Callable


def mirage_backend(gm: Any, example_inputs: list[Any], **options: Any) -> Callable[..., Any]:
    """Compile one FX graph module; fall back to `gm.forward` when that fails."""
    import torch

    from mirage_mlir.driver.compile import compile as mirage_compile

    tensors = [t for t in example_inputs if isinstance(t, torch.Tensor)]
    # dynamo guards on grad mode, so a graph traced under no_grad only runs under it.
    needs_grad = torch.is_grad_enabled() and (
        any(t.requires_grad for t in tensors) or any(p.requires_grad for p in gm.parameters())
    )
    if len(tensors) != len(example_inputs) or needs_grad:
        # Autograd through the compiled program is not supported: keep torch's path.
        return _fallback(gm, "inputs are not plain tensors or need gradients")
    try:
        compiled = mirage_compile(gm, *tensors, **options)
    except Exception as error:  # any failure means: run this subgraph as torch would
        return _fallback(gm, f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}")

    def run(*args: Any) -> Any:
        outputs = compiled(*args)
        # dynamo's graph modules return a tuple or list of outputs.
        return outputs if isinstance(outputs, tuple) else (outputs,)

    return run


def _fallback(gm: Any, reason: str) -> Callable[..., Any]:
    if os.environ.get("MIRAGE_VERBOSE", "") not in ("", "0"):
        print(f"[mirage] subgraph runs eagerly: {reason}", file=sys.stderr, flush=True)
    return gm.forward
