"""lit configuration for mirage-mlir's FileCheck tests.

Run with `lit -v tests/filecheck` from the repository root (or `make lit`).
Tools are taken from the Python environment lit runs in.  Features:
`torch-mlir`, `triton` when those packages import, `cuda` when a CUDA GPU is
visible to torch; tests say `// REQUIRES: cuda` to run only there.
"""

import importlib.util
import os
import shutil
import subprocess
import sys

import lit.formats

config.name = "mirage-mlir"
config.test_format = lit.formats.ShTest(execute_external=False)
config.suffixes = [".mlir", ".py"]
config.excludes = ["lit.cfg.py", "Inputs"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = config.test_source_root

repo_root = os.path.dirname(os.path.dirname(config.test_source_root))
bin_dir = os.path.dirname(sys.executable)
config.environment["PATH"] = os.pathsep.join(
    [bin_dir, config.environment.get("PATH", os.environ.get("PATH", ""))]
)
for var in ("HOME", "TMPDIR", "XDG_CACHE_HOME", "MIRAGE_CACHE_DIR"):
    if var in os.environ:
        config.environment[var] = os.environ[var]

config.substitutions.append(("%python", sys.executable))
config.substitutions.append(("%examples", os.path.join(repo_root, "examples")))
config.substitutions.append(("%repo", repo_root))

if shutil.which("filecheck", path=config.environment["PATH"]):
    config.substitutions.append(("FileCheck", "filecheck"))


def _has_module(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


# `make test-fast` passes --param fast=1; files that take seconds say `// REQUIRES: full-suite`
# and run only in the full suite (`make test`).
if lit_config.params.get("fast") != "1":
    config.available_features.add("full-suite")

if _has_module("torch_mlir"):
    config.available_features.add("torch-mlir")
if _has_module("triton"):
    config.available_features.add("triton")


def _has_cuda() -> bool:
    if os.environ.get("MIRAGE_NO_CUDA") or not shutil.which("nvidia-smi"):
        return False
    probe = "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"
    return subprocess.run([sys.executable, "-c", probe]).returncode == 0


if _has_cuda():
    config.available_features.add("cuda")
