"""The guests' root filesystem: built once with debootstrap, cached, shared read-only.

An image is a directory tree on the host that every guest of that distro boots
from (hostfs, read-only); each guest writes only to its own disk (overlayfs).
The cache key is a hash of everything that shapes the tree (distro, package
lists, the guest init script) and the key of the lab's UML kernel the image
boots with (lab/kernel.py: all built in, no modules to copy), so changing any
of them rebuilds the image and nothing else does.

Libreswan is *not* installed in the image. Its packages (and their
dependencies) are downloaded into an offline package repository inside the
image, ``/srv/lab-repo``, which is the guests' only apt source: the install
role does real work, and no guest ever needs a route to a package registry.
The Debian mirror is read from the host's own apt configuration at build time.
"""

import fcntl
import glob
import hashlib
import os
import re
import shutil
import subprocess
import sys
import time

from . import kernel, paths

DISTROS = ("bookworm", "trixie")
DEFAULT_DISTRO = "bookworm"

# What every guest has at boot. ca-certificates and openssl are here because
# their maintainer scripts take 90 s under UML, not because Libreswan needs them
# preinstalled; python3-apt because Ansible's apt module needs it (without it,
# Ansible tries to install it from the network and waits on DNS); iptables
# because the firewall role's iptables backend (legacy and nft flavour) keeps a
# lab scenario of its own; the guests pick nftables by default.
BASE_PACKAGES = (
    "openssh-server", "python3", "python3-apt", "iproute2", "kmod", "iputils-ping",
    "nftables", "iptables", "tcpdump", "systemd-sysv", "procps", "ca-certificates", "openssl",
)
# What the offline repository offers (with all dependencies), in sets apt resolves one at a time: Debian's
# libreswan conflicts with strongswan-libcharon. Libreswan and node_exporter (the monitor role) for the gateways;
# strongSwan's charon and swanctl for the foreign-peer tests (a peer configured only from peer_config.yml's output).
OFFLINE_PACKAGE_SETS = (("libreswan", "prometheus-node-exporter"),
                        ("charon-systemd", "strongswan-swanctl", "libstrongswan-standard-plugins"))
OFFLINE_PACKAGES = tuple(name for group in OFFLINE_PACKAGE_SETS for name in group)

# Units that cost boot time and do nothing useful in a lab guest.
MASKED_UNITS = (
    "getty.target", "getty@tty1.service", "serial-getty@ttyS0.service", "console-getty.service",
    "apt-daily.timer", "apt-daily-upgrade.timer", "e2scrub_all.timer", "e2scrub_reap.service",
    "fstrim.timer", "systemd-binfmt.service", "proc-sys-fs-binfmt_misc.automount",
    "systemd-networkd-wait-online.service", "systemd-timesyncd.service",
)
IMAGE_FORMAT = "4"   # bump when the build steps below change in a way the hash cannot see
INIT_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "guest-init.sh")


def cache_key(distro):
    digest = hashlib.sha256()
    for part in (IMAGE_FORMAT, distro, " ".join(BASE_PACKAGES), " ".join(OFFLINE_PACKAGES),
                 " ".join(MASKED_UNITS), kernel.cache_key(kernel.resolve())):
        digest.update(part.encode() + b"\0")
    with open(INIT_SCRIPT, "rb") as handle:
        digest.update(handle.read())
    return digest.hexdigest()[:16]


def image_dir(distro):
    return os.path.join(paths.cache_root(), "images", "%s-%s" % (distro, cache_key(distro)))


def image_root(distro):
    return os.path.join(image_dir(distro), "root")


def is_built(distro):
    return os.path.exists(os.path.join(image_dir(distro), "complete"))


# -- the host's apt configuration ------------------------------------------------

def host_codename():
    with open("/etc/os-release") as handle:
        for line in handle:
            if line.startswith("VERSION_CODENAME="):
                return line.split("=", 1)[1].strip().strip('"')
    raise SystemExit("cannot tell the host's Debian codename from /etc/os-release")


def _host_apt_entries():
    """(uri, suite) pairs of the host's Debian 'main' sources, one-line and deb822 formats."""
    entries = []
    for path in ["/etc/apt/sources.list"] + sorted(glob.glob("/etc/apt/sources.list.d/*.list")):
        if not os.path.exists(path):
            continue
        with open(path) as handle:
            for line in handle:
                line = re.sub(r"\[[^]]*\]", "", line.split("#", 1)[0]).split()
                if len(line) >= 4 and line[0] == "deb" and "main" in line[3:]:
                    entries.append((line[1], line[2]))
    for path in sorted(glob.glob("/etc/apt/sources.list.d/*.sources")):
        with open(path) as handle:
            for stanza in re.split(r"\n\s*\n", handle.read()):
                fields = {}
                for line in stanza.splitlines():
                    if line.startswith("#") or ":" not in line:
                        continue
                    key, value = line.split(":", 1)
                    fields[key.strip().lower()] = value.split()
                if "deb" in fields.get("types", []) and "main" in fields.get("components", []):
                    for uri in fields.get("uris", []):
                        for suite in fields.get("suites", []):
                            entries.append((uri, suite))
    return entries


def mirrors_for(distro):
    """Map the host's sources for its own release onto ``distro``: [(uri, suite)].

    The first entry is the main archive (for debootstrap). Nothing here names
    a mirror: whatever the host uses, the lab uses.
    """
    host = host_codename()
    mapped = []
    for uri, suite in _host_apt_entries():
        if suite == host or suite.startswith(host + "-"):
            entry = (uri, distro + suite[len(host):])
            if entry not in mapped:
                mapped.append(entry)
    mapped.sort(key=lambda e: e[1] != distro)   # the release itself first
    if not mapped or mapped[0][1] != distro:
        raise SystemExit("no Debian 'main' source for %s in the host's apt configuration" % host)
    return mapped


