"""xDSL dialects of mirage-mlir: the fixed linalg, the mirage graph dialect, and the Triton subset."""
