"""The lab's own User-Mode Linux kernel: built once from the distribution's kernel source, cached.

Why not Debian's ``user-mode-linux`` package: its kernels (6.1 in Debian 12, 6.12 in Debian 13)
panic at the guest's first process on Intel hosts with AMX (``ptrace set fp regs failed, errno =
14``: they hand the host a fixed-size FPU buffer, smaller than the CPU's XSAVE area), and the one in
unstable (7.x) has no nf_tables for inet/ip/ip6 and no legacy iptables. Newer kernels size that
buffer from the host, so the lab builds one, the same way on every host: no fallback.

Where the source comes from: the newest ``linux-source-X.Y`` (X.Y at least ``MIN_SERIES``) that
the host's own Debian mirror offers in any of its suites, found by reading the suites' package
indexes (never a hard-coded version the mirror may drop). The mirror is the one in the host's apt
configuration, as for the guest images. ``SITEVPN_LAB_KERNEL_SOURCE`` may name a local
``linux-source-*.deb`` or ``linux-*.tar.xz`` instead (offline hosts).

What goes in: ``make ARCH=um defconfig`` plus ``kernel/lab.config`` (everything built in, no
modules), merged with ``scripts/kconfig/merge_config.sh``, then ``make olddefconfig``; every
option the fragment sets is checked afterwards, so an option renamed upstream fails the build with
its name instead of vanishing silently.

Cache: ``<cache>/kernels/<version>-<key>/linux``, the key a hash of the source version and the
fragment; the guest images' key includes it. The index lookup is remembered for a day.
"""

import fcntl
import functools
import glob
import hashlib
import json
import lzma
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

from . import paths

FRAGMENT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "kernel", "lab.config")
KERNEL_FORMAT = "1"              # bump when the build steps change in a way the key cannot see
MIN_SERIES = (6, 15)             # the first series whose UML sizes its FPU buffer from the host
INDEX_MAX_AGE = 24 * 3600        # how long a lookup of the mirror's indexes is trusted
BUILD_PACKAGES = ("flex", "bison", "bc", "libelf-dev", "gcc", "make", "xz-utils")
SOURCE_ENV = "SITEVPN_LAB_KERNEL_SOURCE"
# Objects compiled by a build with this fragment (7.2, measured): the progress line's denominator.
EXPECTED_OBJECTS = 1260


class KernelError(SystemExit):
    """The kernel cannot be had: the message says why and what to do."""


def _log(out, text):
    out.write("lab: %s\n" % text)
    out.flush()


# -- which source ---------------------------------------------------------------------------------

def _kernel_root():
    return os.path.join(paths.cache_root(), "kernels")


def candidate_suites(host):
    """The suites of the host's mirror that may carry a recent linux-source, newest first."""
    return ["unstable", "testing", "stable-backports", "stable", host + "-backports", host]


def _mirror_uris():
    from . import image   # the host's apt configuration is read in one place
    host = image.host_codename()
    uris = []
    for uri, suite in image._host_apt_entries():
        if (suite == host or suite.startswith(host + "-")) and not suite.endswith("-security"):
            uri = uri.rstrip("/")
            if uri not in uris:
                uris.append(uri)
    if not uris:
        raise KernelError("lab: no Debian 'main' source for %s in the host's apt configuration: "
                          "cannot fetch a kernel source (or set %s to a linux-source .deb)" % (host, SOURCE_ENV))
    return host, uris


def _fetch(url, timeout=60):
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.read()


def parse_packages(text):
    """linux-source-X.Y stanzas of a Packages index: [{package, version, filename, sha256, size}]."""
    found = []
    for stanza in text.split("\n\n"):
        match = re.search(r"^Package: (linux-source-(\d+)\.(\d+))$", stanza, re.M)
        if not match:
            continue
        fields = dict(re.findall(r"^(Version|Filename|SHA256|Size): (\S+)$", stanza, re.M))
        if not {"Version", "Filename", "SHA256"} <= set(fields):
            continue
        found.append({"package": match.group(1), "series": [int(match.group(2)), int(match.group(3))],
                      "version": fields["Version"], "filename": fields["Filename"],
                      "sha256": fields["SHA256"], "size": int(fields.get("Size", 0))})
    return found


def _dpkg_compare(a, b):
    if a == b:
        return 0
    newer = subprocess.run(["dpkg", "--compare-versions", a, "gt", b]).returncode == 0
    return 1 if newer else -1


