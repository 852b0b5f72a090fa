"""Topology pictures: the DOT text (no Graphviz needed) and the SVG Graphviz lays out from it."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from pytest_macvlan.errors import SpecError
from pytest_macvlan.report.svg import SvgError, dot_source, emulated_in, emulated_of, quote, render, render_dot
from pytest_macvlan.spec.parse import load_spec, parse_spec
from pytest_macvlan.topology.diagram import Live, LiveLink

ROOT = Path(__file__).resolve().parents[2]
VEPA = ROOT / "scenarios" / "vepa.toml"
needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz (dot) is not installed")
SVG_NS = "{http://www.w3.org/2000/svg}"


def edges(dot: str) -> list[str]:
    return [line for line in dot.splitlines() if " -> " in line]


def test_dot_of_the_vepa_scenario() -> None:
    spec = load_spec(VEPA)
    dot = dot_source(spec)
    clusters = re.findall(r'subgraph cluster_\d+ \{ label="netns (\w+)"', dot)
    assert clusters == [ns.name for ns in spec.netns]
    for link in spec.links:
        assert re.search(rf'label="{re.escape(link.name)}\\n', dot), link.name
    assert 'macvl1\\nmacvlan vepa\\n192.168.9.2/24"' in dot
    veth = [e for e in edges(dot) if 'label="veth"' in e]
    assert len(veth) == sum(link.kind == "veth" and not link.is_peer for link in spec.links) == 2
    parents = [e for e in edges(dot) if "style=dashed" in e]
    assert len(parents) == 3  # macvl1, macvl2 on veth1; macvl5 on veth2
    ports = [e for e in edges(dot) if "style=dotted" in e]
    assert len(ports) == 2 and sum("hairpin" in e for e in ports) == 2
    assert "iptables: 3 rule(s)" in dot  # the namespace's note, from the text diagram's model


def test_live_facts_show_mac_and_ifindex() -> None:
    spec = load_spec(VEPA)
    ref = next(link.ref for link in spec.links if link.name == "macvl1")
    dot = dot_source(
        spec, Live(links={ref: LiveLink(7, "02:00:00:00:01:01", "vepa")}, netns_names={"ns1": "pmv-x-ns1"})
    )
    assert "02:00:00:00:01:01 #7" in dot
    assert 'label="netns ns1 = pmv-x-ns1"' in dot


def test_quote_keeps_any_text_literal() -> None:
    assert quote('a "b" \\n\nc') == '"a \\"b\\" \\\\n c"'


SMALL = """
# Emulated: prose like this line is not read: lan, nothing, S20
# emulated-parts: lan, S20/eth0 -- the article's LAN
[netns.lan.link.br]
type = "bridge"
[netns.S20.link.eth0]
type = "veth"
peer = { name = "p", netns = "lan", master = "br" }
"""


def test_emulated_parts_from_a_comment(tmp_path: Path) -> None:
    path = tmp_path / "small.toml"
    path.write_text(SMALL, encoding="utf-8")
    spec = load_spec(path)
    assert emulated_of(spec) == {"lan", "S20/eth0"}
    dot = dot_source(spec, emulated=emulated_of(spec))
    assert 'label="netns lan (emulated)"' in dot
    assert "eth0\\nveth\\n(emulated)" in dot
    assert 'label="netns S20"' in dot  # only its link is marked
    assert emulated_of(load_spec(VEPA)) == set()  # no comment, nothing marked


def test_an_unknown_emulated_name_is_a_spec_error() -> None:
    spec = parse_spec({"netns": {"a": {}}}, "x.toml")
    with pytest.raises(SpecError, match=r"x\.toml: # emulated-parts: no namespace or link named 'b'"):
        emulated_in("# emulated-parts: a, b\n", spec)


@needs_dot
def test_svg_of_the_vepa_scenario() -> None:
    svg = render(load_spec(VEPA))
    assert "<!DOCTYPE" not in svg
    root = ET.fromstring(svg)
    texts = {t.text for t in root.iter(f"{SVG_NS}text")}
    assert {"netns S3", "netns ns1", "macvl1", "macvlan vepa", "192.168.9.2/24", "hairpin on"} <= texts
    assert sum(t == "port, hairpin" for t in (x.text for x in root.iter(f"{SVG_NS}text"))) == 2


@needs_dot
def test_hostile_source_name_reaches_dot_literally() -> None:
    spec = parse_spec({"netns": {"a": {}}}, 'evil"; node [label="x"] \\ <b>.toml')
    svg = render(spec, emulated=())
    title = next(t.text for t in ET.fromstring(svg).iter(f"{SVG_NS}text"))
    assert title == 'topology evil"; node [label="x"] \\ <b>.toml'


def test_missing_or_failing_dot_is_an_svg_error(tmp_path: Path) -> None:
    with pytest.raises(SvgError, match=r"not installed|failed"):
        render_dot("digraph {}", dot=str(tmp_path / "no-dot"))
    if shutil.which("dot"):
        with pytest.raises(SvgError, match="exited"):
            render_dot("digraph { this is not dot")


@needs_dot
def test_show_writes_the_svg(tmp_path: Path) -> None:
    out = tmp_path / "pics" / "vepa.svg"
    done = subprocess.run(
        [sys.executable, "-m", "pytest_macvlan", "show", str(VEPA), "--svg", str(out)],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    assert f"picture written to {out}" in done.stdout
    assert ET.parse(out).getroot().tag == f"{SVG_NS}svg"


def test_show_svg_with_a_bad_emulated_comment_is_exit_2(tmp_path: Path) -> None:
    spec = tmp_path / "s.toml"
    spec.write_text("# emulated-parts: nowhere\n[netns.a]\n", encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "pytest_macvlan", "show", str(spec), "--svg", str(tmp_path / "s.svg")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert "no namespace or link named 'nowhere'" in done.stderr
    assert not (tmp_path / "s.svg").exists()


@pytest.mark.parametrize("path", sorted((ROOT / "scenarios").glob("*.toml")), ids=lambda p: p.name)
def test_every_scenario_has_a_picture(path: Path) -> None:
    spec = load_spec(path)
    dot = dot_source(spec, emulated=emulated_of(spec))
    assert dot.count("subgraph cluster_") == len(spec.netns)
    if shutil.which("dot"):
        assert "<svg" in render_dot(dot)


@needs_dot
def test_the_readme_picture_is_the_vepa_scenario_as_it_is() -> None:
    """docs/img/vepa.svg (in docs/plugin.md) shows scenarios/vepa.toml as it is now (regenerate it with
    ``pytest-macvlan show scenarios/vepa.toml --svg docs/img/vepa.svg``)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    plugin_page = (ROOT / "docs" / "plugin.md").read_text(encoding="utf-8")
    assert "](img/vepa.svg)" in plugin_page and "](docs/img/claims-page.png)" in readme
    assert (ROOT / "docs" / "img" / "claims-page.png").stat().st_size > 10_000

    def texts(svg: str) -> list[str]:
        return sorted(t.text or "" for t in ET.fromstring(svg).iter(f"{SVG_NS}text"))

    committed = (ROOT / "docs" / "img" / "vepa.svg").read_text(encoding="utf-8")
    assert texts(committed) == texts(render(load_spec(VEPA)))
