"""``--netlab-shard I/N``: run only the I-th of N interleaved parts of the collected tests.

A kernel lane can split its tests over several guests (``pytest-macvlan kernel run NAME --guests
N``): a user-mode Linux guest has one CPU, so one guest per core is how a lane uses a machine's
cores. Test ``k`` (in collection order, counting from 0) goes to part ``k % N + 1``: the parts are
disjoint, cover every test, and each takes a share of every file (a file's tests often build
the same topology, so a part of whole files would be uneven). The tests left out are reported as
deselected, as ``-k`` does.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TypeVar

import pytest

T = TypeVar("T")
_SHARD = re.compile(r"^([1-9][0-9]*)/([1-9][0-9]*)$")


def parse(text: str) -> tuple[int, int]:
    """``"I/N"`` as ``(I, N)``, 1 <= I <= N; a :class:`ValueError` saying what is wrong otherwise."""
    m = _SHARD.match(text.strip())
    if m is None or not 1 <= int(m.group(1)) <= int(m.group(2)):
        raise ValueError(f"--netlab-shard {text!r}: expected I/N with 1 <= I <= N, e.g. 1/2")
    return int(m.group(1)), int(m.group(2))


def split(items: Sequence[T], index: int, count: int) -> tuple[list[T], list[T]]:
    """Part ``index`` of ``count`` of ``items`` (item ``k`` is in part ``k % count + 1``), and the rest."""
    keep = [item for k, item in enumerate(items) if k % count == index - 1]
    left = [item for k, item in enumerate(items) if k % count != index - 1]
    return keep, left


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("macvlan")
    group.addoption(
        "--netlab-shard",
        default=None,
        metavar="I/N",
        help="run only part I of N of the collected tests (test k goes to part k %% N + 1); "
        "for a kernel lane split over N guests",
    )


def pytest_configure(config: pytest.Config) -> None:
    text = config.getoption("netlab_shard")
    if text is not None:
        try:
            parse(text)
        except ValueError as exc:
            raise pytest.UsageError(str(exc)) from None


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    text = config.getoption("netlab_shard")
    if text is None:
        return
    keep, left = split(items, *parse(text))
    if left:
        config.hook.pytest_deselected(items=left)
        items[:] = keep
