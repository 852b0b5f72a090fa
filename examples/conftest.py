"""Ported real-world tests (see README.md here): each cites its origin and keeps its assertions."""

from __future__ import annotations

import os

from pytest_macvlan import Netns


def netns_path(ns: Netns) -> str:
    """``Netns.path`` where this version has it; else the same path: the test process's descriptor."""
    path = getattr(ns, "path", None)
    return path if isinstance(path, str) else f"/proc/{os.getpid()}/fd/{ns.fd}"
