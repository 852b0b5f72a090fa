"""The claims page as text: structure, escaping, links, the size budget, tolerant loading."""

from __future__ import annotations

import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from pytest_macvlan.report.html import BUDGET, render, write_html, write_matrix_html
from pytest_macvlan.report.matrixfile import ReportError, load, parse, verdict_class

DATA = Path(__file__).parent / "data"
MB2 = 2_000_000
FRAME = (
    "12:00:00.{:06d} out 02:00:00:00:01:01 > ff:ff:ff:ff:ff:ff, 802.1Q vlan 11, ARP, "
    "Request who-has 192.168.9.3 tell 192.168.9.2, length 28"
)


class Tags(HTMLParser):
    """Every start tag with its attributes (what a browser would build elements from)."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def tags_of(page: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = Tags()
    parser.feed(page)
    return parser.tags


@pytest.fixture
def matrix_dir(tmp_path: Path) -> Path:
    shutil.copytree(DATA / "matrix", tmp_path / "m")
    return tmp_path / "m"


def test_matrix_page_has_every_cell_with_its_verdict_class(matrix_dir: Path) -> None:
    page = write_matrix_html(matrix_dir / "matrix.json", matrix_dir / "report.html").read_text(encoding="utf-8")
    data = json.loads((matrix_dir / "matrix.json").read_text(encoding="utf-8"))
    kernels = [k["name"] for k in data["kernels"]]
    cells = [a for t, a in tags_of(page) if t == "td" and "c" in (a.get("class") or "").split()]
    assert len(cells) == len(data["claims"]) * len(kernels)
    expected = [
        verdict_class(c["results"][k]["verdict"]) if k in c["results"] else "notrun"
        for c in data["claims"]
        for k in kernels
    ]
    # rows are grouped (the article first), so compare as multisets and check each row's own cells
    assert sorted(a["data-class"] or "" for a in cells) == sorted(expected)
    assert {"precise", "holds", "fails", "differs", "skipped", "notrun"} <= set(expected)
    for r, claim in enumerate(data["claims"]):
        row = re.search(rf'<tr class="(\w+)" id="r-{r}">(.*?)</tr>', page, re.DOTALL)
        assert row is not None
        assert row.group(1) == ("varies" if claim["varies"] else "same")
        classes = re.findall(r'data-class="(\w+)"', row.group(2))
        assert classes == [
            verdict_class(claim["results"][k]["verdict"]) if k in claim["results"] else "notrun" for k in kernels
        ]
    # one evidence panel per cell; groups in order
    assert len(re.findall(r'<section class="ev" id="e-\d+-\d+"', page)) == len(cells)
    assert page.index("the article (4)") < page.index("beyond the article (2)")
    for k in data["kernels"]:
        assert k["release"] in page


def test_untrusted_text_is_escaped_and_links_cannot_leave(matrix_dir: Path) -> None:
    page = write_html(matrix_dir / "matrix.json", matrix_dir / "report.html").read_text(encoding="utf-8")
    tags = tags_of(page)
    assert "script" not in {t for t, _ in tags}
    assert not [a for _, a in tags if any(k.startswith("on") for k in a)], "an event-handler attribute got through"
    assert "&lt;script&gt;alert(&#x27;claim&#x27;)&lt;/script&gt;" in page
    for _, attrs in tags:
        for key in ("href", "src"):
            url = attrs.get(key)
            if url is not None:
                assert url.startswith("#") or not re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", url), url
                assert not url.startswith(("/", "//")), url
    assert "Content-Security-Policy" in page


def test_links_are_relative_to_the_page_wherever_it_is(matrix_dir: Path, tmp_path: Path) -> None:
    page_path = write_html(matrix_dir / "matrix.json", tmp_path / "elsewhere" / "deep" / "page.html")
    page = page_path.read_text(encoding="utf-8")
    pcaps = [a["href"] for t, a in tags_of(page) if t == "a" and a.get("class") == "pcap"]
    assert pcaps
    for href in pcaps:
        assert href is not None and not href.startswith("/")
        if "javascript" not in href:
            assert (page_path.parent / href).resolve().is_file(), href
    imgs = {a["src"] for t, a in tags_of(page) if t == "img"}
    assert "../../m/topology/vepa.svg" in imgs


def test_per_run_json_is_a_matrix_of_one_kernel() -> None:
    m = load(DATA / "run" / "claims.json")
    assert [k.name for k in m.kernels] == ["host"]
    assert all(set(c.results) == {"host"} for c in m.claims)
    assert not any(c.varies for c in m.claims)
    page = render(m, DATA / "run")
    assert page.count('<td class="c ') == len(m.claims)
    assert 'href="pcaps/host/S3_veth1_br.pcapng"' in page


def test_missing_optional_keys_are_tolerated() -> None:
    m = parse(
        {"schema": "pytest-macvlan/claims/1", "claims": [{"claim": "x"}, {"claim": "y", "verdict": "holds"}]}, Path(".")
    )
    page = render(m, Path("."))
    assert m.kernels[0].name == "host" and m.claims[0].results["host"].verdict == "not run"
    assert 'data-class="notrun"' in page and 'data-class="holds"' in page
    assert "beyond the article (2)" in page


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ({"schema": "something/else"}, "schema is 'something/else'"),
        ({"schema": "pytest-macvlan/matrix/1", "kernels": {}}, "kernels: not a list"),
        ({"schema": "pytest-macvlan/claims/1", "claims": [{"evidence": [{"in": "3"}]}]}, "claims[0].evidence[0].in"),
    ],
)
def test_bad_json_is_refused_naming_the_entry(tmp_path: Path, data: dict[str, Any], problem: str) -> None:
    path = tmp_path / "c.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ReportError, match=re.escape(problem)) as info:
        load(path)
    assert str(path) in str(info.value)


def test_unreadable_json_is_refused(tmp_path: Path) -> None:
    (tmp_path / "c.json").write_text("{", encoding="utf-8")
    with pytest.raises(ReportError, match="cannot read claims JSON"):
        load(tmp_path / "c.json")


@pytest.mark.parametrize(
    ("verdict", "css"),
    [
        ("holds", "holds"),
        ("holds, more precisely", "precise"),
        ("holds, more precisely: once in each direction", "precise"),
        ("differs: the kernel says otherwise", "differs"),
        ("FAILS", "fails"),
        ("skipped: no 8021q", "skipped"),
        ("not run", "notrun"),
        ("holdsX", "unknown"),
    ],
)
def test_verdict_classes(verdict: str, css: str) -> None:
    assert verdict_class(verdict) == css


def worst_case(frames_per_capture: int) -> dict[str, Any]:
    """60 claims on 5 kernels, 4 captures per cell, long texts everywhere."""
    kernels = [
        {"name": f"uml-{v}", "release": f"{v}.199", "firewall": "legacy", "exit": 1, "duration_s": 20.5}
        for v in ("5.10", "6.1", "6.12", "7.2")
    ]
    kernels.append(
        {"name": "host", "release": "6.18.0-1-cloud-amd64", "firewall": "nft", "exit": 1, "duration_s": 30.0}
    )
    verdicts = ["holds", "FAILS", "differs", "holds, more precisely", "skipped"]

    def result(i: int, k: int) -> dict[str, Any]:
        caps = [
            {
                "capture": f"S3/veth{j}_br",
                "in": frames_per_capture,
                "out": frames_per_capture,
                "dropped": 0,
                "frames": [FRAME.format(n) for n in range(frames_per_capture)],
                "pcap": f"pcaps/{k}/{i}/S3_veth{j}_br.pcapng",
            }
            for j in range(4)
        ]
        return {
            "verdict": verdicts[(i + k) % 5],
            "detail": "d" * 200,
            "evidence": caps,
            "topology": {"name": "vepa", "svg": "t/vepa.svg"},
        }

    claims = [
        {
            "nodeid": f"scenarios/test_vepa_vlan.py::test_claim_number_{i}[uml]",
            "location": f"scenarios/test_vepa_vlan.py:{100 + i}",
            "scenario": "vepa_vlan",
            "claim": "c" * 120,
            "part": "article" if i < 45 else "beyond",
            "article": "L1120-1134",
            "quote": "又都发回veth1_br接口,所以数据包是双份的" * 4,
            "gloss": "g" * 150,
            "source": None,
            "results": {kern["name"]: result(i, k) for k, kern in enumerate(kernels)},
        }
        for i in range(60)
    ]
    return {
        "schema": "pytest-macvlan/matrix/1",
        "generated": "2026-11-30T12:00:00Z",
        "kernels": kernels,
        "claims": claims,
    }


@pytest.mark.parametrize("frames", [0, 5, 50, 400])
def test_worst_case_matrix_stays_under_2_mb(frames: int) -> None:
    page = render(parse(worst_case(frames), Path("/x")), Path("/x"))
    size = len(page.encode("utf-8"))
    assert size <= BUDGET < MB2
    shown = re.search(r"at most (\d+) per capture shown", page)
    if frames <= 5:
        assert shown is None  # everything fits
        assert page.count("<pre>") == (300 * 4 if frames else 0)
    else:
        assert shown is not None and int(shown.group(1)) >= 5, size
        assert f"{frames - int(shown.group(1))} more frame(s) in the pcap" in page
