"""What a failing network test leaves for its user to look at.

- A failing test's report gets a diagram of each of its topologies and a section per capture:
  the frames, one ``tcpdump -e -n`` style line each, and the path of a pcapng file of them
  (``--pcap-dir``, default under pytest's basetemp; ``--keep-pcaps`` for passing tests too).
  The pcap paths are also ``user_properties`` (JUnit XML ``<property>`` elements).
- It also gets a section per program the test started with ``Netns.spawn``: its command line,
  its exit status (or that it still runs), and the last characters of its stdout and stderr.
- ``--keep-topology`` (failed tests) / ``--keep-topology=always``: at teardown, the
  ``pytest_macvlan_teardown`` hook gives the topologies' namespaces names in ``/run/netns``
  (:mod:`pytest_macvlan.keep`); the end of the run says how to enter and remove each.

Registered through ``pytest_plugins`` in ``pytest_macvlan/__init__.py``.
"""

from __future__ import annotations

import itertools
import re
import sys
import tempfile
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from pytest_macvlan.plugin.config import Config
from pytest_macvlan.plugin.core import LAB_KEY, REPORTS_KEY

if TYPE_CHECKING:
    from pytest_macvlan.capture.sniffer import Capture
    from pytest_macvlan.kernel.processes import Process
    from pytest_macvlan.topology import keep
    from pytest_macvlan.topology.handles import Topology
    from pytest_macvlan.topology.lab import NetLab

KEPT_PROPERTY = "pytest-macvlan kept"
PCAP_PROPERTY = "pytest-macvlan pcap"
PCAP_SUBDIR = "pytest-macvlan-pcaps"
PROGRAM_TAIL = 4000  # characters of each output stream a failing test's report shows
_PCAPS_KEY = pytest.StashKey[list[str]]()
_TMP_KEY = pytest.StashKey[pytest.TempPathFactory]()


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(Debugging(config), "pytest-macvlan-debugging")


