"""The kernel runner without booting anything: catalogue, apt sources, claims parsing, matrix
merge and Markdown, argument splitting, the firewall backend choice, killing a process tree."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pytest_macvlan.errors import RunnerError
from pytest_macvlan.kernel import firewall
from pytest_macvlan.runner import cache, catalogue, matrix, procs
from pytest_macvlan.runner.lanes import LaneResult


def test_catalogue_names_and_refusals() -> None:
    assert [k.name for k in catalogue.parse_names("uml-6.1, host")] == ["uml-6.1", "host"]
    with pytest.raises(RunnerError, match=r"no kernel named 'uml-9'.*kernel list"):
        catalogue.parse_names("uml-6.1,uml-9")
    with pytest.raises(RunnerError, match="named twice"):
        catalogue.parse_names("host,host")
    with pytest.raises(RunnerError, match="at least one"):
        catalogue.parse_names(" , ")
    assert {k.suite for k in catalogue.KERNELS.values() if k.kind == "uml"} == {"bullseye", "bookworm", "trixie", "sid"}


def test_mirror_found_in_deb822_and_one_line_sources(tmp_path: Path) -> None:
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list.d" / "debian.sources").write_text(
        "Types: deb\n# http://example.invalid/comment\nURIs: http://mirror.example/debian\n"
        "Suites: bookworm bookworm-updates\nComponents: main\n\n"
        "Types: deb\nURIs: http://mirror.example/debian-security\nSuites: bookworm-security\nComponents: main\n\n"
        "Types: deb\nURIs: http://off.example/debian\nSuites: bookworm\nEnabled: no\n"
    )
    (tmp_path / "sources.list").write_text(
        "# deb http://commented.example/debian bookworm main\n"
        "deb [signed-by=/k.gpg] http://other.example/debian/ trixie main\n"
        "deb http://vendor.example/apt cloud-sdk main\n"
    )
    assert cache.mirrors_in(tmp_path) == ["http://other.example/debian", "http://mirror.example/debian"]


def test_mirror_missing_names_the_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cache, "APT_ETC", tmp_path)
    monkeypatch.delenv("PYTEST_MACVLAN_DEBIAN_MIRROR", raising=False)
    with pytest.raises(RunnerError, match="PYTEST_MACVLAN_DEBIAN_MIRROR"):
        cache.debian_mirror()


def test_private_apt_writes_only_inside_its_root(tmp_path: Path) -> None:
    apt = cache.PrivateApt(tmp_path / "apt", "bookworm", "http://mirror.example/debian")
    apt.prepare()
    opts = apt.options()
    for key in ("Dir::Etc::sourcelist", "Dir::Etc::sourceparts", "Dir::State", "Dir::State::status", "Dir::Cache"):
        [value] = [o.split("=", 1)[1] for o in opts if o.startswith(f"-o{key}=")]
        assert value.startswith(str(tmp_path / "apt")), (key, value)
    line = (tmp_path / "apt/etc/sources.list").read_text()
    assert line == f"deb [signed-by={cache.KEYRING}] http://mirror.example/debian bookworm main\n"
    assert (tmp_path / "apt/state/status").read_text() == ""  # no installed packages seen


def test_cache_root_override_env_and_xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PYTEST_MACVLAN_KERNEL_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache.cache_root() == tmp_path / "xdg/pytest-macvlan/kernels"
    monkeypatch.setenv("PYTEST_MACVLAN_KERNEL_CACHE", str(tmp_path / "env"))
    assert cache.cache_root() == tmp_path / "env"
    assert cache.cache_root(tmp_path / "opt") == tmp_path / "opt"


@pytest.mark.parametrize(
    ("text", "word", "detail"),
    [
        ("holds", "holds", ""),
        ("holds, more precisely: once each way", "holds, more precisely", "once each way"),
        ("differs from the article: it floods", "differs", "it floods"),
        ("differs: it floods", "differs", "it floods"),
        ("FAILS: assert 1 == 2", "FAILS", "assert 1 == 2"),
        ("skipped: kernel lacks 8021q", "skipped", "kernel lacks 8021q"),
        ("not run", "not run", ""),
    ],
)
def test_split_verdict(text: str, word: str, detail: str) -> None:
    assert matrix.split_verdict(text) == (word, detail)


MD = """# The article's claims on this kernel

