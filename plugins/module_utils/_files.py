# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private: reading and writing the gateway's files the way every module of the collection does.

Writes are atomic (a temporary file in the same folder, then rename), so pluto, systemd or a reader
never sees half a file, and the mode is set before any byte of a secret is written.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import tempfile


def read(path):
    """The file's text, or None when it does not exist (or cannot be read)."""
    try:
        with open(path) as handle:
            return handle.read()
    except (IOError, OSError):
        return None


def read_tail(path, size=None):
    """The last *size* bytes of the file as text (all of it without *size*), or None as :func:`read`."""
    try:
        with open(path, "rb") as handle:
            if size:
                handle.seek(0, os.SEEK_END)
                handle.seek(max(0, handle.tell() - size))
            return handle.read().decode("utf-8", "replace")
    except (IOError, OSError):
        return None


def write(path, text, mode, dir_mode=0o755):
    """Replace ``path`` with ``text`` atomically, file mode ``mode``; missing folders get ``dir_mode``."""
    directory = os.path.dirname(path) or "."
    if not os.path.isdir(directory):
        os.makedirs(directory, dir_mode)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".sitevpn-")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.rename(tmp, path)
    except Exception:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


OS_FAMILIES = (("Debian", ("debian", "ubuntu")), ("RedHat", ("rhel", "fedora", "centos", "rocky", "almalinux")))


def os_release(text):
    """``/etc/os-release`` as ({KEY: value}, family): family is "Debian", "RedHat" or None, from ID and
    ID_LIKE (a derivative names its parent there)."""
    values = {}
    for line in (text or "").splitlines():
        key, sep, value = line.partition("=")
        if sep:
            values[key.strip()] = value.strip().strip('"').strip("'")
    ids = [values.get("ID", "")] + values.get("ID_LIKE", "").split()
    for name, members in OS_FAMILIES:
        if any(i in members for i in ids):
            return values, name
    return values, None
