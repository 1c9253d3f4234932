"""Every Python package of the project is listed in pyproject.toml.

An editable install (`pip install -e .`) imports sub-packages that are not listed, so a
missing entry passes every test here and breaks `pip install .` (the sub-package is left out
of the wheel).
"""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SKIPPED = {"tests", "benchmarks", "build", ".venv"}


def test_every_package_with_an_init_is_listed() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    listed = set(config["tool"]["setuptools"]["packages"])
    found = {"mirage_mlir"}
    for init in ROOT.rglob("__init__.py"):
        relative = init.parent.relative_to(ROOT)
        if not relative.parts or relative.parts[0] in SKIPPED or relative.parts[0].startswith("."):
            continue
        if any(part.endswith(".egg-info") or part == "__pycache__" for part in relative.parts):
            continue
        found.add(".".join(("mirage_mlir",) + relative.parts))
    assert found - listed == set(), "packages missing from pyproject.toml"
    assert listed - found == set(), "pyproject.toml lists packages that do not exist"
