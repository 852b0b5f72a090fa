"""Rootless: without capabilities, the plugin runs its topologies in a user namespace it makes
for itself; where the kernel forbids that, tests are skipped naming the capability and the
sysctl (or fail, with --netlab-require-privileges).

The real runs need real root (to become an unprivileged user, and to make a user namespace in
which user namespaces are disabled); they are skipped otherwise.
"""

from __future__ import annotations

import errno
import os
import pwd
import shutil
import site
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_macvlan.kernel import privileges, rootless

ROOT = Path(__file__).parents[2]
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
NOBODY = "nobody"


def real_root() -> bool:
    """uid 0 of the initial user namespace, with the capabilities to switch users."""
    try:
        uid_map = Path("/proc/self/uid_map").read_text().split()
    except OSError:
        return False
    return os.getuid() == 0 and uid_map == ["0", "0", "4294967295"] and not privileges.missing_caps()


needs_real_root = pytest.mark.skipif(
    not real_root() or shutil.which("setpriv") is None,
    reason="needs real root (uid 0 of the initial user namespace) and setpriv, to run the suite as another user",
)


# -- without a kernel: the reasons ----------------------------------------------------------


@pytest.mark.parametrize(
    ("err", "files", "words"),
    [
        (errno.ENOSPC, {"/proc/sys/user/max_user_namespaces": "0"}, "user.max_user_namespaces = 0"),
        (errno.EPERM, {"/proc/sys/kernel/unprivileged_userns_clone": "0"}, "kernel.unprivileged_userns_clone = 0"),
        (
            errno.EACCES,
            {"/proc/sys/kernel/apparmor_restrict_unprivileged_userns": "1"},
            "kernel.apparmor_restrict_unprivileged_userns = 1",
        ),
        (errno.ENOSPC, {"/proc/sys/user/max_user_namespaces": "7"}, "limit user.max_user_namespaces (7) is reached"),
        (errno.EPERM, {"/proc/self/status": "Seccomp:\t2\n"}, "a seccomp filter forbids it"),
    ],
)
def test_the_reason_names_the_sysctl_or_mechanism(
    monkeypatch: pytest.MonkeyPatch, err: int, files: dict[str, str], words: str
) -> None:
    monkeypatch.setattr(rootless, "_read", files.get)
    reason = rootless.explain(err)
    assert reason.startswith(f"unshare(CLONE_NEWUSER) failed: {os.strerror(err)}")
    assert words in reason, reason


def test_with_the_capabilities_nothing_is_entered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rootless, "_status", rootless.Status())
    monkeypatch.setattr(privileges, "missing_caps", lambda caps=None: [])
    status = rootless.enter_if_needed()
    assert status == rootless.Status() and status.describe() == ""


def test_a_multithreaded_process_cannot_enter_and_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rootless, "_status", rootless.Status())
    monkeypatch.setattr(privileges, "missing_caps", lambda caps=None: ["CAP_NET_ADMIN"])
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait, args=(60,))
    thread.start()
    try:
        status = rootless.enter_if_needed()
    finally:
        stop.set()
        thread.join()
    assert not status.active
    assert "threads (unshare needs one)" in status.reason
    assert "rootless mode unavailable" in rootless.describe_missing(["CAP_NET_ADMIN"])


# -- for real ---------------------------------------------------------------------------------


def as_user(uid: int, gid: int) -> list[str]:
    return ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups", "--inh-caps=-all"]


@pytest.fixture
def nobody_home() -> Iterator[Path]:
    """A directory the unprivileged user owns (tmp_path is root's, and private)."""
    try:
        user = pwd.getpwnam(NOBODY)
    except KeyError:
        pytest.skip(f"no user {NOBODY!r} on this machine")
    home = Path(tempfile.mkdtemp(prefix="pytest-macvlan-rootless-"))
    os.chown(home, user.pw_uid, user.pw_gid)
    try:
        yield home
    finally:
        shutil.rmtree(home, ignore_errors=True)


