"""Layer 2, the kernel: everything that talks to Linux. No pytest, no frames.

- :mod:`.libc`: the few libc calls Python 3.11 lacks (``setns``, ``unshare``), ``flock`` helpers;
- :mod:`.nsworker`: network namespaces held by file descriptors, the worker thread that makes them,
  sockets born inside a namespace;
- :mod:`.mounts`: names for namespaces under ``/run/netns`` (kept topologies only);
- :mod:`.rtnl`: the rtnetlink transport and every rtnetlink constant;
- :mod:`.messages`: one encoder per rtnetlink message the builder sends;
- :mod:`.features`: what this kernel can do, probed in a throwaway namespace;
- :mod:`.processes`: programs run inside a namespace;
- :mod:`.privileges` and :mod:`.rootless`: which capabilities are missing, and running in a user
  namespace of our own when they are.
"""
