"""pytest-html's report: a failing test's row gets its topology picture, captures and pcap links."""

from __future__ import annotations

import base64
import html
import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz (dot) is not installed")
pytest.importorskip("pytest_html")

TESTS = """
PAIR = '''
[netns.a.link.v0]
type = "veth"
addr = ["192.168.9.2/24"]
peer = { name = "v0", netns = "b", addr = ["192.168.9.3/24"] }

[netns.b]
'''


def test_fails(netlab):
    topo = netlab.build(PAIR)
    (cap,) = topo.sniff("b/v0")
    assert topo["a"].ping("192.168.9.3").ok
    cap.wait_for(count=2)
    assert False, "deliberate failure"


def test_passes(netlab):
    netlab.build(PAIR)
"""


def rows(report: Path) -> dict[str, Any]:
    """pytest-html 4 keeps its results as JSON in the page's ``data-jsonblob`` attribute."""
    blob = re.search(r'data-jsonblob="([^"]*)"', report.read_text(encoding="utf-8"))
    assert blob is not None
    tests: dict[str, Any] = json.loads(html.unescape(blob.group(1)))["tests"]
    return tests


@pytest.mark.parametrize("self_contained", [True, False])
def test_failing_row_has_topology_svg_and_captures(pytester: pytest.Pytester, self_contained: bool) -> None:
    pytester.makepyfile(test_html=TESTS)
    args = ["-p", "pytest_macvlan", "--html", "report/r.html", "--pcap-dir", "pcaps"]
    result = pytester.runpytest(*args, *(["--self-contained-html"] if self_contained else []))
    result.assert_outcomes(passed=1, failed=1)
    tests = rows(pytester.path / "report" / "r.html")
    failed = [r for runs in tests.values() for r in runs if r["result"] == "Failed"]
    passed = [r for runs in tests.values() for r in runs if r["result"] == "Passed"]
    assert len(failed) == 1 and len(passed) == 1
    assert not [e for e in passed[0]["extras"] if e["name"].startswith(("topology", "captures", "pcap"))]
    extras = {e["name"]: e for e in failed[0]["extras"]}
    assert set(extras) >= {"topology <string>", "captures b/v0", "pcap b/v0"}, list(extras)
    picture = extras["topology <string>"]
    assert picture["mime_type"] == "image/svg+xml"
    if self_contained:
        svg = base64.b64decode(picture["content"].split(",", 1)[1]).decode()
    else:
        svg = (pytester.path / "report" / picture["content"]).read_text(encoding="utf-8")
    assert "<svg" in svg and ">netns a<" in svg and ">v0<" in svg
    pcap = extras["pcap b/v0"]["content"]
    assert pcap == "../pcaps/test_html.py_test_fails/b_v0.pcapng"
    assert (pytester.path / "report" / pcap).resolve().is_file()
    summary = extras["captures b/v0"]["content"]
    if not self_contained:
        summary = (pytester.path / "report" / summary).read_text(encoding="utf-8")
    else:
        summary = base64.b64decode(summary.split(",", 1)[1]).decode()
    assert "ICMP echo request" in summary or "echo request" in summary
