#!/bin/sh
# Run tests/kernel/sysctl_sweep.py in a user-mode Linux guest (a throwaway kernel: never on the
# host). Until `pytest-macvlan kernel run uml-6.1 -- ...` is on main, this boots the guest itself:
#
#   tests/kernel/run_sysctl_sweep.sh /path/to/linux.uml OUTDIR [MODULE_DIR]
#
# The guest sees the host's root read-only, /tmp and /run as tmpfs, and OUTDIR writable (the
# result: OUTDIR/sweep.json, OUTDIR/sweep.log). It runs in a network namespace of its own.
# MODULE_DIR (optional): a directory holding lib/modules/RELEASE, to load netfilter modules so
# that their sysctls are swept too.
set -eu
uml=$1 out=$(realpath "$2") moddir=${3:-}
repo=$(cd "$(dirname "$0")/../.." && pwd)
python=$repo/.venv/bin/python
work=$(mktemp -d /tmp/sysctl-sweep.XXXXXX)
mkdir -p "$out"
cat >"$work/init.sh" <<INIT
#!/bin/sh
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t tmpfs tmpfs /tmp; mount -t tmpfs tmpfs /run
mount -t hostfs none /mnt -o "$out"
if [ -n "$moddir" ]; then
  for m in nf_conntrack nf_tables br_netfilter ip_tables iptable_filter nf_log_syslog; do
    /usr/sbin/modprobe -d "$moddir" \$m 2>>/mnt/sweep.log || true
  done
fi
cd "$repo"
PYTHONDONTWRITEBYTECODE=1 "$python" tests/kernel/sysctl_sweep.py --in-a-throwaway-kernel /mnt/sweep.json >>/mnt/sweep.log 2>&1
echo \$? >/mnt/rc
sync
echo o >/proc/sysrq-trigger 2>/dev/null || true
INIT
chmod 755 "$work/init.sh"
unshare --net -- "$uml" mem=768M rootfstype=hostfs ro "init=$work/init.sh" "uml_dir=$work" \
  con0=null,fd:1 con=null ssl=null quiet >"$work/console.log" 2>&1 || true
cat "$out/rc" 2>/dev/null || { echo "the guest did not finish; console: $work/console.log" >&2; exit 1; }
