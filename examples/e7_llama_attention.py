"""E7 LLM attention block: the attention half of a Llama-style decoder layer.

    h   = rms_norm(x) * norm_weight
    q   = h @ Wqᵀ  -> [batch, 8 heads, seq, 64]
    k,v = h @ Wkᵀ, h @ Wvᵀ  -> [batch, 2 KV heads, seq, 64], each repeated to 8 heads
    out = x + (causal_attention(q, k, v) -> [batch, seq, 512]) @ Woᵀ

Shapes: x [1, 128, 512] fp32 input; hidden 512, 8 query heads and 2 KV heads
(grouped-query attention, 4 query heads per KV head) of dimension 64; q/k/v/o
projections are `nn.Linear(bias=False)` parameters (Wq, Wo [512, 512], Wk, Wv
[128, 512]), RMSNorm eps 1e-6.  No rotary embedding.  The causal attention is
`F.scaled_dot_product_attention(is_causal=True)`, and the KV heads are
expanded with `repeat_interleave`, as Llama implementations do; the block ends
with its residual connection.

Expected optimisation: q/k/v become one matmul on the concatenated weights
(with the norm as its prologue where it pays), and attention becomes one
flash-attention kernel that reads each KV head once per group of query heads
instead of materialising the repeated K and V.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from mirage_mlir.examples import Example

HIDDEN = 512
HEADS = 8
KV_HEADS = 2
HEAD_DIM = 64
SEQ = 128


class RMSNorm(torch.nn.Module):
    """Root-mean-square normalisation over the last dimension, with a learned gain."""

    def __init__(self, features: int, eps: float = 1e-6) -> None:
        """A gain of ones; the block that owns the norm sets its values."""
        super().__init__()
        self.eps = eps
        self.weight = torch.nn.Parameter(torch.ones(features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return `x / sqrt(mean(x², -1) + eps) * weight`."""
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


class LlamaAttentionBlock(torch.nn.Module):
    """Pre-norm grouped-query causal self-attention with a residual connection."""

    def __init__(
        self,
        hidden: int = HIDDEN,
        heads: int = HEADS,
        kv_heads: int = KV_HEADS,
        head_dim: int = HEAD_DIM,
        seed: int = 0,
    ) -> None:
        """Initialise the projections as `nn.Linear` does, from `seed` alone."""
        super().__init__()
        if heads % kv_heads:
            raise ValueError(f"{heads} query heads cannot share {kv_heads} KV heads evenly")
        self.heads, self.kv_heads, self.head_dim = heads, kv_heads, head_dim
        # fork_rng keeps the caller's global random state untouched.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.norm = RMSNorm(hidden)
            self.q_proj = torch.nn.Linear(hidden, heads * head_dim, bias=False)
            self.k_proj = torch.nn.Linear(hidden, kv_heads * head_dim, bias=False)
            self.v_proj = torch.nn.Linear(hidden, kv_heads * head_dim, bias=False)
            self.o_proj = torch.nn.Linear(heads * head_dim, hidden, bias=False)
            with torch.no_grad():
                self.norm.weight.copy_(1.0 + 0.1 * torch.randn(hidden))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return `x + o_proj(causal_gqa_attention(norm(x)))`."""
        batch, seq, _ = x.shape
        h = self.norm(x)
        q = self._split_heads(self.q_proj(h), self.heads)
        k = self._split_heads(self.k_proj(h), self.kv_heads)
        v = self._split_heads(self.v_proj(h), self.kv_heads)
        group = self.heads // self.kv_heads
        k = k.repeat_interleave(group, dim=1)
        v = v.repeat_interleave(group, dim=1)
        attended = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        merged = attended.transpose(1, 2).reshape(batch, seq, self.heads * self.head_dim)
        return x + self.o_proj(merged)

    def _split_heads(self, projected: torch.Tensor, heads: int) -> torch.Tensor:
        """[batch, seq, heads * head_dim] -> [batch, heads, seq, head_dim]."""
        batch, seq, _ = projected.shape
        return projected.view(batch, seq, heads, self.head_dim).transpose(1, 2)


def make_inputs(seed: int) -> tuple[torch.Tensor]:
    """x [1, 128, 512], standard normal."""
    generator = torch.Generator().manual_seed(seed)
    return (torch.randn(1, SEQ, HIDDEN, generator=generator),)


EXAMPLE = Example(
    name="e7_llama_attention",
    title="Llama attention block: RMSNorm, GQA 8q/2kv x 64, causal, x [1, 128, 512]",
    make_model=LlamaAttentionBlock,
    make_inputs=make_inputs,
)
