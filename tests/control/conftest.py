from __future__ import annotations

import pytest
from control_spec import make_spec


@pytest.fixture
def spec():
    return make_spec()
