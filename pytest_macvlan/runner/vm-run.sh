#!/usr/bin/env bash
# vm-run.sh: run pytest (or any command) inside a throwaway VM booted from Debian's own kernel,
# for what the host kernel lacks (802.1Q VLANs, ...). The VM is virtme-ng (vng) on QEMU: it sees
# the host's filesystem (read-only, except the project directory (the current one) and
# PYTEST_MACVLAN_VM_RWDIR, which it can write), so the project's virtualenv runs inside as root.
# One VM boot per call; the guest's exit status is this script's. `pytest-macvlan kernel run
# debian-6.1` runs it with the kernel from its cache; ci/vm-run in the repository is a wrapper.
#
# Usage: vm-run.sh [options] [--] [pytest args...]
#   e.g. vm-run.sh -p pytest_macvlan -m vlan scenarios/ --junitxml=out/vm-junit.xml
# Options (only before the first pytest argument):
#   --kernel-dir DIR   boot the kernel unpacked in DIR (DIR/boot/vmlinuz-*, DIR/lib/modules/*)
#                      instead of Debian's linux-image-amd64 fetched into the cache
#   --command          the arguments are a whole command to run in the VM, not pytest's
#   --fetch-only       fetch and unpack the kernel into the cache, then exit (no VM)
#   --accel MODE       auto (default: KVM if a quick probe boots, else TCG), kvm or tcg
#   --memory SIZE      guest memory (default 2G);  --cpus N  guest CPUs (default 2)
#   -h, --help
# Environment: PYTEST_MACVLAN_KERNEL_CACHE (default ${XDG_CACHE_HOME:-$HOME/.cache}/pytest-macvlan/kernel),
#   PYTEST_MACVLAN_KERNEL_PACKAGE (default: what linux-image-amd64 depends on),
#   PYTEST_MACVLAN_VENV (default: the virtualenv of the python on PATH, else ./.venv),
#   PYTEST_MACVLAN_VM_PROJECT (default: the current directory), PYTEST_MACVLAN_VM_RWDIR, PYTEST_MACVLAN_VM_ACCEL, PYTEST_MACVLAN_VM_MEMORY,
#   PYTEST_MACVLAN_VM_CPUS, PYTEST_MACVLAN_VM_TIMEOUT (seconds, default 900),
#   PYTEST_MACVLAN_VM_MODULES (loaded in the guest first; default "8021q br_netfilter").
# Needs (ci/vm-setup installs them): apt qemu-system-x86 kmod busybox-static file binutils xz-utils;
#   pip virtme-ng.
set -uo pipefail

REPO=$(cd "${PYTEST_MACVLAN_VM_PROJECT:-$PWD}" && pwd)
SELF="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")"

say() { echo "vm-run: $*" >&2; }
die() { echo "vm-run: error: $*" >&2; exit 2; }

# ---------------------------------------------------------------------------------------------
# Guest side: `ci/vm-run --in-guest WORKDIR` is what the VM runs (as root, cwd = the repo).
# ---------------------------------------------------------------------------------------------
in_guest() {
    local work=$1 kv p n rc
    # virtme-ng's init finds its I/O ports (stdout, stderr, exit status) through udev's
    # /dev/virtio-ports/<name> links. Without udev on the host filesystem (a container or a
    # minimal Debian) it falls back to the serial console, which vng only shows with boot noise
    # and without the exit status. Make the links ourselves and reattach stdout/stderr to them.
    if [[ ! -e /dev/virtio-ports/virtme.stdout && -d /sys/class/virtio-ports ]]; then
        mkdir -p /dev/virtio-ports
        for p in /sys/class/virtio-ports/vport*; do
            [[ -r $p/name ]] || continue
            n=$(<"$p/name")
            [[ -n $n ]] && ln -sfn "/dev/${p##*/}" "/dev/virtio-ports/$n"
        done
        if [[ -e /dev/virtio-ports/virtme.stdout && -e /dev/virtio-ports/virtme.stderr ]]; then
            exec </dev/null >/dev/virtio-ports/virtme.stdout 2>/dev/virtio-ports/virtme.stderr
        fi
    fi

    while IFS= read -r -d '' kv; do export "${kv?}"; done <"$work/env"
    local -a argv
    mapfile -d '' -t argv <"$work/argv"
    export PATH="$VM_RUN_VENV/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    export VIRTUAL_ENV="$VM_RUN_VENV" PYTHONUNBUFFERED=1
    # The lane's name in the claims JSON (--claims-json: "kernel": {"name": ...}).
    export PYTEST_MACVLAN_KERNEL_NAME="${PYTEST_MACVLAN_KERNEL_NAME:-vng-$(uname -r)}"
    cd "$VM_RUN_REPO" || exit 2

    # Modules to load first: 8021q to check VLANs, br_netfilter because the host kernel this
    # project runs on has it built in (bridged IPv4 traverses iptables), as Docker hosts do.
    local vlan=missing m
    for m in ${PYTEST_MACVLAN_VM_MODULES-8021q br_netfilter}; do
        modprobe -q "$m" || echo "vm-run[guest]: modprobe $m failed" >&2
    done
    modprobe -q 8021q 2>/dev/null
    [[ -e /proc/net/vlan/config ]] && vlan=ok
    echo "vm-run[guest]: kernel $(uname -r), $(nproc) CPUs, $(awk '/MemTotal/{printf "%d MiB", $2/1024}' /proc/meminfo)," \
        "booted in $(cut -d' ' -f1 /proc/uptime) s, 802.1Q VLAN: $vlan, modules loaded:" \
        "${PYTEST_MACVLAN_VM_MODULES-8021q br_netfilter}; running: ${argv[*]}" >&2

    "${argv[@]}"
    rc=$?
    echo "$rc" >"$work/status"
    sync
    exit "$rc"
}

