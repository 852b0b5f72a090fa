"""Layer 7, the pytest face: options, markers, fixtures, failure reports and the claims report.

- :mod:`.core`: options, markers, the ``netlab`` and ``topology`` fixtures, privilege checks;
- :mod:`.config`: the settings, one frozen dataclass from the command line and the ini file;
- :mod:`.hookspecs`: hooks other plugins implement to follow topologies;
- :mod:`.failures`: what a failing network test leaves for its user (pcaps, diagram, kept topology);
- :mod:`.claims`: the claims report, one row per ``@pytest.mark.claim`` test;
- :mod:`.factories`: fixture factories for topologies that several tests share;
- :mod:`.shard`: ``--netlab-shard I/N``, one part of the tests (a kernel lane over N guests).
"""
