"""The marks every Medusa test module carries: ``pytestmark = MEDUSA_TESTS``.

A module of its own, not conftest.py: tests/ has a conftest.py too, and ``from conftest
import`` would find whichever was imported first.
"""

from __future__ import annotations

import pytest

MEDUSA_TESTS = [
    pytest.mark.medusa,
    # The first test pays for the server's start (10-25 s warm; a cold cache installs
    # Medusa first, which .ci/run does before pytest so that this stays rare).
    pytest.mark.timeout(900),
]
