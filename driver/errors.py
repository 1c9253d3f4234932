"""Exceptions raised by the mirage-mlir driver.

Every error a user can cause (a model torch cannot export, an op torch-mlir
cannot lower, a dynamic shape) is one of these, with a message that says what
went wrong and where.  Command-line entry points catch `MirageError`, print its
message and exit with status 1 instead of showing a traceback.
"""

from __future__ import annotations


class MirageError(Exception):
    """Base class of the errors mirage-mlir reports to its users."""


class TorchImportError(MirageError):
    """A PyTorch model could not be imported as linalg-on-tensors MLIR.

    The message names the failing stage (torch.export, the fx importer, or the
    torch-mlir lowering) and the op or reason; the library's own exception, when
    there is one, is kept as `__cause__`.
    """


class DynamicShapeError(TorchImportError):
    """The model has a tensor dimension whose size is not known at import time.

    mirage-mlir optimises for concrete shapes (costs, tile sizes and contraction
    orders all depend on them), so dynamic dimensions are refused.  The message
    names the input (or the op) and the dimension index, and the symbol torch
    gave it.
    """
