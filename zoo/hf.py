"""Hugging Face `transformers` models from small configs with random weights.

Each builder takes a seeded `torch.Generator` for the inputs and returns (model, inputs); the
caller seeds the weights (zoo.build). `Unwrapped` calls the model the way Hugging Face code
does (keyword arguments) and returns its main tensor instead of an output class.
"""

from __future__ import annotations

import torch

VOCAB = 128
SEQUENCE = 16

#: The sizes every transformer of the zoo shares: 2 layers, width 64, 4 heads.
_LAYERS = dict(
    num_hidden_layers=2, hidden_size=64, num_attention_heads=4, intermediate_size=128
)
#: ... and the token models' vocabulary and positions; the decoders have 2 KV heads.
_TOKENS = dict(vocab_size=VOCAB, max_position_embeddings=64)
_DECODER = dict(_LAYERS, num_key_value_heads=2, **_TOKENS)


class Unwrapped(torch.nn.Module):
    """`model(**{name: input}, **fixed)` for the names given, returning the output's `field`."""

    def __init__(
        self,
        model: torch.nn.Module,
        names: tuple[str, ...],
        field: str,
        **fixed: object,
    ) -> None:
        super().__init__()
        self.model = model
        self.names = names
        self.field = field
        self.fixed = fixed

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return getattr(
            self.model(**dict(zip(self.names, inputs)), **self.fixed), self.field
        )


def _tokens(generator: torch.Generator, batch: int) -> torch.Tensor:
    return torch.randint(0, VOCAB, (batch, SEQUENCE), generator=generator)


def _gpt2(generator: torch.Generator, batch: int):
    from transformers import GPT2Config, GPT2LMHeadModel

    config = GPT2Config(
        n_layer=2,
        n_embd=64,
        n_head=4,
        vocab_size=VOCAB,
        n_positions=64,
        bos_token_id=0,
        eos_token_id=0,
    )
    return Unwrapped(
        GPT2LMHeadModel(config), ("input_ids",), "logits", use_cache=False
    ), (
        _tokens(generator, batch),
    )


def gpt2_batch1(generator: torch.Generator):
    """GPT-2 language model, 2 layers, batch 1."""
    return _gpt2(generator, 1)


def gpt2_batch4(generator: torch.Generator):
    """GPT-2 language model, 2 layers, batch 4 (strided views of the merged heads)."""
    return _gpt2(generator, 4)


def llama(generator: torch.Generator):
    """Llama-style decoder: grouped-query attention (4 query heads, 2 KV heads), RoPE,
    RMSNorm, SwiGLU; 2 layers."""
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(**_DECODER)
    return Unwrapped(
        LlamaForCausalLM(config), ("input_ids",), "logits", use_cache=False
    ), (
        _tokens(generator, 1),
    )


def bert(generator: torch.Generator):
    """BERT encoder with an attention mask (the second sequence padded after 10 tokens)."""
    from transformers import BertConfig, BertModel

    config = BertConfig(**_LAYERS, **_TOKENS)
    mask = torch.ones(2, SEQUENCE, dtype=torch.int64)
    mask[1, 10:] = 0
    model = Unwrapped(
        BertModel(config), ("input_ids", "attention_mask"), "last_hidden_state"
    )
    return model, (_tokens(generator, 2), mask)


def vit(generator: torch.Generator):
    """Vision transformer: 8x8 patches of a 32x32 image, 2 layers."""
    from transformers import ViTConfig, ViTModel

    config = ViTConfig(**_LAYERS, image_size=32, patch_size=8)
    image = torch.randn(1, 3, 32, 32, generator=generator)
    return Unwrapped(ViTModel(config), ("pixel_values",), "last_hidden_state"), (image,)


def mixtral(generator: torch.Generator):
    """Mixtral-style decoder: a mixture of 4 experts, 2 chosen per token; 2 layers."""
    from transformers import MixtralConfig, MixtralForCausalLM

    config = MixtralConfig(**_DECODER, num_local_experts=4, num_experts_per_tok=2)
    # The batched form gathers each token's expert weights (static shapes); the default
    # grouped form needs torch's grouped GEMM and a histogram, which torch-mlir cannot lower.
    config._experts_implementation = "batched_mm"
    return Unwrapped(
        MixtralForCausalLM(config),
        ("input_ids",),
        "logits",
        use_cache=False,
        output_router_logits=False,
    ), (_tokens(generator, 1),)
