# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private: the pure part of the ``hostkey`` module.

Which RSA key of the NSS database is *the* host key, how big a public key is,
what ``ipsec newhostkey`` said. No command runs here; the state file (one CKAID
in hex) is the only thing read or written, so unit tests can call every
function directly.

Not a public API: names may change without notice.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import binascii
import errno
import re

from ansible_collections.sitevpn.ipsec.plugins.module_utils import _files

#: ``ipsec newhostkey`` prints this on stderr (4.10 and 5.2 alike, seen live).
_GENERATED_RE = re.compile(r'\bGenerated (?P<type>RSA|ECDSA|EdDSA) key pair with CKAID (?P<ckaid>[0-9a-fA-F]+)')
_CKAID_RE = re.compile(r'^[0-9a-f]{40}$')

#: Smallest RSA modulus Libreswan's rsasigkey accepts ("use 2192 or more"); sizes are multiples of 16.
MIN_BITS = 2192


def check_bits(bits):
    """None when *bits* is a size ``ipsec newhostkey`` accepts, else what is wrong with it."""
    if bits < MIN_BITS or bits % 16:
        return ("bits=%d cannot work: Libreswan needs at least %d bits and a multiple of 16 "
                "(`ipsec newhostkey --bits 2048` fails); use 3072 or 4096" % (bits, MIN_BITS))
    return None


def generated_ckaid(text):
    """CKAID from ``ipsec newhostkey`` output, lower-case, or None."""
    match = _GENERATED_RE.search(text or '')
    return match.group('ckaid').lower() if match else None


def rsa_bits(pubkey):
    """Modulus size of an RFC 3110 RSA public key as Libreswan prints it (``0sAwEAA...``), or None.

    Layout: one byte exponent length (or 0 and two bytes of length), the exponent, the modulus.
    """
    if not pubkey or not pubkey.startswith('0s'):
        return None
    try:
        raw = bytearray(base64.b64decode(pubkey[2:]))
    except (binascii.Error, ValueError, TypeError):
        return None
    if not raw:
        return None
    if raw[0]:
        exp_len, start = raw[0], 1
    elif len(raw) >= 3:
        exp_len, start = (raw[1] << 8) | raw[2], 3
    else:
        return None
    modulus = raw[start + exp_len:]
    if not modulus:
        return None
    value = 0
    for byte in modulus:
        value = (value << 8) | byte
    return value.bit_length()


def rsa_keys(keys):
    """Only the RSA entries of a ``parse_showhostkey_list`` result (ECDSA keys are not host keys here)."""
    return [key for key in keys if (key.get('type') or '').upper() == 'RSA' and key.get('ckaid')]


def choose(keys, recorded):
    """Which existing RSA key is the host key.

    Returns ``(ckaid or None, how, warning or None)``; *how* is ``recorded`` (the state file
    names a key that exists), ``adopted`` (no usable record: the only key, or the first of
    several - with a warning), or ``none`` (no RSA key at all: generate one).
    """
    ckaids = [key['ckaid'].lower() for key in rsa_keys(keys)]
    warning = None
    if recorded and recorded in ckaids:
        return recorded, 'recorded', None
    if recorded:
        warning = ("the recorded host key CKAID %s is no longer in the NSS database (was the database "
                   "re-initialised?)" % recorded)
    if not ckaids:
        return None, 'none', warning
    if len(ckaids) > 1:
        several = ("%d RSA keys are in the NSS database and none is recorded as the host key; adopted the "
                   "first, %s (others: %s). Use regenerate=true to make a fresh one the host key"
                   % (len(ckaids), ckaids[0], ", ".join(ckaids[1:])))
        warning = several if warning is None else warning + "; " + several
    return ckaids[0], 'adopted', warning


def read_state(path):
    """The CKAID recorded in *path*, or None when the file is absent or holds no CKAID."""
    try:
        with open(path) as handle:
            text = handle.read().strip().lower()
    except (IOError, OSError) as exc:
        if exc.errno == errno.ENOENT:
            return None
        raise
    return text if _CKAID_RE.match(text) else None


def write_state(path, ckaid):
    """Write *ckaid* to *path* atomically, mode 0600 (parent made 0700 if missing)."""
    _files.write(path, ckaid + '\n', 0o600, dir_mode=0o700)