if [[ ${1:-} == --in-guest ]]; then
    in_guest "$2"
fi

# ---------------------------------------------------------------------------------------------
# Host side.
# ---------------------------------------------------------------------------------------------
usage() { sed -n '2,/^set -uo/{/^set -uo/d;s/^# \{0,1\}//;p}' "$SELF"; }

KERNEL_DIR=
MODE=pytest
FETCH_ONLY=0
ACCEL=${PYTEST_MACVLAN_VM_ACCEL:-auto}
MEMORY=${PYTEST_MACVLAN_VM_MEMORY:-2G}
CPUS=${PYTEST_MACVLAN_VM_CPUS:-2}
TIMEOUT=${PYTEST_MACVLAN_VM_TIMEOUT:-900}
VENV=${PYTEST_MACVLAN_VENV:-${VIRTUAL_ENV:-$REPO/.venv}}
CACHE=${PYTEST_MACVLAN_KERNEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pytest-macvlan/kernel}
KVM_PROBE_SECONDS=5

while (($#)); do
    case $1 in
    --kernel-dir) KERNEL_DIR=${2:?--kernel-dir needs a directory}; shift 2 ;;
    --kernel-dir=*) KERNEL_DIR=${1#*=}; shift ;;
    --command) MODE="command"; shift ;;
    --fetch-only) FETCH_ONLY=1; shift ;;
    --accel) ACCEL=${2:?--accel needs auto, kvm or tcg}; shift 2 ;;
    --accel=*) ACCEL=${1#*=}; shift ;;
    --memory) MEMORY=${2:?}; shift 2 ;;
    --memory=*) MEMORY=${1#*=}; shift ;;
    --cpus) CPUS=${2:?}; shift 2 ;;
    --cpus=*) CPUS=${1#*=}; shift ;;
    -h | --help) usage; exit 0 ;;
    --) shift; break ;;
    *) break ;; # the first argument that is not ours: the rest is pytest's (or the command)
    esac