Kernel 6.1.176: 3 claims.

| scenario | claim | verdict | evidence |
| --- | --- | --- | --- |
| private | ping fails | holds | S3/veth1_br in 3 out 3 |
| vepa[vlan] | tag 11 \\| on the wire | skipped: kernel lacks 8021q | - |
| bridge | direct | FAILS: boom | - |
"""


def test_claims_read_back_from_the_markdown_table() -> None:
    rows = matrix.claims_from_markdown(MD)
    assert [(r["scenario"], r["claim"], r["verdict"], r["detail"]) for r in rows] == [
        ("private", "ping fails", "holds", ""),
        ("vepa[vlan]", "tag 11 | on the wire", "skipped", "kernel lacks 8021q"),
        ("bridge", "direct", "FAILS", "boom"),
    ]


def claims_json(release: str, verdicts: dict[str, str], pcap: str | None = None) -> dict[str, object]:
    return {
        "schema": matrix.CLAIMS_SCHEMA,
        "generated": "2026-11-30T00:00:00Z",
        "kernel": {"name": "x", "release": release, "firewall": "legacy"},
        "claims": [
            {
                "nodeid": f"scenarios/test_a.py::{name}",
                "location": f"scenarios/test_a.py:{i}",
                "scenario": "a",
                "claim": f"claim {name}",
                "part": "beyond",
                "article": None,
                "quote": None,
                "gloss": None,
                "source": "test",
                "verdict": verdict,
                "detail": "kernel lacks 8021q" if verdict == "skipped" else "",
                "evidence": [{"capture": "ns/x", "in": 1, "out": 0, "dropped": 0, "frames": [], "pcap": pcap}],
                "topology": None,
            }
            for i, (name, verdict) in enumerate(verdicts.items())
        ],
    }


def test_merge_marks_rows_that_vary_and_rebases_paths(tmp_path: Path) -> None:
    a, b = tmp_path / "lanes/uml-6.1", tmp_path / "lanes/host"
    a.mkdir(parents=True)
    b.mkdir(parents=True)
    lane_a = claims_json("6.1.176", {"t1": "holds", "t2": "holds", "t3": "FAILS"}, "pcaps/x.pcapng")
    (a / "claims.json").write_text(json.dumps(lane_a))
    (b / "claims.json").write_text(json.dumps(claims_json("6.18.0", {"t1": "holds", "t2": "skipped", "t3": "holds"})))
    lanes = [
        LaneResult("uml-6.1", "6.1.176", "legacy", 0, 20.0, str(a)),
        LaneResult("host", "6.18.0", "nft", 0, 10.0, str(b)),
        LaneResult("uml-7.2", "7.2.7", "none", 3, 1.0, str(tmp_path / "lanes/none"), problem="crashed"),
    ]
    data = matrix.merge(lanes, tmp_path)
    assert data["schema"] == matrix.SCHEMA
    assert [k["name"] for k in data["kernels"]] == ["uml-6.1", "host", "uml-7.2"]
    t1, t2, t3 = data["claims"]
    assert "verdict" not in t1 and t1["part"] == "beyond"
    assert t1["results"]["uml-7.2"]["verdict"] == "not run"  # a lane that reported nothing
    assert t1["varies"] and t2["varies"] and t3["varies"]
    # t1 varies only by a lane that did not run; t2 by a skip; t3 because two kernels disagree.
    assert [r["behaviour_varies"] for r in (t1, t2, t3)] == [False, False, True]
    assert t1["results"]["uml-6.1"]["evidence"][0]["pcap"] == "lanes/uml-6.1/pcaps/x.pcapng"
    assert matrix.failures(data) == ["uml-6.1: a: claim t3"]
    assert len(matrix.skips(data, ["host"])) == 1
    md = matrix.markdown(data, "pytest-macvlan matrix")
    assert "uml-6.1 (6.1.176)" in md and "host (6.18.0)" in md
    assert "| ~ | a | claim t2 | holds | skipped [1] | not run |" in md
    assert "[1] kernel lacks 8021q" in md
    assert "| ≠ | a | claim t3 | FAILS | holds | not run |" in md
    assert any(line.startswith("≠ a: claim t3") for line in matrix.text_table(data))


def test_firewall_backend_order_and_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: f"/usr/sbin/{name}")
    monkeypatch.setattr(os.path, "realpath", lambda path: "/usr/sbin/xtables-nft-multi")
    tried: list[str] = []

    def nft_fails(argv: list[str]) -> tuple[bool, str]:
        tried.append(argv[0])
        return (argv[0] == "iptables-legacy", "TABLE_ADD failed (Operation not supported)")

    assert firewall.probe(nft_fails) == ("legacy", "")
    assert tried == ["iptables-nft", "iptables-legacy"]
    backend, why = firewall.probe(lambda argv: (False, "nope"))
    assert backend == firewall.NONE and "nft: nope" in why and "legacy: nope" in why
    assert "CONFIG_NF_TABLES_IPV4" in why and "CONFIG_IP_NF_IPTABLES_LEGACY" in why
    assert firewall.restore_argv("legacy") == ["iptables-legacy-restore", "-w", "--noflush"]
    assert firewall.iptables_argv("nft") == ["iptables-nft", "-w"]
    assert firewall.restore_argv("none")[0] == "iptables-restore"


def test_kill_tree_kills_the_process_and_its_children(tmp_path: Path) -> None:
    guest = procs.Guest(["sh", "-c", "sleep 60 & sleep 60 & wait"], tmp_path / "log")
    kids: list[int] = []
    deadline = time.monotonic() + 10
    while len(kids) < 2 and time.monotonic() < deadline:
        kids = procs.descendants(guest.pid)
    assert len(kids) == 2, kids
    rc = guest.wait(0.2)
    assert guest.timed_out and rc == -signal.SIGKILL
    assert set(kids) <= set(guest.killed)
    for pid in [guest.pid, *kids]:
        assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split(")")[1][:3]


def test_cli_options_after_the_name_and_pytest_args_after_the_double_dash() -> None:
    from pytest_macvlan.cli.main import build_parser
    from pytest_macvlan.runner.cli import _split

    args = build_parser().parse_args(["kernel", "run", "uml-6.1", "--out", "o", "--timeout", "5", "--", "-k", "x"])
    _split(args)
    assert (args.name, args.out, args.timeout, args.pytest_args) == ("uml-6.1", "o", 5.0, ["-k", "x"])
    args = build_parser().parse_args(["kernel", "run", "uml-6.1", "-k", "x"])
    _split(args)
    assert args.pytest_args == ["-k", "x"]
    args = build_parser().parse_args(["matrix", "--kernels", "host", "--", "tests/x.py"])
    _split(args)
    assert (args.kernels, args.pytest_args) == ("host", ["tests/x.py"])


def test_cli_refuses_unknown_kernels_before_doing_anything(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pytest_macvlan", "matrix", "--kernels", "uml-6.1,nope", "--out", str(tmp_path / "o")],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTEST_MACVLAN_KERNEL_CACHE": str(tmp_path / "cache")},
    )
    assert done.returncode == 2, done.stderr
    assert "no kernel named 'nope'" in done.stderr
    assert not (tmp_path / "o").exists() and not (tmp_path / "cache").exists()


def test_readme_gets_the_matrix_between_its_markers(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\nbefore\n{matrix.README_BEGIN}\nold\n{matrix.README_END}\nafter\n")
    matrix.update_readme(readme, "# The claims on each kernel\n\n| a |\n")
    text = readme.read_text()
    assert "old" not in text and "#### The claims on each kernel" in text
    assert text.startswith("# x\n\nbefore\n") and text.endswith(f"{matrix.README_END}\nafter\n")
    readme.write_text("no markers\n")
    with pytest.raises(RunnerError, match="kernel-matrix:begin"):
        matrix.update_readme(readme, "x")


def test_claims_read_back_from_several_tables() -> None:
    text = MD + "\n## beyond the article\n\n| scenario | claim | source | verdict |\n| --- | --- | --- | --- |\n"
    text += (
        "| kernel history | nodst | commit | skipped: refuses nodst |\n\n| other | table |\n| --- | --- |\n| a | b |\n"
    )
    rows = matrix.claims_from_markdown(text)
    assert [(r["claim"], r["verdict"]) for r in rows][-2:] == [("direct", "FAILS"), ("nodst", "skipped")]
