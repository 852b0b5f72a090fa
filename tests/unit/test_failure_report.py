"""What a failing test's report shows: the diagram, a section per capture, pcap files, JUnit properties."""

from __future__ import annotations

from pytest_macvlan.plugin.failures import dirname_of, pcap_name


def test_pcap_names_are_per_test_and_per_link() -> None:
    assert dirname_of("tests/test_x.py::test_y[a/b-1]") == "tests_test_x.py_test_y_a_b-1"
    assert dirname_of("::") == "test"
    taken: set[str] = set()
    assert [pcap_name(label, taken) for label in ("ns1/m", "ns1/m", "ns2/m")] == [
        "ns1_m.pcapng",
        "ns1_m_2.pcapng",
        "ns2_m.pcapng",
    ]
