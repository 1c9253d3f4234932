"""Which variant of a launch runs: timing on the GPU once, and the on-disk choice cache.

A launch in a plan may list variants (see `lowering.artifact`).  The first
time a `GpuPlan` runs such a launch it times every variant on the real
buffers and keeps the fastest; the choice is written to
`<mirage cache>/autotune/<key>.json`, where the key hashes the variants'
TTIR and options, the arguments' shapes and dtypes, the device's name and
Triton's version, so a later process (or a later load) reads the choice
and times nothing.  `MIRAGE_AUTOTUNE=0` turns timing off: launches run
their default (first) variant.

This module needs the standard library only; `time_variants` imports triton.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from pathlib import Path
from typing import Any, Callable, Sequence

__all__ = ["CHOICE_FORMAT", "autotune_enabled", "choice_key", "read_choice", "time_variants",
           "write_choice"]

#: The version of a choice file; other versions are ignored (and re-timed).
CHOICE_FORMAT = 1

#: Milliseconds of warm-up and of measurement per variant (triton.testing.do_bench).
WARMUP_MS = 2
MEASURE_MS = 8


def autotune_enabled(requested: bool | None = None) -> bool:
    """Whether to time variants: `requested` if given, else `$MIRAGE_AUTOTUNE` (default on)."""
    if requested is not None:
        return requested
    return os.environ.get("MIRAGE_AUTOTUNE", "1").strip().lower() not in ("0", "false", "off", "no")


def choice_key(variants: Sequence[tuple[str, dict[str, Any], Sequence[int]]],
               arguments: Sequence[tuple[Sequence[int], str]], device: str,
               triton_version: str) -> str:
    """The cache key of one launch's choice.

    `variants` are (TTIR text, compile options, grid) in plan order;
    `arguments` the (shape, dtype) of each kernel argument.
    """
    document = {
        "variants": [[hashlib.sha256(text.encode()).hexdigest(),
                      sorted(options.items()), list(grid)] for text, options, grid in variants],
        "arguments": [[list(shape), dtype] for shape, dtype in arguments],
        "device": device,
        "triton": triton_version,
    }
    return hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()


def _choice_file(cache: Path, key: str) -> Path:
    return cache / "autotune" / f"{key}.json"


def read_choice(cache: Path, key: str, count: int) -> int | None:
    """The cached variant index for `key`, or None if absent, unreadable or out of range."""
    try:
        document = json.loads(_choice_file(cache, key).read_text())
    except (OSError, ValueError):
        return None
    choice = document.get("choice") if isinstance(document, dict) else None
    if document.get("format") != CHOICE_FORMAT or not isinstance(choice, int) or \
            not 0 <= choice < count:
        return None
    return choice


def write_choice(cache: Path, key: str, choice: int, times_ms: Sequence[float],
                 details: dict[str, Any] | None = None) -> Path:
    """Record `choice` (and every variant's time) under `key`; atomic against other writers."""
    path = _choice_file(cache, key)
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {"format": CHOICE_FORMAT, "choice": choice, "times_ms": list(times_ms),
                **(details or {})}
    partial = path.with_suffix(f".{os.getpid()}.partial")
    partial.write_text(json.dumps(document, indent=1))
    partial.replace(path)
    return path


def time_variants(launchers: Sequence[Callable[[], Any]]) -> list[float]:
    """Each launcher's time in milliseconds (median of do_bench's runs).

    A variant the GPU cannot run (more shared memory than it has: Triton
    raises `OutOfResources` when the kernel is first loaded) takes infinity.
    """
    from triton.runtime.errors import OutOfResources
    from triton.testing import do_bench

    times = []
    for launch in launchers:
        try:
            times.append(float(do_bench(launch, warmup=WARMUP_MS, rep=MEASURE_MS,
                                        return_mode="median")))
        except OutOfResources:
            times.append(math.inf)
    return times
