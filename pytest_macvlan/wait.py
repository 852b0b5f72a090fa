"""Bounded waiting, in one place: every deadline of the package is checked by :func:`check_timeout`
and every wait for a condition is :func:`wait_until`. Never a bare sleep, never a hang.

A deadline must be a finite number of seconds, ``0 <= timeout <= MAX_TIMEOUT``; anything else
(``None``, ``nan``, ``inf``, ``1e300``, a negative number, a string, a boolean) is a
:class:`ValueError` naming the wait, raised before anything waits.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any, TypeVar, overload

from pytest_macvlan.errors import WaitTimeout

T = TypeVar("T")

#: The longest deadline any wait accepts, in seconds (one hour).
MAX_TIMEOUT = 3600.0
_FIRST_PAUSE = 0.0005
_MAX_PAUSE = 0.05


def check_timeout(timeout: object, what: str = "wait", *, positive: bool = False) -> float:
    """``timeout`` as a float, or :class:`ValueError` saying why it is not a usable deadline.

    ``positive``: zero is refused too (a wait that must give its condition a chance).
    """
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise ValueError(f"{what}: the deadline (timeout) must be a number of seconds, not {timeout!r}")
    value = float(timeout) if not isinstance(timeout, int) or abs(timeout) < 2**63 else math.inf
    if math.isnan(value):
        raise ValueError(f"{what}: the deadline (timeout) is NaN; give a number of seconds (0 to {MAX_TIMEOUT:g})")
    if value < 0 or (positive and value == 0):
        bound = "> 0" if positive else ">= 0"
        raise ValueError(f"{what}: the deadline (timeout) must be {bound} seconds, not {timeout!r}")
    if value > MAX_TIMEOUT:
        raise ValueError(f"{what}: the deadline (timeout) {timeout!r} s is over the maximum, {MAX_TIMEOUT:g} s")
    return value


@overload
def wait_until(
    condition: Callable[[], T],
    timeout: float,
    *,
    what: str = ...,
    show: Callable[[T], str] = ...,
    pause: Callable[[float], object] = ...,
) -> T: ...


@overload
def wait_until(
    condition: Callable[[], T],
    ok: Callable[[T], bool],
    *,
    timeout: float,
    what: str = ...,
    show: Callable[[T], str] = ...,
    pause: Callable[[float], object] = ...,
) -> T: ...


def wait_until(  # type: ignore[misc]  # the second argument is either of the overloads'
    condition: Callable[[], Any],
    ok_or_timeout: Callable[[Any], bool] | float | None = None,
    *,
    timeout: float | None = None,
    what: str = "condition",
    show: Callable[[Any], str] = repr,
    pause: Callable[[float], object] = time.sleep,
) -> Any:
    """Call ``condition()`` until it says the wait is over, for at most ``timeout`` seconds.

    ``wait_until(condition, timeout, what="...")``: until ``condition()`` returns a true value,
    which is returned. ``wait_until(probe, ok, timeout=..., what="...")``: until ``ok(probe())``;
    the probed value is returned. The condition is asked at once, then after pauses growing from
    0.5 ms to 50 ms (monotonic clock), and once more at the deadline.

    Raises :class:`~pytest_macvlan.errors.WaitTimeout` naming ``what`` and showing the last value
    seen (through ``show``), or :class:`ValueError` for a deadline that is not finite, negative,
    or over :data:`MAX_TIMEOUT`. ``pause(seconds)`` waits between two probes (``time.sleep``; a
    capture waits on its socket instead, and returns as soon as a frame arrives).
    """
    if callable(ok_or_timeout):
        ok: Callable[[Any], bool] = ok_or_timeout
    else:
        if ok_or_timeout is not None:
            if timeout is not None:
                raise TypeError("wait_until: timeout given twice")
            timeout = ok_or_timeout
        ok = bool
    limit = check_timeout(timeout, f"wait_until ({what})")
    deadline = time.monotonic() + limit
    step, pause_for = _FIRST_PAUSE, pause
    while True:
        value = condition()
        if ok(value):
            return value
        left = deadline - time.monotonic()
        if left <= 0:
            raise WaitTimeout(f"{what}: not reached within {limit:g}s; last seen: {show(value)}")
        pause_for(min(step, left))
        step = min(step * 2, _MAX_PAUSE)