def newest(candidates, minimum=MIN_SERIES):
    """The newest source of the newest series at or above ``minimum``; None if there is none."""
    usable = [c for c in candidates if tuple(c["series"]) >= tuple(minimum)]
    if not usable:
        return None
    top = max(tuple(c["series"]) for c in usable)
    same = [c for c in usable if tuple(c["series"]) == top]
    return max(same, key=functools.cmp_to_key(lambda x, y: _dpkg_compare(x["version"], y["version"])))


def resolve(out=sys.stderr, refresh=False):
    """Where the kernel source comes from: a dict with version, url (or path), sha256."""
    local = os.environ.get(SOURCE_ENV)
    if local:
        if not os.path.isfile(local):
            raise KernelError("lab: %s=%s is not a file" % (SOURCE_ENV, local))
        base = os.path.basename(local)
        # linux-source-7.2_7.2.13-1_all.deb: the Debian version; linux-7.2.13.tar.xz: the upstream one
        match = re.search(r"_(\d+\.\d+[^_]*)_", base) or re.search(r"(\d+\.\d+(?:\.\d+)?)", base)
        with open(local, "rb") as handle:
            digest = hashlib.sha256()
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        return {"version": match.group(1) if match else "local", "path": local, "sha256": digest.hexdigest(),
                "package": os.path.basename(local)}
    remembered = os.path.join(_kernel_root(), "source.json")
    if not refresh and os.path.exists(remembered) and time.time() - os.path.getmtime(remembered) < INDEX_MAX_AGE:
        with open(remembered) as handle:
            return json.load(handle)
    host, uris = _mirror_uris()
    found, tried, errors = [], [], []
    for uri in uris:
        for suite in candidate_suites(host):
            url = "%s/dists/%s/main/binary-all/Packages.xz" % (uri, suite)
            tried.append("%s (%s)" % (suite, uri))
            try:
                text = lzma.decompress(_fetch(url)).decode("utf-8", "replace")
            except urllib.error.HTTPError as exc:
                if exc.code != 404:
                    errors.append("%s: HTTP %s" % (url, exc.code))
                continue
            except (OSError, lzma.LZMAError) as exc:
                errors.append("%s: %s" % (url, exc))
                continue
            for entry in parse_packages(text):
                entry.update(suite=suite, url="%s/%s" % (uri, entry["filename"]))
                found.append(entry)
    choice = newest(found)
    if choice is None:
        if os.path.exists(remembered):   # offline, but a source was found before: keep using it
            _log(out, "cannot read the mirror's package indexes now (%s); using the kernel source found before"
                 % ("; ".join(errors) or "no linux-source"))
            with open(remembered) as handle:
                return json.load(handle)
        raise KernelError(
            "lab: no linux-source-X.Y with X.Y >= %d.%d in the host's mirror (suites tried: %s)%s.\n"
            "The lab builds its own UML kernel from it (Debian's packaged UML kernels panic on Intel hosts with "
            "AMX). Add a suite that has one to the mirror, or set %s to a linux-source .deb or kernel tarball."
            % (MIN_SERIES + (", ".join(tried), "; errors: " + "; ".join(errors) if errors else "", SOURCE_ENV)))
    os.makedirs(_kernel_root(), exist_ok=True)
    with open(remembered + ".tmp", "w") as handle:
        json.dump(choice, handle, indent=1)
    os.rename(remembered + ".tmp", remembered)
    return choice


# -- the cache ------------------------------------------------------------------------------------

def fragment_text():
    with open(FRAGMENT) as handle:
        return handle.read()


def cache_key(source):
    digest = hashlib.sha256()
    for part in (KERNEL_FORMAT, source["version"], source["sha256"], fragment_text()):
        digest.update(part.encode() + b"\0")
    return digest.hexdigest()[:16]


def kernel_dir(source):
    return os.path.join(_kernel_root(), "%s-%s" % (re.sub(r"[^0-9A-Za-z.+~-]", "_", source["version"]),
                                                   cache_key(source)))


def wanted_options(text=None):
    """{CONFIG_X: 'y' | 'n' | value} as the fragment sets them."""
    options = {}
    for line in (text if text is not None else fragment_text()).splitlines():
        line = line.strip()
        unset = re.match(r"^# (CONFIG_\w+) is not set$", line)
        if unset:
            options[unset.group(1)] = "n"
        elif re.match(r"^CONFIG_\w+=", line):
            key, value = line.split("=", 1)
            options[key] = value
    return options


