"""One claim of each verdict, for the claims report's tests."""

from __future__ import annotations

import pytest


@pytest.mark.claim("the default mode is vepa")
def test_holds() -> None:
    pass


@pytest.mark.claim("each frame appears twice", differs="once in each direction")
def test_differs() -> None:
    pass


@pytest.mark.claim("two private macvlans talk")
def test_fails() -> None:
    assert 1 + 1 == 3, "the kernel disagrees"


@pytest.mark.claim("VLAN 12 sees nothing")
def test_skipped() -> None:
    pytest.skip("kernel lacks 8021q: no VLANs here")


@pytest.mark.claim("named scenario", scenario="general")
@pytest.mark.parametrize("variant", ["plain", "vlan"])
def test_param(variant: str) -> None:
    pass


def test_not_a_claim() -> None:
    pass
