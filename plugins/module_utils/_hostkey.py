# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private: the ``hostkey`` module's logic.

Which RSA key of the NSS database is *the* host key, how big a public key is,
what ``ipsec newhostkey`` said: pure functions that run no command; the state
file (one CKAID in hex) is the only thing they read or write, so unit tests can
call them directly. :func:`ensure_hostkey` (at the end) is the module's run,
with the ``ipsec`` commands going through an :class:`IpsecRunner`, on an
``AnsibleModule`` whose parameters follow :data:`ARGUMENT_SPEC`, so another
module can run it (in check mode) in its own process.

Not a public API: names may change without notice.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import binascii
import errno
import re
from typing import Any, Dict, List

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.sitevpn.ipsec.plugins.module_utils import _files
from ansible_collections.sitevpn.ipsec.plugins.module_utils import ipsec_output
from ansible_collections.sitevpn.ipsec.plugins.module_utils._runner import IpsecError, IpsecRunner, one_line

#: ``ipsec newhostkey`` prints this on stderr (4.10 and 5.2 alike, seen live).
_GENERATED_RE = re.compile(r'\bGenerated (?P<type>RSA|ECDSA|EdDSA) key pair with CKAID (?P<ckaid>[0-9a-fA-F]+)')
_CKAID_RE = re.compile(r'^[0-9a-f]{40}$')

#: Smallest RSA modulus Libreswan's rsasigkey accepts ("use 2192 or more"); sizes are multiples of 16.
MIN_BITS = 2192

#: the ``hostkey`` module's parameters (its DOCUMENTATION describes them)
ARGUMENT_SPEC = dict(
    bits=dict(type="int", default=3072),
    regenerate=dict(type="bool", default=False),
    side=dict(type="str", default="left", choices=["left", "right"]),
    nssdir=dict(type="path"),
    state_file=dict(type="path", default="/var/lib/sitevpn/hostkey.ckaid"),
)


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


def _nss_args(module: AnsibleModule) -> List[str]:
    return ["--nssdir", module.params["nssdir"]] if module.params["nssdir"] else []


def ensure_hostkey(module: AnsibleModule, runner: IpsecRunner) -> Dict[str, Any]:
    params = module.params
    nss = _nss_args(module)
    result = {"generated": False, "initialized_nss": False}

    listing = runner.run(["showhostkey", "--list"] + nss)
    parsed = ipsec_output.parse_showhostkey(listing.text)
    error = parsed["error"]
    if error and error["kind"] == "nss_not_initialised":
        keys = None
    elif listing.rc != 0 or error:
        raise IpsecError("`ipsec showhostkey --list` failed (exit %d): %s. Check the NSS database%s."
                         % (listing.rc, one_line(listing.text),
                            " in %s" % params["nssdir"] if params["nssdir"] else " (/var/lib/ipsec/nss)"))
    else:
        keys = rsa_keys(parsed["keys"])

    if keys is None:
        # 4.10 and 5.2: SEC_ERROR_BAD_DATABASE (exit 1) for an empty or missing directory
        result["initialized_nss"] = True
        init = runner.run(["initnss"] + nss, mutating=True)
        if not init.skipped and init.rc not in (0, 42):   # 42: already initialised
            raise IpsecError("`ipsec initnss` failed (exit %d): %s. Does the NSS directory exist and is it writable?"
                             % (init.rc, one_line(init.text)))
        keys = []

    recorded = read_state(params["state_file"])
    chosen, how, warning = choose(keys, recorded)
    if warning:
        module.warn(warning)
    before = chosen if how != "none" else None

    ckaid = chosen
    if params["regenerate"] or how == "none":
        how = "generated"
        result["generated"] = True
        made = runner.run(["newhostkey", "--bits", str(params["bits"])] + nss, mutating=True)
        if made.skipped:
            ckaid = None
        else:
            ckaid = generated_ckaid(made.text)
            if made.rc != 0 or not ckaid:
                raise IpsecError("`ipsec newhostkey --bits %d` failed (exit %d): %s"
                                 % (params["bits"], made.rc, one_line(made.text)))
    if params["regenerate"]:
        result["previous_ckaid"] = before
    result["source"] = how
    result["ckaid"] = ckaid

    facts = {"ckaid": ckaid, "keyid": None, "pubkey": None, "bits": None}
    result.update({"keyid": None, "pubkey": None, "bits": None, "line": None,
                   "leftrsasigkey": None, "rightrsasigkey": None})
    if ckaid:
        side = params["side"]
        shown = runner.run(["showhostkey", "--" + side, "--ckaid", ckaid] + nss)
        key = ipsec_output.parse_showhostkey(shown.text)
        if shown.rc != 0 or not key["rsasigkey"]:
            raise IpsecError("`ipsec showhostkey --%s --ckaid %s` printed no public key (exit %d): %s"
                             % (side, ckaid, shown.rc, one_line(shown.text)))
        listed = [k for k in keys if (k.get("ckaid") or "").lower() == ckaid]
        keyid = key["keyid"] or (listed[0]["keyid"] if listed else None)
        pubkey = key["rsasigkey"]
        bits = rsa_bits(pubkey)
        result.update({
            "keyid": keyid, "pubkey": pubkey, "bits": bits, "line": key["line"],
            "leftrsasigkey": "left%s=%s" % (key["key_type"], pubkey),
            "rightrsasigkey": "right%s=%s" % (key["key_type"], pubkey),
        })
        facts.update({"keyid": keyid, "pubkey": pubkey, "bits": bits})
    result["ansible_facts"] = {"sitevpn_hostkey": facts}

    record = ckaid is None or ckaid != recorded   # None: a key would be generated (check mode)
    if record and ckaid and not module.check_mode:
        try:
            write_state(params["state_file"], ckaid)
        except (IOError, OSError) as exc:
            raise IpsecError("cannot record the host key CKAID in %s: %s" % (params["state_file"], exc))
    result["changed"] = bool(result["initialized_nss"] or result["generated"] or record)
    result["diff"] = {"before": {"ckaid": recorded}, "after": {"ckaid": ckaid if ckaid else "(new key)"}}
    return result
