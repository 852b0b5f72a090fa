"""Layer 6, kernel lanes: running a pytest session on other kernels (user-mode Linux, a VM), and a matrix.

- :mod:`.catalogue`: the kernels by name (``uml-6.1``, ``debian-6.1``, ``host``, ...);
- :mod:`.cache`: Debian packages fetched with apt into a user cache through a private sources
  list and state directory (the machine's apt configuration is never read for writing, never
  changed), signatures checked by apt, unpacked with ``dpkg-deb -x``, never installed;
- :mod:`.guest`: the init of a user-mode Linux guest (a standalone script, stdlib only);
- :mod:`.uml`, :mod:`.vng`, :mod:`.host`: one lane each (boot, run pytest, collect results);
- :mod:`.procs`: the guest is a process; it is tracked by PID and killed with its children;
- :mod:`.matrix`: lanes in parallel, merged into one row per claim and one column per kernel;
- :mod:`.cli`: ``pytest-macvlan kernel ...`` and ``pytest-macvlan matrix ...``.

Nothing here imports pytest: the lanes run it as a program.
"""
