"""Progress of a long compile on stderr: shown on a terminal once the compile has taken more
than `DELAY_S`, always with `verbose=True` (or MIRAGE_VERBOSE=1), never with `verbose=False`
(or MIRAGE_VERBOSE=0) or when stderr is not a terminal.

    [mirage] optimize: region 3/7 searched (2.4 s)
"""

from __future__ import annotations

import os
import sys
import time
from typing import TextIO

__all__ = ["DELAY_S", "Progress"]

#: A compile shorter than this shows nothing unless asked to.
DELAY_S = 2.0


class Progress:
    """Where a compile is, said as it goes (see the module docstring)."""

    def __init__(
        self, verbose: bool | None = None, stream: TextIO | None = None
    ) -> None:
        self.stream = stream if stream is not None else sys.stderr
        if verbose is None:
            setting = os.environ.get("MIRAGE_VERBOSE")
            if setting is not None:
                verbose = setting not in ("", "0")
        if verbose is None:
            isatty = getattr(self.stream, "isatty", None)
            self.mode = "auto" if isatty is not None and isatty() else "never"
        else:
            self.mode = "always" if verbose else "never"
        self.start = time.perf_counter()

    @property
    def verbose(self) -> bool:
        """Whether every message is shown (not only those after DELAY_S)."""
        return self.mode == "always"

    def __call__(self, message: str) -> None:
        if self.mode == "never":
            return
        elapsed = time.perf_counter() - self.start
        if self.mode == "auto" and elapsed < DELAY_S:
            return
        print(f"[mirage] {message} ({elapsed:.1f} s)", file=self.stream, flush=True)

    def regions(self, stage: str):
        """A callback for `optimize_by_regions`: distinct regions searched so far."""

        def report(done: int, total: int) -> None:
            self(f"{stage}: region {done}/{total} searched")

        return report
