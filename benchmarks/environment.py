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


def write_results(out, name: str, data: dict, plot) -> None:
    """Write `data` as `<out>/<name>.json` and `plot(data, path)` as `<out>/<name>.png`."""
    import json

    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(data, indent=2) + "\n")
    plot(data, out / f"{name}.png")
    print(f"wrote {out / (name + '.json')} and .png", file=sys.stderr)
