"""Fixtures shared by the lowering tests."""

import os

import pytest


@pytest.fixture(scope="session")
def triton_cache(tmp_path_factory):
    """A fresh compile cache for the session: every kernel really compiles, once."""
    saved = os.environ.get("MIRAGE_CACHE_DIR")
    os.environ["MIRAGE_CACHE_DIR"] = str(tmp_path_factory.mktemp("triton-cache"))
    yield
    if saved is None:
        os.environ.pop("MIRAGE_CACHE_DIR")
    else:
        os.environ["MIRAGE_CACHE_DIR"] = saved
