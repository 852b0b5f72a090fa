"""Requests to several namespaces, sent in as few batches as their order allows."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pytest_macvlan.kernel.rtnl import Request, RtnlSocket


@dataclass
class Step:
    """One request, the namespace whose socket sends it, and the steps that must come first."""

    netns: str
    req: Request
    after: tuple[int, ...] = ()


def send_in_rounds(sockets: Mapping[str, RtnlSocket], steps: Sequence[Step]) -> None:
    """Send ``steps`` in rounds: in each round, one batch per namespace, in order.

    A step goes in the round of the latest step it follows, or the next one if that step is
    sent from another namespace (it must have been acknowledged before this one is sent).
    """
    rounds: list[int] = []
    batches: dict[tuple[int, str], list[Request]] = {}
    for step in steps:
        r = max((rounds[a] + (steps[a].netns != step.netns) for a in step.after), default=0)
        rounds.append(r)
        batches.setdefault((r, step.netns), []).append(step.req)
    for (_r, name), requests in sorted(batches.items(), key=lambda item: item[0][0]):
        sockets[name].apply_or_raise(requests)
