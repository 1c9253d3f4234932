"""Command-line tools of mirage-mlir."""
