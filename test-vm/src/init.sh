#!/bin/sh
# Guest init (PID 1) of iu's QEMU tier. It prepares what BPF programs and
# their tests expect of a real system, runs the steps in /iu/run.sh, reports
# each step's exit status on the console with marker lines the host parses,
# and powers the machine off. Markers carry a per-run token so that program
# output cannot fake them.
export PATH=/bin:/sbin:/usr/bin:/usr/sbin HOME=/root TERM=linux
/bin/busybox --install -s /bin
IU_TOKEN=$(cat /iu/token)

mnt() {
    mkdir -p "$3"
    mount -t "$1" "$1" "$3" || echo "iu-vm: warning: cannot mount $1 on $3"
}
mnt proc x /proc
mnt sysfs x /sys
mnt devtmpfs x /dev
mnt devpts x /dev/pts
# No tmpfs on /tmp: the initramfs is already writable memory, and the
# project's files may live under /tmp (a checkout there keeps its path).
mkdir -p /tmp
mnt tmpfs x /run
mnt tracefs x /sys/kernel/tracing
mnt debugfs x /sys/kernel/debug
mnt securityfs x /sys/kernel/security
mnt bpf x /sys/fs/bpf
mnt cgroup2 x /sys/fs/cgroup
mkdir -p /root /var/tmp

# Modules in dependency order (veth, virtio_net, ...), when the kernel has
# them as modules; the host decompressed them.
if [ -s /iu/modules ]; then
    while read -r m; do
        insmod "/lib/modules/iu/$m.ko" || echo "iu-vm: warning: cannot load module $m"
    done </iu/modules
fi
ip link set lo up 2>/dev/null

status=0
# step N COMMAND ARGS...: runs one command and reports its exit status.
step() {
    n=$1
    shift
    "$@"
    c=$?
    echo "iu-vm-step-$IU_TOKEN: $n $c"
    [ "$c" -eq 0 ] || status=$c
}

echo "iu-vm-ready-$IU_TOKEN"
. /iu/run.sh
echo "iu-vm-exit-$IU_TOKEN: $status"
sync
poweroff -f
