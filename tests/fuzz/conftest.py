"""Fuzz-run plumbing: the number of programs per fuzzer, and saving failing cases.

Writes the reproducer of each failing fuzz test under tests/regressions/ (MIRAGE_FUZZ_SAVE=1).
"""

import math
import os

import pytest

import fuzz_support


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """After a failed test call, save the minimal case its last failing example left."""
    outcome = yield
    report = outcome.get_result()
    writer = fuzz_support.PENDING.pop(item.originalname or item.name, None)
    if report.when == "call" and report.failed and writer is not None:
        if os.environ.get("MIRAGE_FUZZ_SAVE") == "1":
            path = writer(fuzz_support.REGRESSIONS)
            report.sections.append(("fuzz reproducer", f"saved {path}"))


def pytest_collection_modifyitems(config, items):
    """Mark the fuzzers slow; under `make fuzz N=...`, spread N programs evenly over them.

    MIRAGE_FUZZ_PROGRAMS is the total the user asked for; each collected fuzz test gets
    ceil(N / fuzzers) examples (hypothesis may stop a fuzzer earlier when its space is exhausted).
    """
    # The seeded fuzz run takes seconds per fuzzer: in `make test`, not in `make test-fast`.
    here = os.path.dirname(os.path.abspath(__file__))
    for item in items:
        if str(item.path).startswith(here + os.sep):
            item.add_marker(pytest.mark.slow)
    total = os.environ.get("MIRAGE_FUZZ_PROGRAMS")
    fuzzers = [item for item in items if hasattr(item.obj, "_hypothesis_internal_use_settings")]
    if not total or not fuzzers:
        return
    from hypothesis import settings

    each = max(1, math.ceil(int(total) / len(fuzzers)))
    for item in fuzzers:
        test = item.obj
        test._hypothesis_internal_use_settings = settings(
            test._hypothesis_internal_use_settings, max_examples=each
        )
