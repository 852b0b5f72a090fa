"""One claim of each verdict, for the claims report's tests."""

from __future__ import annotations

import pytest


@pytest.mark.claim("the default mode is vepa", article="L17", quote="VEPA(default mode)", gloss="vepa is the default")
def test_holds() -> None:
    pass


@pytest.mark.claim(
    "each frame appears twice", article="L313", quote="双份", gloss="two copies", precisely="once in each direction"
)
def test_precisely() -> None:
    pass


@pytest.mark.claim(
    "only ARP is blocked",
    article="L745",
    quote="arp广播报文",
    gloss="ARP broadcasts",
    differs="the article: only ARP; the kernel: every broadcast",
)
def test_differs() -> None:
    pass


@pytest.mark.claim("two private macvlans talk", article="L743", quote="通了", gloss="it works")
def test_fails() -> None:
    assert 1 + 1 == 3, "the kernel disagrees"


@pytest.mark.claim("VLAN 12 sees nothing", article="L358", quote="都没有抓到", gloss="caught nothing")
def test_skipped() -> None:
    pytest.skip("kernel lacks 8021q: no VLANs here")


@pytest.mark.claim("named scenario", scenario="general", source="beyond the article")
@pytest.mark.parametrize("variant", ["plain", "vlan"])
def test_param(variant: str) -> None:
    pass


def test_not_a_claim() -> None:
    pass