done
case $ACCEL in auto | kvm | tcg) ;; *) die "--accel must be auto, kvm or tcg, not '$ACCEL'" ;; esac
[[ $MODE == command && $# -eq 0 && $FETCH_ONLY -eq 0 ]] && die "--command needs a command"
cd "$REPO" || exit 2

find_tool() { # name, then fallbacks (sbin is often not on a user's PATH)
    local t
    for t in "$@"; do
        if [[ $t == /* ]]; then [[ -x $t ]] && { echo "$t"; return 0; }
        else command -v "$t" 2>/dev/null && return 0
        fi
    done
    return 1
}

# --- prerequisites --------------------------------------------------------------------------
missing_apt=()
find_tool dpkg-deb >/dev/null || missing_apt+=(dpkg)
DEPMOD=$(find_tool depmod /usr/sbin/depmod /sbin/depmod) || missing_apt+=(kmod)
if ((!FETCH_ONLY)); then
    find_tool qemu-system-x86_64 >/dev/null || missing_apt+=(qemu-system-x86)
    find_tool busybox >/dev/null || missing_apt+=(busybox-static)
    find_tool file >/dev/null || missing_apt+=(file)           # vng reads the kernel's version
    find_tool strings >/dev/null || missing_apt+=(binutils)    # ... from an ELF vmlinux
    find_tool xz >/dev/null || missing_apt+=(xz-utils)
    [[ -x /sbin/modprobe || -x /usr/sbin/modprobe ]] || missing_apt+=(kmod) # modprobe in the guest
fi
missing_pip=()
VNG=
if ((!FETCH_ONLY)); then
    [[ -x $VENV/bin/python ]] || die "no virtualenv at $VENV (set PYTEST_MACVLAN_VENV to the virtualenv that has pytest-macvlan)"
    VNG=$(find_tool "$VENV/bin/vng" vng) || missing_pip+=(virtme-ng)
    if [[ -n $VNG && ! -x $(dirname "$VNG")/virtme-run ]]; then missing_pip+=(virtme-ng); fi
fi
if ((${#missing_apt[@]} + ${#missing_pip[@]})); then
    say "missing prerequisites; install them (as root):"
    ((${#missing_apt[@]})) && say "  apt-get install --no-install-recommends $(printf '%s\n' "${missing_apt[@]}" | sort -u | tr '\n' ' ')"
    ((${#missing_pip[@]})) && say "  $VENV/bin/python -m pip install virtme-ng"
    exit 2
fi

# --- kernel ---------------------------------------------------------------------------------
KIMG="" KVER=""

use_tree() { # DIR: an unpacked kernel package (boot/vmlinuz-VER and lib/modules/VER)
    local dir=$1 img
    img=$(ls -1 "$dir"/boot/vmlinuz-* 2>/dev/null | sort -V | tail -n 1)
    [[ -n $img ]] || die "no boot/vmlinuz-* in $dir"
    KVER=${img##*/vmlinuz-}
    [[ -d $dir/lib/modules/$KVER ]] || die "no lib/modules/$KVER in $dir (the modules of $img)"
    if [[ ! -s $dir/lib/modules/$KVER/modules.dep ]]; then
        "$DEPMOD" -b "$dir" "$KVER" || die "depmod -b $dir $KVER failed"
        say "generated the module index (depmod) in $dir/lib/modules/$KVER"
    fi
    KIMG=$img
    # Under software emulation, unpacking the xz-compressed bzImage takes the guest 7-12 s at
    # every boot. Unpack it once here: QEMU boots the ELF vmlinux directly (PVH entry point).
    local elf="$dir/boot/vmlinux-$KVER" off
    if [[ ! -s $elf ]] && command -v xz >/dev/null && command -v strings >/dev/null; then
        off=$(LC_ALL=C grep -obUaP '\xfd7zXZ\x00' "$img" | head -n 1 | cut -d: -f1)
        if [[ -n $off ]] && { tail -c +$((off + 1)) "$img" | xz -dcq >"$elf.tmp" 2>/dev/null; [[ -s $elf.tmp ]]; } &&
            [[ $(head -c 4 "$elf.tmp") == $'\x7fELF' ]]; then
            mv "$elf.tmp" "$elf" && say "kernel: unpacked $img to $elf (boots faster)"
        else
            rm -f "$elf.tmp"
        fi
    fi
    [[ -s $elf ]] && KIMG=$elf
    return 0
}

fetch_kernel() {
    local arch pkg ver dir tmp deb kver old
    arch=$(dpkg --print-architecture 2>/dev/null)
    [[ $arch == amd64 ]] || die "only amd64 is supported (this is '$arch')"
    mkdir -p "$CACHE" || die "cannot create $CACHE"
    exec 9>"$CACHE/.lock"
    flock 9 # two runs at once: the second waits for the first's download

    pkg=${PYTEST_MACVLAN_KERNEL_PACKAGE:-}
    if [[ -z $pkg ]]; then
        pkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
            sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*\)$/\1/p' | head -n 1)
    fi
    ver=
    [[ -n $pkg ]] && ver=$(apt-cache policy "$pkg" 2>/dev/null | awk '$1 == "Candidate:" {print $2}')
    if [[ -z $pkg || -z $ver || $ver == "(none)" ]]; then
        dir=$(ls -1dt "$CACHE"/linux-image-*/ 2>/dev/null | while read -r d; do
            [[ -f $d/.complete ]] && { echo "${d%/}"; break; }; done)
        [[ -n $dir ]] || die "cannot find Debian's kernel package ${pkg:-linux-image-amd64} in apt's lists: run 'apt-get update'"
        say "kernel: apt does not know ${pkg:-linux-image-amd64}; using the cached $dir"
        use_tree "$dir"
        exec 9>&-
        return
    fi

    dir="$CACHE/${pkg}_${ver//:/%3a}"
    if [[ -f $dir/.complete ]]; then
        say "kernel: using cached Debian package $pkg $ver from $dir"
    else
        tmp=$(mktemp -d "$CACHE/.fetch.XXXXXX") || die "cannot create a directory in $CACHE"
        chmod 755 "$tmp"
        say "kernel: downloading Debian package $pkg=$ver (about 70 MB) into $tmp (apt-get download; not installed system-wide)"
        local -a apt_opts=(-q=2)
        ((EUID == 0)) && apt_opts+=(-o APT::Sandbox::User=root) # _apt cannot enter a private $HOME
        if ! (cd "$tmp" && apt-get download "${apt_opts[@]}" "$pkg=$ver"); then
            rm -rf "$tmp"
            die "apt-get download $pkg=$ver failed"
        fi
        deb=$(ls -1 "$tmp"/*.deb | head -n 1)
        dpkg-deb -x "$deb" "$tmp/root" || { rm -rf "$tmp"; die "dpkg-deb -x $deb failed"; }
        kver=$(ls -1 "$tmp"/root/boot/vmlinuz-* 2>/dev/null | head -n 1)
        kver=${kver##*/vmlinuz-}
        [[ -n $kver ]] || { rm -rf "$tmp"; die "$deb holds no boot/vmlinuz-*"; }
        "$DEPMOD" -b "$tmp/root" "$kver" || { rm -rf "$tmp"; die "depmod -b failed"; }
        echo "$pkg $ver $kver" >"$tmp/root/.complete"
        rm -rf "$dir"
        mv "$tmp/root" "$dir" && rm -rf "$tmp"
        say "kernel: unpacked $pkg $ver (vmlinuz-$kver and its modules, $(du -sh "$dir" | cut -f1)) into $dir, module index made with depmod -b"
        for old in "$CACHE"/linux-image-*; do
            [[ -d $old && $old != "$dir" ]] || continue
            rm -rf "$old" && say "kernel: removed the older cached kernel $old"
        done
    fi
    use_tree "$dir"
    exec 9>&-
}

if [[ -n $KERNEL_DIR ]]; then
    [[ -d $KERNEL_DIR ]] || die "--kernel-dir $KERNEL_DIR is not a directory"
    use_tree "$(cd "$KERNEL_DIR" && pwd)"
    say "kernel: using $KIMG from --kernel-dir"
else
    fetch_kernel
fi
((FETCH_ONLY)) && { say "kernel ready: $KIMG"; exit 0; }

# --- work dir (argv, env, exit status shared with the guest) --------------------------------
WORK=$(mktemp -d "${TMPDIR:-/tmp}/pytest-macvlan-vm.XXXXXX") || die "mktemp failed"
QEMU_PROBE_PID="" VM_PIPE_PID=""
# shellcheck disable=SC2317 # called by the traps
cleanup() {
    [[ -n $QEMU_PROBE_PID ]] && kill -9 "$QEMU_PROBE_PID" 2>/dev/null
    if [[ -n $VM_PIPE_PID ]]; then # interrupted: stop the VM (timeout passes it on to vng, QEMU)
        [[ -s $WORK/timeout.pid ]] && kill -TERM "$(<"$WORK/timeout.pid")" 2>/dev/null
        wait "$VM_PIPE_PID" 2>/dev/null
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [[ $MODE == pytest ]]; then
    printf '%s\0' "$VENV/bin/python" -m pytest "$@" >"$WORK/argv"
else
    printf '%s\0' "$@" >"$WORK/argv"
fi
{
    printf '%s\0' "VM_RUN_REPO=$REPO" "VM_RUN_VENV=$VENV"
    while IFS= read -r -d '' kv; do
        case ${kv%%=*} in
        CI | PYTEST_ADDOPTS | PYTEST_MACVLAN_* | COLUMNS | NO_COLOR | FORCE_COLOR | PY_COLORS | PYTHONHASHSEED | \
            PYTHONDONTWRITEBYTECODE | LANG | LC_ALL)
            printf '%s\0' "$kv" ;;
        esac
    done < <(env -0)
} >"$WORK/env"

# --- acceleration ---------------------------------------------------------------------------
# /dev/kvm may exist and still not work (nested virtualization that aborts or hangs): boot the
# kernel under KVM with no root filesystem and wait a few seconds for its first console line.
probe_kvm() {
    local i log="$WORK/kvm-probe.log" boot_id memo="$CACHE/.kvm-probe"
    [[ -r /dev/kvm && -w /dev/kvm ]] || { PROBE_WHY="/dev/kvm is missing or not accessible"; return 1; }
    # A failed probe is remembered until the host reboots (it costs KVM_PROBE_SECONDS).
    boot_id=$(cat /proc/sys/kernel/random/boot_id 2>/dev/null)
    if [[ -n $boot_id && -f $memo && $(head -n 1 "$memo") == "$boot_id" ]]; then
        PROBE_WHY="$(tail -n 1 "$memo"), remembered since this host booted; rm $memo to probe again"
        return 1
    fi
    : >"$log"
    qemu-system-x86_64 -accel kvm -cpu host -m 128 -smp 1 -nodefaults -display none -no-reboot \
        -serial "file:$log" -kernel "$KIMG" -append "console=ttyS0 earlyprintk=serial panic=-1" \
        </dev/null >"$WORK/kvm-probe.err" 2>&1 &
    QEMU_PROBE_PID=$!
    for ((i = 0; i < KVM_PROBE_SECONDS * 10; i++)); do
        grep -q "Linux version" "$log" && break
        kill -0 "$QEMU_PROBE_PID" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$QEMU_PROBE_PID" 2>/dev/null; then
        PROBE_WHY="a kernel under KVM printed nothing in ${KVM_PROBE_SECONDS} s"
    else
        PROBE_WHY="QEMU with KVM failed: $(grep -m 1 . "$WORK/kvm-probe.err")"
    fi
    kill "$QEMU_PROBE_PID" 2>/dev/null
    for ((i = 0; i < 20; i++)); do kill -0 "$QEMU_PROBE_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$QEMU_PROBE_PID" 2>/dev/null
    wait "$QEMU_PROBE_PID" 2>/dev/null
    QEMU_PROBE_PID=""
    grep -q "Linux version" "$log" && { rm -f "$memo"; return 0; }
    [[ -n $boot_id ]] && printf '%s\n%s\n' "$boot_id" "$PROBE_WHY" >"$memo" 2>/dev/null
    return 1
}
PROBE_WHY=
case $ACCEL in
auto)
    if probe_kvm; then ACCEL=kvm; say "accel: KVM (probe booted a kernel)"
    else ACCEL=tcg; say "accel: TCG software emulation, slow ($PROBE_WHY)"
    fi ;;
kvm) say "accel: KVM (forced)" ;;
tcg) say "accel: TCG software emulation (forced)" ;;
esac

