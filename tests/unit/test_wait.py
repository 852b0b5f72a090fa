"""Every deadline is checked in one place (``pytest_macvlan.wait``), and no wait can hang.

Issue 12, item 4: NaN deadlines spun a CPU forever, ``inf`` or ``1e300`` raised OverflowError
from deep inside. Now any deadline that is not a finite number of seconds between 0 and
``MAX_TIMEOUT`` is a ValueError naming the wait, raised before anything waits.
"""

from __future__ import annotations

import math
import socket
import sys
import time
import tomllib
from pathlib import Path
from typing import Any

import pytest

import pytest_macvlan
from pytest_macvlan import MAX_TIMEOUT, WaitTimeout, wait_until
from pytest_macvlan.capture.sniffer import Capture
from pytest_macvlan.wait import check_timeout

BAD = [math.nan, -math.nan, math.inf, -math.inf, 1e300, 2**70, -1, -0.001, None, "1", True, b"1", MAX_TIMEOUT + 1]


@pytest.mark.parametrize("bad", BAD, ids=repr)
def test_a_deadline_that_is_not_a_finite_number_of_seconds_is_refused(bad: Any) -> None:
    with pytest.raises(ValueError, match=r"my wait: the deadline \(timeout\)"):
        check_timeout(bad, "my wait")


@pytest.mark.parametrize("bad", BAD, ids=repr)
def test_wait_until_refuses_it_before_asking_anything(bad: Any) -> None:
    asked = []
    with pytest.raises(ValueError, match="deadline"):
        wait_until(lambda: asked.append(1), bad, what="x")
    assert asked == []


@pytest.mark.parametrize("bad", [math.nan, math.inf, 1e300, -1], ids=repr)
def test_capture_waits_refuse_it_at_once(bad: float) -> None:
    a, b = socket.socketpair()
    with a, b:
        cap = Capture("t/x", a)
        start = time.monotonic()
        for call in (
            lambda: cap.wait_for(timeout=bad),
            lambda: cap.assert_none(within=bad),
            lambda: cap.assert_count(None, 1, within=bad),
            lambda: cap.assert_count(None, 1, timeout=bad),
        ):
            with pytest.raises(ValueError, match="t/x"):
                call()
        assert time.monotonic() - start < 1


def test_zero_asks_once_and_a_good_deadline_is_a_float() -> None:
    asked = []
    with pytest.raises(WaitTimeout, match="nothing: not reached within 0s; last seen: 0"):
        wait_until(lambda: len(asked.append(1) or ()), 0, what="nothing")  # type: ignore[func-returns-value]
    assert asked == [1]
    assert check_timeout(2, "w") == 2.0 and check_timeout(MAX_TIMEOUT, "w") == MAX_TIMEOUT
    with pytest.raises(ValueError, match="> 0"):
        check_timeout(0, "w", positive=True)


def test_both_forms_return_what_was_seen() -> None:
    values = iter(range(100))
    assert wait_until(lambda: next(values) >= 3, 5, what="count") is True
    values = iter(range(100))
    assert wait_until(lambda: next(values), lambda v: v >= 3, timeout=5, what="count") == 3
    with pytest.raises(WaitTimeout, match=r"never: not reached within 0.05s; last seen: <\d+>"):
        wait_until(lambda: 0, lambda v: False, timeout=0.05, what="never", show=lambda v: f"<{v}>")
    with pytest.raises(TypeError, match="twice"):
        wait_until(lambda: 1, 1.0, timeout=1.0)  # type: ignore[call-overload]


def test_the_wait_is_bounded_and_backs_off() -> None:
    asked = []
    start = time.monotonic()
    with pytest.raises(WaitTimeout):
        wait_until(lambda: asked.append(time.monotonic()), lambda v: False, timeout=0.3, what="x")
    took = time.monotonic() - start
    assert 0.3 <= took < 0.6
    assert 5 < len(asked) < 60, "pauses grow from 0.5 ms to 50 ms"


def test_wait_until_is_public_and_tenacity_is_gone() -> None:
    assert pytest_macvlan.wait_until is wait_until and "wait_until" in pytest_macvlan.__all__
    pyproject = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    assert not any(d.startswith("tenacity") for d in pyproject["project"]["dependencies"])
    assert "tenacity" not in sys.modules or not hasattr(sys.modules["pytest_macvlan.wait"], "Retrying")