# -- building ------------------------------------------------------------------------

def _run(cmd, log, **kwargs):
    log.write("\n$ %s\n" % " ".join(cmd))
    log.flush()
    result = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, **kwargs)
    if result.returncode != 0:
        raise RuntimeError("%s failed (exit %d), see %s" % (cmd[0], result.returncode, log.name))


def _chroot(root, args, log):
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive", LC_ALL="C", PATH="/usr/sbin:/usr/bin:/sbin:/bin")
    _run(["chroot", root] + args, log, env=env)


def build(distro, force=False, out=sys.stderr):
    """Build (or reuse) the image for ``distro``; returns its root directory."""
    if distro not in DISTROS:
        raise SystemExit("unknown distro %r (known: %s)" % (distro, ", ".join(DISTROS)))
    os.makedirs(os.path.join(paths.cache_root(), "images"), exist_ok=True)
    lock_path = os.path.join(paths.cache_root(), "images", ".lock-" + distro)
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if is_built(distro) and not force:
            return image_root(distro)
        final = image_dir(distro)
        work = final + ".build"
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(final, ignore_errors=True)
        os.makedirs(work)
        root = os.path.join(work, "root")
        started = time.time()
        out.write("lab: building the %s guest image in %s (once; cached)\n" % (distro, final))
        with open(os.path.join(work, "build.log"), "w") as log:
            _build_tree(distro, root, log)
        with open(os.path.join(work, "complete"), "w") as stamp:
            stamp.write("%s built in %.0f s\n" % (distro, time.time() - started))
        os.rename(work, final)
        _prune_old(distro, keep=final)
        out.write("lab: %s image ready in %.0f s\n" % (distro, time.time() - started))
        return image_root(distro)


def _build_tree(distro, root, log):
    sources = mirrors_for(distro)
    _run(["debootstrap", "--variant=minbase", "--include=" + ",".join(BASE_PACKAGES),
          distro, root, sources[0][0]], log)

    # 1. Offline repository: resolve and download Libreswan against this very tree.
    with open(os.path.join(root, "etc/apt/sources.list"), "w") as handle:
        for uri, suite in sources:
            handle.write("deb %s %s main\n" % (uri, suite))
    shutil.copy("/etc/resolv.conf", os.path.join(root, "etc/resolv.conf"))
    _chroot(root, ["apt-get", "clean"], log)
    _chroot(root, ["apt-get", "update", "-q"], log)
    for group in OFFLINE_PACKAGE_SETS:
        _chroot(root, ["apt-get", "install", "-y", "-q", "--download-only"] + list(group), log)
    repo = os.path.join(root, "srv/lab-repo")
    os.makedirs(repo)
    for deb in glob.glob(os.path.join(root, "var/cache/apt/archives/*.deb")):
        shutil.move(deb, repo)
    with open(os.path.join(repo, "Packages"), "w") as packages:
        subprocess.run(["dpkg-scanpackages", "-m", "."], cwd=repo, stdout=packages, stderr=log, check=True)

    # 2. From now on the guests know only that repository.
    with open(os.path.join(root, "etc/apt/sources.list"), "w") as handle:
        handle.write("# sitevpn lab: offline repository prepared on the host, no network needed\n"
                     "deb [trusted=yes] file:/srv/lab-repo ./\n")
    for leftover in glob.glob(os.path.join(root, "var/lib/apt/lists/*")):
        if os.path.isfile(leftover):
            os.unlink(leftover)
    _chroot(root, ["apt-get", "update", "-q"], log)
    _chroot(root, ["apt-get", "clean"], log)
    with open(os.path.join(root, "etc/resolv.conf"), "w") as handle:
        handle.write("# no DNS in the lab: lookups fail at once instead of timing out\n")
    with open(os.path.join(root, "etc/dpkg/dpkg.cfg.d/sitevpn-lab"), "w") as handle:
        handle.write("# lab guests are disposable: skip fsync, it is slow under UML\nforce-unsafe-io\n")

    # 3. Boot: our init, mount points, quiet systemd, sshd (the kernel has everything built in).
    shutil.copy(INIT_SCRIPT, os.path.join(root, "sbin/sitevpn-lab-init"))
    os.chmod(os.path.join(root, "sbin/sitevpn-lab-init"), 0o755)
    for mountpoint in ("lab/disk", "lab/root", "lab/cfg", "lab/old"):
        os.makedirs(os.path.join(root, mountpoint), exist_ok=True)
    _chroot(root, ["systemctl", "mask"] + list(MASKED_UNITS), log)
    for key in glob.glob(os.path.join(root, "etc/ssh/ssh_host_*")):
        os.unlink(key)
    with open(os.path.join(root, "etc/ssh/sshd_config.d/sitevpn-lab.conf"), "w") as handle:
        handle.write("PermitRootLogin prohibit-password\nUseDNS no\nHostKey /etc/ssh/ssh_host_ed25519_key\n")
    open(os.path.join(root, "etc/machine-id"), "w").close()


def _prune_old(distro, keep):
    for other in glob.glob(os.path.join(paths.cache_root(), "images", distro + "-*")):
        if os.path.abspath(other) != os.path.abspath(keep) and not other.endswith(".lock"):
            shutil.rmtree(other, ignore_errors=True)
