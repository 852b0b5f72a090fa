"""``python -m pytest_macvlan``: the command line (:mod:`pytest_macvlan.cli`)."""

from __future__ import annotations

from .cli import main

raise SystemExit(main())
