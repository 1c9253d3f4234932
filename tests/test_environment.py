"""The pinned stack is installed: tests that skip without torch, torch-mlir or Triton run here.

Several test modules use `pytest.importorskip` so that a partial environment (a GPU machine
without torch-mlir, say) can still run what it can; in the environment `make test` builds,
every one of them must run, so a broken install fails here instead of skipping silently.
"""

import importlib
import os

import pytest


@pytest.mark.parametrize("module", ["torch", "torch_mlir", "torch_mlir.ir", "triton", "opt_einsum"])
def test_the_make_environment_has(module):
    if os.environ.get("MIRAGE_PARTIAL_ENV") == "1":
        pytest.skip("MIRAGE_PARTIAL_ENV=1: running on a machine without the full stack")
    importlib.import_module(module)
