"""The fast tier itself: every module it names exists, so a rename cannot drop one silently."""

from __future__ import annotations

from tests.conftest import FAST, REPO


def test_every_module_of_the_fast_tier_exists() -> None:
    missing = [p for p in FAST if not (REPO / p).exists()]
    assert not missing, f"tests/conftest.py FAST names what is not there: {missing}"
