"""When is a build ready? Every link that should carry has carrier and passes frames, and every
address has finished duplicate address detection. Bounded waits that fail naming what was seen.
"""

from __future__ import annotations

from collections.abc import Callable

from pytest_macvlan.errors import BuildError
from pytest_macvlan.kernel import queries
from pytest_macvlan.kernel.records import Address
from pytest_macvlan.kernel.rtnl import IFF_LOWER_UP, LinkInfo, RtnlSocket
from pytest_macvlan.spec.fragment import Delta
from pytest_macvlan.spec.model import IPInterface, LinkRef, LinkSpec, TopologySpec
from pytest_macvlan.wait import wait_until

READY_TIMEOUT = 5.0
DAD_TIMEOUT = 10.0


class Readiness:
    """The builder's waits. It reads the builder's state (spec, delta, indexes, sockets)."""

    spec: TopologySpec
    delta: Delta
    index: dict[LinkRef, int]
    rtnl: dict[str, RtnlSocket]
    existing: dict[LinkRef, LinkInfo]
    _carrier: dict[LinkRef, bool]
    _ports: dict[LinkRef, list[LinkSpec]] | None

    def touched(self) -> set[str]:
        """The namespaces that get new links or addresses (their DAD is waited for)."""
        return (
            {ns.name for ns in self.delta.netns}
            | {link.netns for link in self.delta.links}
            | {ref.netns for ref, _ in self.delta.addrs}
        )

    def added_addresses(self) -> list[tuple[LinkRef, IPInterface]]:
        """Every address this build adds: those of new links, and those added to existing links."""
        return [(link.ref, a) for link in self.delta.links for a in link.addrs] + list(self.delta.addrs)

    def expects_carrier(self, link: LinkSpec) -> bool:
        """Should ``link`` have carrier once built? Up, and its peer, ports or parent carry (cached)."""
        if link.ref in self.existing:  # it existed before: what it has now is what it has
            return bool(self.existing[link.ref].flags & IFF_LOWER_UP)
        known = self._carrier.get(link.ref)
        if known is None:
            known = self._carrier[link.ref] = self._expects_carrier(link)
        return known

    def _expects_carrier(self, link: LinkSpec) -> bool:
        if not link.up or link.kind == "tap":  # a tap has carrier only while a program holds it
            return False
        if link.kind in ("dummy", "vrf", "vxlan"):
            return True
        if link.kind == "veth":
            assert link.peer is not None
            return self.spec.link(link.peer).up
        if link.kind in ("bridge", "bond"):
            if link.stp:  # its ports listen and learn for 2 x forward_delay (30 s) before it carries
                return False
            if self._ports is None:
                self._ports = {}
                for p in self.spec.links:
                    if p.master is not None:
                        self._ports.setdefault(LinkRef(p.netns, p.master), []).append(p)
            return any(self.expects_carrier(p) for p in self._ports.get(link.ref, []))
        assert link.parent is not None
        return self.expects_carrier(self.spec.link(link.parent))

    def wait_ready(self, which: Callable[[LinkSpec], bool], all_links: bool = False) -> dict[LinkRef, LinkInfo]:
        """Wait (bounded) until the chosen links that should carry are up with carrier and
        operationally up (the kernel has finished bringing them up: their queues pass frames).

        Each probe asks for the links one by one (``RTM_GETLINK``), which makes the kernel finish
        its pending linkwatch work for each first: the first probe normally finds them ready.
        Returns what the last probe said of the chosen links (of every link with ``all_links``).
        """
        want = {link.ref for link in self.delta.links if which(link) and self.expects_carrier(link)}
        asked = [link.ref for link in self.delta.links if all_links or link.ref in want]
        if not asked:
            return {}
        by_netns: dict[str, list[LinkRef]] = {}
        for ref in asked:
            by_netns.setdefault(ref.netns, []).append(ref)

        def probe() -> dict[LinkRef, LinkInfo]:
            infos: dict[LinkRef, LinkInfo] = {}
            for name, refs in by_netns.items():
                got = self.rtnl[name].get_links([self.index[r] for r in refs])
                infos.update({r: got[self.index[r]] for r in refs if self.index[r] in got})
            return infos

        def not_ready(infos: dict[LinkRef, LinkInfo]) -> list[LinkRef]:
            return sorted(r for r in want if r not in infos or not ready(self.spec.link(r), infos[r]))

        def show(infos: dict[LinkRef, LinkInfo]) -> str:
            return ", ".join(
                f"{r} (flags=0x{infos[r].flags:x} operstate={OPERSTATES.get(infos[r].operstate, '?')})"
                if r in infos
                else f"{r} (missing)"
                for r in not_ready(infos)
            )

        infos = probe()
        if not not_ready(infos):
            return infos
        try:
            return wait_until(
                probe,
                lambda infos: not not_ready(infos),
                timeout=READY_TIMEOUT,
                what="links up with carrier",
                show=show,
            )
        except AssertionError as exc:
            raise BuildError(self.spec.entry_of(min(want)), 0, str(exc)) from None

    def wait_dad(self) -> None:
        """With ``ipv6 = true`` (and not ``nodad``), wait (bounded) until duplicate address
        detection has finished on every IPv6 address of the namespaces this build touched; an
        address whose DAD failed (the address is in use elsewhere, or a hairpin or a reflecting
        switch sent the probe back) fails the build, naming it."""
        names = sorted({ns.name for ns in self.spec.netns if ns.ipv6 and not ns.nodad} & set(self.touched()))
        if not names:
            return
        entries = {(ref.netns, a.ip): self.spec.entry_of(ref) for ref, a in self.added_addresses()}

        def probe() -> dict[str, list[Address]]:
            return {name: queries.addresses(self.rtnl[name], version=6) for name in names}

        def pending(found: dict[str, list[Address]]) -> list[str]:
            return [f"{name}: {a}" for name, addrs in found.items() for a in addrs if a.tentative]

        try:
            found = wait_until(
                probe,
                lambda f: not pending(f),
                timeout=DAD_TIMEOUT,
                what="IPv6 duplicate address detection",
                show=lambda f: ", ".join(pending(f)),
            )
        except AssertionError as exc:
            raise BuildError(f"netns.{names[0]}", 0, str(exc)) from None
        for name, addrs in found.items():
            for a in addrs:
                if a.dadfailed:
                    entry = entries.get((name, a.address), f"netns.{name}")
                    link = next((r for r, i in self.index.items() if r.netns == name and i == a.index), None)
                    where = f" on {link}" if link else ""
                    raise BuildError(
                        f"{entry}.addr ({a.interface})",
                        98,
                        f"IPv6 duplicate address detection failed for {a.interface}{where}: another node answered "
                        "for it, or the probe came back (a hairpin or a reflecting switch); "
                        "set nodad = true on the namespace to skip DAD",
                    )


OPERSTATES = {0: "UNKNOWN", 1: "NOTPRESENT", 2: "DOWN", 3: "LOWERLAYERDOWN", 4: "TESTING", 5: "DORMANT", 6: "UP"}

IF_OPER_UP = 6


def ready(spec: LinkSpec, info: LinkInfo) -> bool:
    """Can ``spec`` pass frames? It needs carrier; a veth end that was opened before its peer
    also needs the kernel's linkwatch to have run for it (it activates the queue and sets the
    operstate together). Bridges and stacked links are created or opened with carrier already
    there, so their queue is active at once; their operstate follows late and does not matter.
    """
    if not info.flags & IFF_LOWER_UP:
        return False
    return spec.kind != "veth" or info.operstate == IF_OPER_UP
