"""The plugin's settings: one frozen dataclass, filled from the command line and the ini file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Literal, cast

import pytest

_OPTIONS: tuple[tuple[str, Literal["bool"], str], ...] = (
    (
        "netlab_require_privileges",
        "bool",
        "fail, instead of skip, tests that need CAP_NET_ADMIN/CAP_SYS_ADMIN when the process lacks them",
    ),
    (
        "netlab_strict_features",
        "bool",
        "fail, instead of skip, tests that need a kernel feature (e.g. 8021q) this kernel lacks",
    ),
)

KeepMode = Literal["never", "failed", "always"]
_DEBUG_OPTIONS = {
    "keep_topology": "keep the topologies of failed tests (failed), or of every test (always), after pytest "
    "exits, as namespaces named pmv-RUN-N-NETNS in /run/netns; the end of the run says how to enter and remove them",
    "pcap_dir": "where a failing test's captures are written as pcapng files (default: under pytest's basetemp, "
    "pytest-macvlan-pcaps/TEST/NETNS_LINK.pcapng)",
    "keep_pcaps": "write the pcap files of passing tests too",
}


@dataclass(frozen=True)
class Config:
    """The plugin's settings, from the command line and the ini file (the command line wins)."""

    KEY: ClassVar[pytest.StashKey[Config]] = pytest.StashKey["Config"]()

    require_privileges: bool = False
    strict_features: bool = False
    keep_topology: KeepMode = "never"  # issue 5: debugging.py
    pcap_dir: Path | None = None
    keep_pcaps: bool = False

    @staticmethod
    def add_options(parser: pytest.Parser) -> None:
        """Register every setting as a ``--flag`` and an ini key, with one help text for both."""
        group = parser.getgroup("macvlan", "pytest-macvlan: real-kernel network topologies")
        for name, kind, help_text in _OPTIONS:
            flag = "--" + name.replace("_", "-")
            group.addoption(flag, action="store_true", default=None, dest=name, help=help_text)
            parser.addini(name, help_text, type=kind, default=False)
        parser.addini("keep_topology", _DEBUG_OPTIONS["keep_topology"], type="string", default="never")
        parser.addini("pcap_dir", _DEBUG_OPTIONS["pcap_dir"], type="string", default="")
        parser.addini("keep_pcaps", _DEBUG_OPTIONS["keep_pcaps"], type="bool", default=False)
        group.addoption(
            "--keep-topology",
            nargs="?",
            const="failed",
            default=None,
            choices=("failed", "always"),
            dest="keep_topology",
            help=_DEBUG_OPTIONS["keep_topology"] + " (write --keep-topology=failed when paths follow)",
        )
        group.addoption("--pcap-dir", default=None, dest="pcap_dir", metavar="DIR", help=_DEBUG_OPTIONS["pcap_dir"])
        group.addoption(
            "--keep-pcaps", action="store_true", default=None, dest="keep_pcaps", help=_DEBUG_OPTIONS["keep_pcaps"]
        )

    @classmethod
    def from_pytest(cls, config: pytest.Config) -> Config:
        """The settings of this pytest run."""

        def get(name: str) -> bool:
            cli = config.getoption(name)
            return bool(config.getini(name) if cli is None else cli)

        keep = config.getoption("keep_topology") or config.getini("keep_topology") or "never"
        if keep not in ("never", "failed", "always"):
            raise pytest.UsageError(f"keep_topology = {keep!r}: use never, failed or always")
        pcap_dir, base = config.getoption("pcap_dir"), config.invocation_params.dir
        if pcap_dir is None and config.getini("pcap_dir"):  # relative to the ini file, as pytest's paths
            pcap_dir, base = config.getini("pcap_dir"), config.inipath.parent if config.inipath else base
        return cls(
            require_privileges=get("netlab_require_privileges"),
            strict_features=get("netlab_strict_features"),
            keep_topology=cast(KeepMode, keep),
            pcap_dir=(base / pcap_dir).resolve() if pcap_dir else None,
            keep_pcaps=get("keep_pcaps"),
        )
