"""The plugin's settings: one frozen dataclass, filled from the command line and the ini file."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

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


@dataclass(frozen=True)
class Config:
    KEY: ClassVar[pytest.StashKey[Config]] = pytest.StashKey["Config"]()

    require_privileges: bool = False
    strict_features: bool = False

    @staticmethod
    def add_options(parser: pytest.Parser) -> None:
        group = parser.getgroup("macvlan", "pytest-macvlan: real-kernel network topologies")
        for name, kind, help_text in _OPTIONS:
            flag = "--" + name.replace("_", "-")
            group.addoption(flag, action="store_true", default=None, dest=name, help=help_text)
            parser.addini(name, help_text, type=kind, default=False)

    @classmethod
    def from_pytest(cls, config: pytest.Config) -> Config:
        def get(name: str) -> bool:
            cli = config.getoption(name)
            return bool(config.getini(name) if cli is None else cli)

        return cls(require_privileges=get("netlab_require_privileges"), strict_features=get("netlab_strict_features"))
