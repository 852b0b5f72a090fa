"""The feature probe's file cache (``$PYTEST_MACVLAN_FEATURES_FILE``), which the kernel runner
keeps per kernel build so that a guest does not probe again at every boot: used only for the same
kernel build and tools, written back after a probe, never trusted when malformed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_macvlan.kernel import features
from pytest_macvlan.runner.uml import keep_features

PROBED = features.Features("probed-kernel", frozenset({"bridge", "veth"}), {"8021q": "ENOTSUP"}, "legacy")


@pytest.fixture
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[int]:
    """No session result, no /run cache, a counting fake probe; the file at tmp/features.json."""
    calls: list[int] = []

    def fake_probe() -> features.Features:
        calls.append(1)
        return PROBED

    monkeypatch.setattr(features, "_session", None)
    monkeypatch.setattr(features, "CACHE_DIR", tmp_path / "run")
    monkeypatch.setattr(features, "probe", fake_probe)
    monkeypatch.setenv(features.FILE_ENV, str(tmp_path / "features.json"))
    return calls


def record(found: features.Features, key: dict[str, object]) -> str:
    return json.dumps(
        {"kernel": found.kernel, "have": sorted(found.have), "missing": found.missing, "firewall": found.firewall}
        | {"key": key}
    )


def test_a_record_for_this_build_is_used_without_probing(isolated: list[int], tmp_path: Path) -> None:
    cached = features.Features("cached-kernel", frozenset({"macvlan"}), {}, "nft")
    (tmp_path / "features.json").write_text(record(cached, features._key()))
    assert features.get() == cached
    assert isolated == []


@pytest.mark.parametrize("field", ["kernel", "build", "tools", "version"])
def test_a_record_for_another_build_or_tools_is_probed_again_and_replaced(
    isolated: list[int], tmp_path: Path, field: str
) -> None:
    key = features._key()
    key[field] = "something else"
    path = tmp_path / "features.json"
    path.write_text(record(features.Features("old", frozenset({"vrf"}), {}, "nft"), key))
    assert features.get() == PROBED
    assert isolated == [1]
    assert json.loads(path.read_text())["key"] == features._key()
    features._session = None
    assert features.get() == PROBED and isolated == [1], "the rewritten record is used"


@pytest.mark.parametrize("text", ["", "{", "[]", '{"key": 1}', json.dumps({"have": 3})])
def test_a_malformed_record_is_ignored(isolated: list[int], tmp_path: Path, text: str) -> None:
    (tmp_path / "features.json").write_text(text)
    assert features.get() == PROBED
    assert isolated == [1]


def test_keep_features_keeps_only_a_json_object(tmp_path: Path) -> None:
    written, known = tmp_path / "written.json", tmp_path / "known.json"
    written.write_text("not json")
    keep_features(written, known)
    assert not known.exists()
    written.write_text('{"kernel": "k"}')
    keep_features(written, known)
    assert json.loads(known.read_text()) == {"kernel": "k"}
    keep_features(tmp_path / "absent.json", known)
    assert json.loads(known.read_text()) == {"kernel": "k"}


def test_a_probe_with_a_tool_that_timed_out_is_not_kept(
    isolated: list[int], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A tool that did not finish in time may only have met a loaded machine: the session uses
    the result, no file keeps it, and the next session probes again."""

    def slow_probe() -> features.Features:
        features._unsure.add("iptables-legacy")
        return PROBED

    monkeypatch.setattr(features, "probe", slow_probe)
    assert features.get() == PROBED
    assert not (tmp_path / "features.json").exists()
    assert not list((tmp_path / "run").glob("*.json"))
