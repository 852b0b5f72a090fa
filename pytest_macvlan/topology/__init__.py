"""Layer 4, topologies: building a spec on the kernel and the handles that view the result.

- :mod:`.builder`: turns a :class:`~pytest_macvlan.spec.model.TopologySpec` into namespaces and
  links, owns the undo stack while it works, and hands over a finished :class:`~.handles.Topology`;
- :mod:`.handles`: :class:`~.handles.Topology`, the user's handle on a built topology;
- :mod:`.namespace`: :class:`~.namespace.Netns`, one namespace: programs, kernel state, routes, FDB;
- :mod:`.links`: :class:`~.links.Link`, one interface, live (every property asks the kernel);
- :mod:`.membership`: a multicast membership held for a test;
- :mod:`.undo`: the LIFO undo stack each topology owns;
- :mod:`.lab`: :class:`~.lab.NetLab`, many topologies torn down together;
- :mod:`.keep`: kept topologies (names under ``/run/netns``) for a human to inspect;
- :mod:`.diagram`: a text picture of a topology.
"""
