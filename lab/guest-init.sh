#!/bin/sh
# PID 1 of a lab guest, before systemd.
#
# The root filesystem is the shared, read-only image on the host (hostfs).
# This script stacks the guest's private ext4 disk (ubda) on top of it with
# overlayfs, copies in the per-guest settings the lab wrote on the host
# (hostname, SSH keys, addresses), configures the network and hands over to
# systemd. It runs again on every boot of the guest, so the addresses come
# back after a reboot while everything the guest wrote stays on its disk.
set -eu
PATH=/usr/sbin:/usr/bin:/sbin:/bin
export PATH

mount -n -t proc proc /proc
mount -n -t sysfs sysfs /sys
mountpoint -q /dev || mount -n -t devtmpfs devtmpfs /dev

# The lab's kernel (lab/kernel.py) has everything built in: no modules to load.
grep -qw overlay /proc/filesystems || { echo "lab: this kernel has no overlayfs" >&2; exit 1; }

mount -n -t ext4 /dev/ubda /lab/disk
mkdir -p /lab/disk/upper /lab/disk/work
mount -n -t overlay overlay \
    -o lowerdir=/,upperdir=/lab/disk/upper,workdir=/lab/disk/work /lab/root

# Per-guest settings: a host directory given on the kernel command line. hostfs takes it as
# its `hostfs=` parameter through the new mount API (util-linux >= 2.39: Debian 13), as the
# whole option string through mount(2) (Debian 12).
cfg="${sitevpn_cfg:?sitevpn_cfg= missing on the kernel command line}"
mount -n -t hostfs hostfs -o "hostfs=$cfg" /lab/cfg 2>/dev/null || mount -n -t hostfs hostfs -o "$cfg" /lab/cfg
R=/lab/root
install -m 0644 /lab/cfg/hostname "$R/etc/hostname"
install -m 0444 /lab/cfg/machine-id "$R/etc/machine-id"
install -m 0644 /lab/cfg/hosts "$R/etc/hosts"
install -d -m 0700 "$R/root/.ssh"
install -m 0600 /lab/cfg/authorized_keys "$R/root/.ssh/authorized_keys"
install -m 0600 /lab/cfg/ssh_host_ed25519_key "$R/etc/ssh/ssh_host_ed25519_key"
install -m 0644 /lab/cfg/ssh_host_ed25519_key.pub "$R/etc/ssh/ssh_host_ed25519_key.pub"
install -D -m 0755 /lab/cfg/network.sh "$R/usr/local/sbin/sitevpn-lab-network"
hostname "$(cat /lab/cfg/hostname)"
umount /lab/cfg

mount -n --move /proc "$R/proc"
mount -n --move /sys "$R/sys"
mount -n --move /dev "$R/dev"

# Addresses, routes (and a NAT router's masquerade) before any service starts: no DHCP, no
# ifupdown. Inside the guest's own writable root: iptables wants a lock file under /run.
chroot "$R" /bin/sh /usr/local/sbin/sitevpn-lab-network
cd "$R"
mkdir -p lab/old
pivot_root . lab/old
exec chroot . /lib/systemd/systemd --system