def python_for(user: pwd.struct_passwd, home: Path) -> tuple[list[str], dict[str, str], Path]:
    """An interpreter, environment and source tree the user can use: this venv's, or (when the
    venv's interpreter lives where the user may not go) the system's Python of the same version
    with this venv's packages; this checkout, or a copy of it the user owns."""
    env = {"HOME": str(home), "PATH": PATH, "PYTHONDONTWRITEBYTECODE": "1", "LANG": "C.UTF-8"}
    packages = os.pathsep.join(site.getsitepackages())
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    # ... and that can start itself again, as xdist does for its workers
    imports = (
        "import pytest_macvlan, pytest, xdist, pyroute2, scapy, subprocess, sys; "
        "subprocess.run([sys.executable, '-c', 'import pytest_macvlan'], check=True)"
    )
    candidates = [(sys.executable, ""), (f"/usr/bin/{version}", packages), (f"/usr/local/bin/{version}", packages)]
    tried = []
    for tree in (ROOT, None):
        if tree is None:  # the user cannot read the checkout: a copy it owns
            tree = home / "src"
            for part in ("pytest_macvlan", "tests", "scenarios"):
                shutil.copytree(ROOT / part, tree / part, ignore=shutil.ignore_patterns("__pycache__"))
            shutil.copy(ROOT / "pyproject.toml", tree)
            subprocess.run(["chown", "-R", f"{user.pw_uid}:{user.pw_gid}", str(tree)], check=True)
        for python, extra in candidates:
            if not Path(python).exists():
                continue
            run_env = {**env, "PYTHONPATH": os.pathsep.join(p for p in (str(tree), extra) if p)}
            done = subprocess.run(
                [*as_user(user.pw_uid, user.pw_gid), python, "-c", imports],
                env=run_env,
                cwd=home,
                capture_output=True,
                text=True,
            )
            if done.returncode == 0:
                return [python], run_env, tree
            tried.append(f"{python} with {tree}: {done.stderr.strip()[-300:]}")
    pytest.skip(f"user {user.pw_name} can run no Python with this project's packages: {tried}")


@needs_real_root
def test_the_suite_runs_rootless_as_an_unprivileged_user(nobody_home: Path) -> None:
    user = pwd.getpwnam(NOBODY)
    python, env, tree = python_for(user, nobody_home)
    kernel = [
        "tests/kernel/test_topology.py",
        "tests/kernel/test_misuse.py",
        "tests/kernel/test_plugin.py",
        "tests/kernel/test_programs.py",  # the supervisor: a PID namespace owned by the user namespace
    ]
    selection = ["scenarios", *kernel]
    done = subprocess.run(
        [
            *as_user(user.pw_uid, user.pw_gid),
            *python,
            "-m",
            "pytest",
            "-p",
            "pytest_macvlan",
            "-p",
            "no:cacheprovider",
            "--basetemp",
            str(nobody_home / "tmp"),
            "--netlab-require-privileges",  # a missing privilege is an error, not a skip
            "-n",
            "2",  # the xdist workers inherit the user namespace
            "-rfEs",
            *selection,
        ],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    out = done.stdout + done.stderr
    assert f"rootless (user namespace, uid {user.pw_uid} mapped to 0)" in out, out[-3000:]
    assert done.returncode == 0, out[-6000:]
    skips = [line for line in out.splitlines() if line.startswith("SKIPPED")]
    assert all("lacks" in line for line in skips), "only kernel features may be missing:\n" + "\n".join(skips)
    assert "CAP_" not in out and " passed" in out.splitlines()[-1], out[-3000:]


# An unprivileged process in a user namespace where user.max_user_namespaces is 0: the sysctl is
# per user namespace, so this disables user namespaces for that process only, not for the machine.
DISABLED = (
    "echo 0 > /proc/sys/user/max_user_namespaces && exec setpriv --bounding-set=-all --inh-caps=-all "
    '--securebits=+noroot,+noroot_locked,+no_setuid_fixup,+no_setuid_fixup_locked,+keep_caps_locked -- "$@"'
)


@needs_real_root
@pytest.mark.parametrize("require", [False, True], ids=["skip", "require-privileges"])
def test_without_user_namespaces_tests_are_skipped_naming_capability_and_sysctl(
    pytester: pytest.Pytester, require: bool
) -> None:
    if shutil.which("unshare") is None:
        pytest.skip("needs unshare (util-linux)")
    pytester.makepyfile("def test_x(netlab):\n    raise AssertionError('must not run')")
    argv = [sys.executable, "-m", "pytest", "-p", "pytest_macvlan", "-p", "no:cacheprovider", "-rs"]
    argv += ["--netlab-require-privileges"] if require else []
    done = subprocess.run(
        ["unshare", "--user", "--map-root-user", "--", "sh", "-c", DISABLED, "sh", *argv],
        cwd=pytester.path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    out = done.stdout + done.stderr
    assert "needs CAP_NET_ADMIN, CAP_SYS_ADMIN, CAP_NET_RAW" in out, out[-3000:]
    assert "user.max_user_namespaces = 0 (/proc/sys/user/max_user_namespaces)" in out, out[-3000:]
    if require:
        assert done.returncode == pytest.ExitCode.TESTS_FAILED and "1 error" in out, out[-3000:]
        assert "--netlab-require-privileges is set" in out
    else:
        assert done.returncode == pytest.ExitCode.OK and "1 skipped" in out, out[-3000:]
    assert Path("/proc/sys/user/max_user_namespaces").read_text().strip() != "0", "the machine's own is untouched"
