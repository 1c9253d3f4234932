"""The machine, package versions and command recorded with every benchmark result."""

from __future__ import annotations

import os
import platform
import sys
from importlib.metadata import PackageNotFoundError, version

PACKAGES = ("mirage-mlir", "egglog", "xdsl", "torch", "torch-mlir", "triton", "numpy", "scipy", "opt-einsum")


def environment() -> dict:
    """What a reader needs to reproduce a figure: machine, versions and the command run."""
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = None
    return {
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
        },
        "versions": versions,
        "command": " ".join([os.path.basename(sys.executable), *sys.argv]),
    }
