"""Lowering of the mirage dialect to Triton kernels."""
