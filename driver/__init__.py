"""The Python driver: import from PyTorch, reference execution, compilation and runtime."""
