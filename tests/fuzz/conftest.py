"""Writes the reproducer of each failing fuzz test under tests/regressions/ (MIRAGE_FUZZ_SAVE=1)."""

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
