"""``python -m pytest_macvlan``: the command line (:mod:`pytest_macvlan.cli`)."""

from __future__ import annotations

from pytest_macvlan.cli.main import main

raise SystemExit(main())
