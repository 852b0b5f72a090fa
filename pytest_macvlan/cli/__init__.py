"""Layer 8, the command line: ``pytest-macvlan`` (``python -m pytest_macvlan``). No pytest."""
