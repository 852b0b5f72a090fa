"""The one place that validates interface and namespace names and parses ``ns/link`` references."""

from __future__ import annotations

import re

IFNAMSIZ = 16  # the kernel's buffer, including the terminating NUL
MAX_IFNAME_BYTES = IFNAMSIZ - 1
_NETNS_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}")  # re.fullmatch: `$` matches before a "\n"


def ifname_problem(name: object) -> str | None:
    """Why ``name`` cannot be a Linux interface name, or None if it can.

    The kernel's rules (``dev_valid_name``): 1 to 15 bytes, not ``.`` or ``..``, no ``/``,
    ``:`` or whitespace. We also refuse control characters and anything a shell would
    interpret, so a name can never be more than a name.
    """
    if not isinstance(name, str):
        return f"interface name must be a string, not {type(name).__name__}"
    if not name:
        return "interface name is empty"
    raw = name.encode("utf-8", "surrogatepass")
    if len(raw) > MAX_IFNAME_BYTES:
        return f"interface name {name!r} is {len(raw)} bytes; the kernel allows at most {MAX_IFNAME_BYTES}"
    if name in (".", ".."):
        return f"interface name {name!r} is reserved"
    for ch in name:
        if ch in "/:" or ch.isspace():
            return f"interface name {name!r} contains {ch!r} ('/', ':' and whitespace are not allowed)"
        if not ch.isprintable():
            return f"interface name {name!r} contains a control character"
        if ch in "\"'`$\\;&|<>*?()[]{}!#~%":
            return f"interface name {name!r} contains shell metacharacter {ch!r}"
    return None


def netns_name_problem(name: object) -> str | None:
    """Why ``name`` cannot name a namespace of a spec, or None if it can.

    Letters, digits, ``_``, ``.`` and ``-``, at most 32 characters, not starting with
    ``.`` or ``-``: safe as a path component and in a shell word.
    """
    if not isinstance(name, str):
        return f"namespace name must be a string, not {type(name).__name__}"
    if not _NETNS_NAME.fullmatch(name):
        return (
            f"namespace name {name!r} is not allowed (1-32 of letters, digits, '_', '.', '-', "
            "not starting with '.' or '-')"
        )
    return None


def split_ref(ref: str, default_netns: str) -> tuple[str, str]:
    """Split ``"ns/name"`` (or plain ``"name"`` in ``default_netns``) into its two parts."""
    if "/" in ref:
        netns, _, name = ref.partition("/")
        return netns, name
    return default_netns, ref
