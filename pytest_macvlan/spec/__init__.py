"""Layer 1, the spec: what a topology should be, as validated frozen data. No kernel, no pytest.

- :mod:`.model`: the frozen dataclasses (:class:`~.model.TopologySpec` and its parts);
- :mod:`.names`: the kernel's rules for interface and namespace names, ``ns/link`` references;
- :mod:`.parse`: TOML file, TOML text or dict in, :class:`~.model.TopologySpec` or
  :class:`~pytest_macvlan.errors.SpecError` out.
"""
