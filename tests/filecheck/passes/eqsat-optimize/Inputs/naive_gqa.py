"""Write the fp16 import of grouped-query attention with a naive softmax (exp / sum).

    python tests/filecheck/passes/eqsat-optimize/Inputs/naive_gqa.py

Eight query heads share two KV heads (repeat_interleave); the scores are scaled by 2, so on
inputs in [-1, 1) with 64 channels they reach about +-20 and exp overflows fp16 (above 11.09)
on most rows. stable_exp_log.mlir checks that `verify` passes the optimised attention and
reports that the original overflowed.
"""

from __future__ import annotations

import sys
from pathlib import Path

PATH = Path(__file__).resolve().parent / "gqa_naive_f16.mlir"


def render() -> str:
    """A header and a fresh import of the model on seed-0 fp16 inputs."""
    import torch

    import mirage_mlir

    class NaiveGQA(torch.nn.Module):
        def forward(self, q, k, v):
            group = q.shape[1] // k.shape[1]
            k = k.repeat_interleave(group, dim=1)
            v = v.repeat_interleave(group, dim=1)
            p = torch.exp((q @ k.transpose(-1, -2)) * 2.0)
            return (p / p.sum(-1, keepdim=True)) @ v

    generator = torch.Generator().manual_seed(0)
    shapes = ((1, 8, 64, 64), (1, 2, 64, 64), (1, 2, 64, 64))
    inputs = [torch.randn(*s, generator=generator).half() for s in shapes]
    header = "// Naive-softmax GQA in f16: written by naive_gqa.py in this folder; do not edit.\n"
    return header + mirage_mlir.import_torch(NaiveGQA(), *inputs)


def main() -> int:
    """Write the file."""
    PATH.write_text(render())
    print(f"wrote {PATH}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
