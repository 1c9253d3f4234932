"""The model zoo: real architectures nobody here wrote, at sizes this machine can test.

Each entry builds a model in eval mode with seeded random weights (nothing is downloaded)
and example inputs:

    from mirage_mlir.zoo import ZOO_NAMES, build
    model, inputs = build("llama", dtype="f32", seed=0)

Hugging Face `transformers` models come from their configs (zoo/hf.py): GPT-2 LM at batch 1
and 4, a Llama-style decoder (grouped-query attention, RoPE, RMSNorm, SwiGLU), BERT with an
attention mask, a vision transformer, and a Mixtral-style mixture of experts. The CNNs are
written here (zoo/cnn.py), since torchvision cannot be installed beside the pinned torch: a
ResNet-style network and a depthwise-separable one. Every model returns plain tensors (the
Hugging Face output classes are unwrapped), so it can be imported as it is.

`dtype` is "f32", "f16" or "bf16" for the decoders (their GPU targets); the other entries are
f32 only. This registry imports neither torch nor transformers until an entry is built.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    import torch

__all__ = ["DECODERS", "ZOO_NAMES", "build"]

#: Entry name -> "module:function" of its builder, (model, inputs) = function(dtype, seed).
_BUILDERS: dict[str, str] = {
    "gpt2_b1": "hf:gpt2_batch1",
    "gpt2_b4": "hf:gpt2_batch4",
    "llama": "hf:llama",
    "bert": "hf:bert",
    "vit": "hf:vit",
    "mixtral": "hf:mixtral",
    "resnet": "cnn:resnet",
    "depthwise": "cnn:depthwise_separable",
}

ZOO_NAMES: tuple[str, ...] = tuple(_BUILDERS)

#: The decoders, built in f16 and bf16 too.
DECODERS: tuple[str, ...] = ("gpt2_b1", "gpt2_b4", "llama", "mixtral")

_DTYPES = {"f32": "float32", "f16": "float16", "bf16": "bfloat16"}


def build(
    name: str, dtype: str = "f32", seed: int = 0
) -> tuple["torch.nn.Module", tuple]:
    """The zoo model `name` (eval mode, seeded weights) and example inputs drawn with `seed`."""
    import importlib

    import torch

    if name not in _BUILDERS:
        raise KeyError(f"no zoo model {name!r}; known: {', '.join(ZOO_NAMES)}")
    if dtype not in _DTYPES:
        raise ValueError(f"zoo dtype {dtype!r}: one of {', '.join(_DTYPES)}")
    if dtype != "f32" and name not in DECODERS:
        raise ValueError(f"zoo model {name!r} is built in f32 only")
    module, _, function = _BUILDERS[name].partition(":")
    builder: Callable[..., Any] = getattr(
        importlib.import_module(f"mirage_mlir.zoo.{module}"), function
    )
    torch.manual_seed(seed)
    model, inputs = builder(torch.Generator().manual_seed(seed))
    model = model.to(getattr(torch, _DTYPES[dtype])).eval()
    return model, inputs