# --- run ------------------------------------------------------------------------------------
vng_args=(--run "$KIMG" --force-9p --user root --memory "$MEMORY" --cpus "$CPUS" --rwdir "$REPO" --rwdir "$WORK")
[[ -n ${PYTEST_MACVLAN_VM_RWDIR:-} ]] && vng_args+=(--rwdir "$PYTEST_MACVLAN_VM_RWDIR")
[[ $ACCEL == tcg ]] && vng_args+=(--disable-kvm)
guest_cmd=$(printf '%q ' bash "$SELF" --in-guest "$WORK")

run_vng() {
    local pid rc
    PATH="$(dirname "$VNG"):$PATH" timeout -k 30 "$TIMEOUT" "$VNG" "${vng_args[@]}" -- "$guest_cmd" </dev/null &
    pid=$!
    echo "$pid" >"$WORK/timeout.pid"
    wait "$pid"
    rc=$?
    rm -f "$WORK/timeout.pid"
    echo "$rc" >"$WORK/vng.rc"
}

say "booting $KVER with virtme-ng ($ACCEL, $CPUS CPUs, $MEMORY; $REPO writable; timeout ${TIMEOUT} s)"
start=$(date +%s)
# QEMU opens the guest's stdout/stderr as files with O_TRUNC: if ours were a log file, it would
# be truncated and overwritten. Hand it pipes instead. In the background, so that a signal to
# this script is handled at once (see cleanup).
({ run_vng 2>&1 1>&3 3>&- | cat >&2 3>&-; } 3>&1 | cat) &
VM_PIPE_PID=$!
wait "$VM_PIPE_PID"
VM_PIPE_PID=

vng_rc=$(cat "$WORK/vng.rc" 2>/dev/null || echo 255)
elapsed=$(($(date +%s) - start))
if [[ -s $WORK/status ]]; then
    rc=$(<"$WORK/status")
    say "VM done in ${elapsed} s; guest command exit status $rc"
else
    rc=$vng_rc
    ((rc == 0)) && rc=1
    [[ $vng_rc == 124 || $vng_rc == 137 ]] && say "VM killed after the ${TIMEOUT} s timeout (PYTEST_MACVLAN_VM_TIMEOUT)"
    say "VM ended after ${elapsed} s without the guest command's exit status (vng exit $vng_rc): it did not run or did not finish"
fi
exit "$rc"