def missing_options(config_text, wanted):
    """Options of the fragment that `make olddefconfig` did not keep: [(option, wanted, got)]."""
    have = {}
    for line in config_text.splitlines():
        unset = re.match(r"^# (CONFIG_\w+) is not set$", line)
        if unset:
            have[unset.group(1)] = "n"
        elif line.startswith("CONFIG_") and "=" in line:
            key, value = line.split("=", 1)
            have[key] = value
    missing = []
    for key, value in sorted(wanted.items()):
        got = have.get(key, "n")
        if got != value:
            missing.append((key, value, got))
    return missing


def path(out=sys.stderr):
    """The lab's kernel binary, built first if it is not in the cache."""
    return build(out=out)


def release_of(binary):
    """`uname -r` of a built kernel, as recorded at build time."""
    stamp = os.path.join(os.path.dirname(binary), "complete")
    with open(stamp) as handle:
        return json.load(handle)["release"]


def build(force=False, out=sys.stderr):
    source = resolve(out=out)
    final = kernel_dir(source)
    binary = os.path.join(final, "linux")
    if os.path.exists(os.path.join(final, "complete")) and not force:
        return binary
    os.makedirs(_kernel_root(), exist_ok=True)
    with open(os.path.join(_kernel_root(), ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if os.path.exists(os.path.join(final, "complete")) and not force:
            return binary
        _check_build_tools()
        work = final + ".build"
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(final, ignore_errors=True)
        os.makedirs(work)
        started = time.time()
        cores = os.cpu_count() or 1
        _log(out, "building the lab's UML kernel %s from %s with %d cores (once; cached in %s). "
                  "Expect about %d min." % (source["version"], source["package"], cores, final,
                                            max(2, round(11.0 / cores))))
        log_path = os.path.join(work, "build.log")
        with open(log_path, "w") as log:
            tree = _unpack(source, work, log, out)
            _configure(tree, log, log_path)
            _compile(tree, cores, log, log_path, out, started)
            release = subprocess.run(["make", "-s", "ARCH=um", "kernelrelease"], cwd=tree, stdout=subprocess.PIPE,
                                     universal_newlines=True, check=True).stdout.strip()
            shutil.copy(os.path.join(tree, "linux"), os.path.join(work, "linux"))
            subprocess.run(["strip", os.path.join(work, "linux")], check=True, stdout=log, stderr=log)
            shutil.copy(os.path.join(tree, ".config"), os.path.join(work, "config"))
        shutil.rmtree(os.path.join(work, "src"), ignore_errors=True)
        with open(os.path.join(work, "complete"), "w") as stamp:
            json.dump({"version": source["version"], "release": release, "seconds": round(time.time() - started),
                       "cores": cores, "key": cache_key(source)}, stamp)
        os.rename(work, final)
        _prune_old(keep=final)
        _log(out, "UML kernel %s (%s) ready in %.0f s: %s" % (source["version"], release, time.time() - started,
                                                              binary))
        return binary


def _check_build_tools():
    missing = [tool for tool in ("flex", "bison", "bc", "gcc", "make", "strip") if not shutil.which(tool)]
    if not os.path.exists("/usr/include/libelf.h"):
        missing.append("libelf-dev")
    if missing:
        raise KernelError("lab: building the UML kernel needs %s (Debian: apt-get install %s; `make setup` does it)"
                          % (", ".join(missing), " ".join(BUILD_PACKAGES)))


def _unpack(source, work, log, out):
    """The source tree, unpacked under ``work/src``; the download is kept for the next build."""
    downloads = os.path.join(_kernel_root(), "downloads")
    os.makedirs(downloads, exist_ok=True)
    archive = source.get("path")
    if not archive:
        archive = os.path.join(downloads, os.path.basename(source["filename"]))
        if not os.path.exists(archive) or _sha256(archive) != source["sha256"]:
            _log(out, "fetching %s (%d MB) from %s" % (source["package"], source.get("size", 0) // 2**20,
                                                      source["url"].split("/pool/")[0]))
            try:
                with urllib.request.urlopen(source["url"], timeout=120) as response, \
                        open(archive + ".part", "wb") as handle:
                    shutil.copyfileobj(response, handle, 1 << 20)
            except (OSError, urllib.error.URLError) as exc:
                raise KernelError("lab: cannot fetch the kernel source %s: %s (set %s to a local copy)"
                                  % (source["url"], exc, SOURCE_ENV))
            if _sha256(archive + ".part") != source["sha256"]:
                raise KernelError("lab: %s does not match the SHA256 of the mirror's index" % source["url"])
            os.rename(archive + ".part", archive)
            for old in glob.glob(os.path.join(downloads, "*")):
                if old != archive:
                    os.unlink(old)
    src = os.path.join(work, "src")
    os.makedirs(src)
    if archive.endswith(".deb"):
        inner = subprocess.run(["dpkg-deb", "-c", archive], stdout=subprocess.PIPE, universal_newlines=True,
                               check=True).stdout
        tarballs = re.findall(r"(\./usr/src/linux-source-[\d.]+\.tar\.\w+)$", inner, re.M)
        if not tarballs:
            raise KernelError("lab: %s holds no /usr/src/linux-source-*.tar.*" % archive)
        log.write("\n$ dpkg-deb --fsys-tarfile %s | tar -xO %s | tar -x\n" % (archive, tarballs[0]))
        log.flush()
        deb = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", archive], stdout=subprocess.PIPE)
        inner_tar = subprocess.Popen(["tar", "-xO", tarballs[0]], stdin=deb.stdout, stdout=subprocess.PIPE)
        deb.stdout.close()
        result = subprocess.run(["tar", "-xJ", "-C", src], stdin=inner_tar.stdout, stderr=log)
        inner_tar.stdout.close()
        if deb.wait() or inner_tar.wait() or result.returncode:
            raise KernelError("lab: unpacking %s failed, see %s" % (archive, log.name))
    else:
        subprocess.run(["tar", "-xf", archive, "-C", src], check=True, stderr=log)
    trees = [d for d in glob.glob(os.path.join(src, "*")) if os.path.exists(os.path.join(d, "Makefile"))]
    if len(trees) != 1:
        raise KernelError("lab: expected one kernel tree in %s, found %r" % (archive, trees))
    return trees[0]


def _run(cmd, tree, log, log_path, env=None):
    log.write("\n$ %s\n" % " ".join(cmd))
    log.flush()
    result = subprocess.run(cmd, cwd=tree, stdout=log, stderr=subprocess.STDOUT, env=env)
    if result.returncode != 0:
        raise KernelError("lab: kernel build step failed (exit %d): %s; see %s"
                          % (result.returncode, " ".join(cmd), log_path))


def _configure(tree, log, log_path):
    env = dict(os.environ, ARCH="um")
    _run(["make", "ARCH=um", "defconfig"], tree, log, log_path, env)
    _run(["scripts/kconfig/merge_config.sh", "-m", ".config", FRAGMENT], tree, log, log_path, env)
    _run(["make", "ARCH=um", "olddefconfig"], tree, log, log_path, env)
    with open(os.path.join(tree, ".config")) as handle:
        missing = missing_options(handle.read(), wanted_options())
    if missing:
        raise KernelError("lab: the kernel source does not keep these options of %s (renamed or with unmet "
                          "dependencies): %s" % (FRAGMENT, ", ".join("%s=%s (got %s)" % m for m in missing)))


def _compile(tree, cores, log, log_path, out, started):
    log.write("\n$ make ARCH=um -j%d linux\n" % cores)
    log.flush()
    proc = subprocess.Popen(["make", "ARCH=um", "-j%d" % cores, "linux"], cwd=tree, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, universal_newlines=True)
    compiled = [0]

    def pump():
        for line in proc.stdout:
            log.write(line)
            if line.startswith("  CC "):
                compiled[0] += 1

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    while proc.poll() is None:
        reader.join(30)
        if proc.poll() is None:
            elapsed = time.time() - started
            _log(out, "kernel build: %d of about %d objects compiled, %d s so far"
                 % (compiled[0], EXPECTED_OBJECTS, elapsed))
    reader.join()
    log.flush()
    if proc.returncode != 0:
        raise KernelError("lab: kernel build failed (exit %d); see %s" % (proc.returncode, log_path))


def _sha256(path_):
    digest = hashlib.sha256()
    with open(path_, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _prune_old(keep):
    for other in glob.glob(os.path.join(_kernel_root(), "*-*")):
        if os.path.isdir(other) and os.path.abspath(other) != os.path.abspath(keep):
            shutil.rmtree(other, ignore_errors=True)
