"""Hypothesis profiles for the whole suite.

`HYPOTHESIS_PROFILE=ci` (the default) runs every property test on a small, derandomized set
of examples, so the suite is deterministic and fast; `HYPOTHESIS_PROFILE=fuzz` (what
`make fuzz` selects) runs `MIRAGE_FUZZ_EXAMPLES` examples per property test, seeded by
pytest's `--hypothesis-seed`.
"""

import os

from hypothesis import HealthCheck, Phase, settings

# MIRAGE_FUZZ_SHRINK=0 reports the first failing example as found, without shrinking it.
PHASES = [p for p in Phase if os.environ.get("MIRAGE_FUZZ_SHRINK") != "0" or p != Phase.shrink]

settings.register_profile(
    "ci",
    max_examples=10,
    deadline=None,
    derandomize=True,
    database=None,
    phases=PHASES,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "fuzz",
    max_examples=int(os.environ.get("MIRAGE_FUZZ_EXAMPLES", "200")),
    deadline=None,
    database=None,
    phases=PHASES,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def pytest_collection_modifyitems(config, items):
    """Skip `cuda` tests where torch sees no CUDA device."""
    import pytest

    cuda_tests = [item for item in items if item.get_closest_marker("cuda")]
    if not cuda_tests:
        return
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in cuda_tests:
        item.add_marker(skip)