@pytest.fixture(scope="session", autouse=True)
def _pytest_macvlan_tmp_path_factory(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Lets the report hooks find pytest's basetemp (nothing is created until a pcap is written)."""
    request.config.stash[_TMP_KEY] = tmp_path_factory


def _labs(item: pytest.Item) -> Iterator[NetLab]:
    """The labs whose topologies ``item`` can see: its own and those of wider-scoped fixtures."""
    for node in item.listchain():
        lab = node.stash.get(LAB_KEY, None)
        if lab is not None:
            yield lab


def dirname_of(nodeid: str) -> str:
    """A directory name for a test: its node id with anything unusual replaced by ``_``."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", nodeid).strip("_.") or "test"
    return name[:120]


def pcap_name(label: str, taken: set[str]) -> str:
    """``ns1/macvl1`` -> ``ns1_macvl1.pcapng`` (``_2``, ``_3`` ... when taken)."""
    stem = label.replace("/", "_")
    name, k = f"{stem}.pcapng", 1
    while name in taken:
        k += 1
        name = f"{stem}_{k}.pcapng"
    taken.add(name)
    return name


def program_report(p: Process) -> str:
    """What a failing test's report shows of a program it started: status, stdout, stderr (tails)."""
    status = "still running" if p.returncode is None else f"exited with {p.returncode}"
    parts = [f"argv: {p.argv}\npid: {p.pid}, {status}"]
    for name, text in (("stdout", p.stdout), ("stderr", p.stderr)):
        cut = f"(last {PROGRAM_TAIL} of {len(text)} characters)\n" if len(text) > PROGRAM_TAIL else ""
        parts.append(f"-- {name} {cut}\n{text[-PROGRAM_TAIL:]}".rstrip())
    return "\n".join(parts)


class Debugging:
    """The per-run state: the run id, what has been kept, which tests failed."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self._run: str | None = None
        self._numbers = itertools.count(1)
        self.kept: dict[str, keep.Kept] = {}
        self.reported: list[str] = []  # kept ids seen in reports (from xdist workers, too)
        self.failed: set[str] = set()

    @property
    def run(self) -> str:
        """This run's id, made when first needed (importing ``keep`` costs start-up time)."""
        if self._run is None:
            from pytest_macvlan.topology import keep

            self._run = keep.new_run_id()
        return self._run

    @property
    def settings(self) -> Config:
        return self.config.stash[Config.KEY]

    # -- the failure report --------------------------------------------------------------

    def pcap_dir(self, item: pytest.Item) -> Path:
        """Where ``item``'s pcap files go: ``--netlab-pcap-dir`` (or its ini key), else pytest's temp dir."""
        base = self.settings.pcap_dir
        if base is None:
            factory = self.config.stash.get(_TMP_KEY, None)
            tmp = factory.getbasetemp() if factory is not None else Path(tempfile.gettempdir())
            base = tmp / PCAP_SUBDIR
        return base / dirname_of(item.nodeid)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        # Here, in the call (or setup) phase, the captures are still open, and the teardown
        # report, which junitxml takes user_properties from, is yet to be made.
        if report.when in ("setup", "call"):
            try:
                self._add_debugging_info(item, report)
            except Exception as exc:  # never lose the test's own report over this
                report.sections.append(("pytest-macvlan", f"could not add captures and diagram: {exc!r}"))
        return report

    def _add_debugging_info(self, item: pytest.Item, report: pytest.TestReport) -> None:
        topologies: list[Topology] = [t for lab in _labs(item) for t in lab.topologies]
        if not topologies:
            return
        failed = report.failed
        if not failed and not (self.settings.keep_pcaps and report.when == "call" and report.passed):
            return
        if failed:
            from pytest_macvlan.topology.diagram import live_of, render

            for topo in topologies:
                live = live_of(topo) if not topo.closed else None
                report.sections.append((f"pytest-macvlan topology {topo.spec.source}", render(topo.spec, live)))
                for p in topo.processes:
                    report.sections.append((f"pytest-macvlan program {p.label}", program_report(p)))
        captures: list[Capture] = [c for t in topologies for c in t.captures]
        if not captures:
            return
        where = self.pcap_dir(item)
        taken: set[str] = set()
        written = item.stash.setdefault(_PCAPS_KEY, [])
        for cap in captures:
            path = str(cap.write_pcap(where / pcap_name(cap.label, taken)))
            written.append(path)
            item.user_properties.append((f"{PCAP_PROPERTY} {cap.label}", path))
            if failed:
                body = f"pcap: {path}\n{cap.summary()}"
                report.sections.append((f"pytest-macvlan captures: {cap.label}", body))

    # -- keeping topologies --------------------------------------------------------------

    def _failed(self, node: pytest.Item | pytest.Collector) -> bool:
        if isinstance(node, pytest.Item):
            return any(r.failed for r in node.stash.get(REPORTS_KEY, {}).values())
        prefix = node.nodeid  # a wider-scoped lab: did any test under this node fail?
        return any(not prefix or n.startswith((prefix + "::", prefix + "/")) for n in self.failed)

    @pytest.hookimpl
    def pytest_macvlan_teardown(self, node: pytest.Item | pytest.Collector, lab: NetLab) -> None:
        mode = self.settings.keep_topology
        topologies = [t for t in lab.topologies if not t.closed]
        if mode == "never" or not topologies:
            return
        failed = self._failed(node)
        if mode == "failed" and not failed:
            return
        from pytest_macvlan.topology import keep

        pcaps = node.stash.get(_PCAPS_KEY, [])
        for topo in topologies:
            kept_id = f"{keep.PREFIX}{self.run}-{next(self._numbers)}"
            try:
                record = keep.keep(
                    topo,
                    kept_id,
                    run=self.run,
                    made_by=node.nodeid or "(session)",
                    outcome="failed" if failed else "passed",
                    pcaps=pcaps,
                )
            except Exception as exc:
                node.warn(pytest.PytestWarning(f"pytest-macvlan: could not keep {topo.spec.source}: {exc}"))
                continue
            self.kept[record.id] = record
            if isinstance(node, pytest.Item):
                node.user_properties.append((KEPT_PROPERTY, record.id))

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.failed:
            self.failed.add(report.nodeid)
        for name, value in report.user_properties:
            if name == KEPT_PROPERTY and value not in self.reported:
                self.reported.append(str(value))

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        ids = list(self.kept) + [i for i in self.reported if i not in self.kept]
        if not ids:
            return
        from pytest_macvlan.topology import keep

        on_disk, _ = keep.load_all()
        records = {k.id: k for k in on_disk}
        tr = terminalreporter
        tr.section("pytest-macvlan: kept topologies", sep="=", bold=True)
        runs: list[str] = []
        for kept_id in ids:
            record = self.kept.get(kept_id) or records.get(kept_id)
            if record is None:
                tr.line(f"{kept_id}: kept, but its state file is gone (removed already?)")
                continue
            if record.run not in runs:
                runs.append(record.run)
            tr.line(keep.describe(record, sys.executable))
        if len(ids) > 1:
            tr.line(f"remove all {len(ids)}: {sys.executable} -m pytest_macvlan down {' '.join(runs)}")
