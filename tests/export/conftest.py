"""Export tests: one torch thread (on the shared 2-core machine two threads oversubscribe)."""
from __future__ import annotations

import pytest


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread_per_module(one_torch_thread):
    """Every export test module runs with tests/conftest.py's one_torch_thread."""
