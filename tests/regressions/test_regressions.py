"""Replays every saved fuzzing reproducer in this folder.

Two kinds of case, both written by the fuzzers' failure hook (tests/fuzz/conftest.py) or by
hand in the same form:

* `<name>.mlir` + `<name>.npz`: an imported program, its inputs (`input0`, ...) and torch's
  float64 results (`expected0`, ...). Comment lines at the top give `// target: ...` and,
  while the bug is open, `// xfail: <reason>`. The replay optimises the module for the target,
  runs it with the NumPy semantics and compares (atol 1e-4 + rtol 1e-4).
* `<name>.py`: a term graph (`build()`), its `TARGET` and `XFAIL` (a reason, or None), and
  optionally `LIMITS` (keyword arguments of Limits) and `MAX_SECONDS` (a wall-time bound). The replay optimises the graph and
  compares both graphs in float64 (and the time bound of tests/fuzz/fuzz_support.py).

A case with an xfail reason runs as xfail(strict=True): when the bug is fixed, the replay
passes, the suite fails, and the reason line must go.
"""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "fuzz"))

import fuzz_support  # noqa: E402  (tests/fuzz is not a package)


def _header(text: str) -> dict[str, str]:
    fields = {}
    for line in text.splitlines():
        if not line.startswith("//"):
            break
        key, _, value = line[2:].strip().partition(":")
        fields[key.strip()] = value.strip()
    return fields


def _graph_case(path: Path):
    spec = importlib.util.spec_from_file_location(f"regression_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _cases():
    params = []
    for path in sorted(HERE.glob("*.mlir")):
        reason = _header(path.read_text()).get("xfail")
        marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
        params.append(pytest.param(path, marks=marks, id=path.name))
    for path in sorted(HERE.glob("*.py")):
        if path.name.startswith("test_"):
            continue
        reason = _graph_case(path).XFAIL
        marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
        params.append(pytest.param(path, marks=marks, id=path.name))
    return params


@pytest.mark.parametrize("path", _cases())
def test_regression(path: Path):
    if path.suffix == ".mlir":
        text = path.read_text()
        target = _header(text).get("target", "h100")
        data = np.load(path.with_suffix(".npz"))
        inputs = [data[f"input{i}"] for i in range(len([k for k in data if k.startswith("input")]))]
        expected = [data[f"expected{i}"] for i in range(len([k for k in data if k.startswith("expected")]))]
        actual = fuzz_support.optimize_and_run(text, target, inputs)
        fuzz_support.assert_close(
            actual, expected, fuzz_support.F32_ATOL, fuzz_support.F32_RTOL, path.name
        )
    else:
        from mirage_mlir.passes.eqsat.saturate import Limits

        case = _graph_case(path)
        limits = Limits(**getattr(case, "LIMITS", {}))
        start = time.perf_counter()
        fuzz_support.check_graph(case.build(), case.TARGET, limits=limits)
        elapsed = time.perf_counter() - start
        bound = getattr(case, "MAX_SECONDS", None)
        assert bound is None or elapsed <= bound, f"took {elapsed:.1f} s, over {bound} s"
