"""The mission's examples: PyTorch modules with example inputs, and their imported MLIR.

Each example is one module `mirage_mlir.examples.<name>` that defines
`EXAMPLE = Example(...)`: a model factory with seeded weights, an input factory
taking a seed, and, beside the module, `<name>.mlir`, the model imported by
`mirage_mlir.import_torch` (rewritten by `python -m mirage_mlir.examples.regenerate`).

E1-E8 follow the mission's list; variants (attention with heads, with a causal
mask, through `F.scaled_dot_product_attention`; BatchNorm as `nn.BatchNorm1d`)
share their example's number.  This registry imports no torch: an example
module is loaded only when asked for.
"""

from __future__ import annotations

import importlib
import pathlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    import torch

__all__ = ["EXAMPLE_NAMES", "Example", "all_examples", "load_example"]

_HERE = pathlib.Path(__file__).resolve().parent

EXAMPLE_NAMES: tuple[str, ...] = (
    "e1_matrix_chain",
    "e2_attention",
    "e2_attention_heads",
    "e2_attention_causal",
    "e2_sdpa",
    "e3_batchnorm_relu",
    "e3_batchnorm_module",
    "e4_einsum_chain",
    "e5_gated_layer",
    "e6_naive_softmax",
    "e7_llama_attention",
    "e8_tensor_network",
)


@dataclass(frozen=True)
class Example:
    """One example program: how to build the model and its inputs, and where its MLIR lives.

    `make_model()` returns a fresh module whose weights depend on nothing but
    the example (they are drawn from a fixed seed), in the mode the example
    is about (training mode for BatchNorm's statistics, for instance).
    `make_inputs(seed)` returns the example's fp32 input tensors, in the order
    `forward` takes them.
    """

    name: str
    title: str
    make_model: Callable[[], "torch.nn.Module"]
    make_inputs: Callable[[int], tuple]

    @property
    def mlir_path(self) -> pathlib.Path:
        """The committed linalg-on-tensors import of this example: examples/<name>.mlir."""
        return _HERE / f"{self.name}.mlir"


def load_example(name: str) -> Example:
    """The `EXAMPLE` of module `mirage_mlir.examples.<name>`; `KeyError` for an unknown name."""
    if name not in EXAMPLE_NAMES:
        raise KeyError(f"unknown example '{name}'; the examples are: {', '.join(EXAMPLE_NAMES)}")
    module = importlib.import_module(f"{__name__}.{name}")
    example = module.EXAMPLE
    if example.name != name:
        raise ValueError(f"{module.__file__}: EXAMPLE.name is '{example.name}', expected '{name}'")
    return example


def all_examples() -> list[Example]:
    """Every example, in the order of `EXAMPLE_NAMES`."""
    return [load_example(name) for name in EXAMPLE_NAMES]
