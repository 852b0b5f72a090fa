"""Bounded waiting for a condition (tenacity), failing with what was seen. Never a bare sleep."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from tenacity import Retrying, retry_if_result, stop_after_delay, wait_exponential

from pytest_macvlan.errors import WaitTimeout

T = TypeVar("T")


def wait_until(
    probe: Callable[[], T], ok: Callable[[T], bool], *, timeout: float, what: str, show: Callable[[T], str] = repr
) -> T:
    """Call ``probe`` until ``ok(value)`` or ``timeout`` seconds pass; return the value.

    Raises :class:`WaitTimeout` naming ``what`` and showing the last value seen.
    """
    if not timeout or timeout <= 0:
        raise ValueError("every wait needs a positive timeout")
    retrying = Retrying(
        stop=stop_after_delay(timeout),
        wait=wait_exponential(multiplier=0.0005, max=0.05),
        retry=retry_if_result(lambda v: not ok(v)),
        retry_error_callback=lambda state: state.outcome.result() if state.outcome else None,
    )
    value: T = retrying(probe)
    if not ok(value):
        raise WaitTimeout(f"{what}: not reached within {timeout:g}s; last seen: {show(value)}")
    return value
