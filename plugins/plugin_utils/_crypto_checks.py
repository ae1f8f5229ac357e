# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private, controller side: what the tunnel model calls weak crypto, and the checks that use it.

The weak algorithms as Libreswan spells them in proposal strings (``ike=``/``esp=``, and the `options`
that carry proposals), :func:`weak_algorithms`, the rules a pre-shared key must meet
(:func:`psk_problem`), and the check of a tunnel's ``auto``, IKE version, proposals and PFS
(:func:`_crypto`). Separate so that the tables, which follow Libreswan's algorithm names (a unit test
ties them to ``_proposals``), are in one place of their own, apart from the shape of a tunnel.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.sitevpn.ipsec.plugins.plugin_utils._model_base import _flag


AUTO_VALUES = ("start", "add", "ondemand")
MIN_PSK_BYTES = 20   # the seed: "Make them long (over 20 bytes)"

# Weak algorithms, as Libreswan spells them in ike=/esp= strings.
WEAK_TOKENS = {
    "3des": "3DES (64-bit block)", "des": "DES", "md5": "MD5", "sha1": "SHA-1", "sha": "SHA-1",
    "null": "no encryption", "modp768": "DH group 1", "modp1024": "DH group 2", "modp1536": "DH group 5",
    "dh1": "DH group 1", "dh2": "DH group 2", "dh5": "DH group 5", "dh22": "DH group 22", "dh23": "DH group 23",
    "dh24": "DH group 24", "blowfish": "Blowfish", "cast": "CAST", "aes_cbc64": "64-bit", "serpent": "Serpent",
    # Libreswan's other spellings (lib/libswan/ike_alg_*.c)
    "sha1_96": "SHA-1", "hmac_sha1": "SHA-1", "hmac_sha1_96": "SHA-1", "md5_96": "MD5", "hmac_md5": "MD5",
    "hmac_md5_96": "MD5", "3des_cbc": "3DES (64-bit block)", "des_cbc": "DES",
}
# conn keywords of `options` that carry proposals (checked like ike/esp), and values that are weak in themselves
WEAK_OPTION_PROPOSALS = ("phase2alg", "ah", "pfsgroup")
WEAK_OPTION_VALUES = {("phase2", "ah"): "AH (no encryption)", ("sha2-truncbug", "yes"): "SHA-2 truncated to 96 bits",
                      ("sha2_truncbug", "yes"): "SHA-2 truncated to 96 bits"}


def weak_algorithms(proposal):
    """The weak pieces of an ike=/esp= string, as human words."""
    found = []
    for token in re.split(r"[^a-z0-9_]+", (proposal or "").lower()):
        if token in WEAK_TOKENS and WEAK_TOKENS[token] not in found:
            found.append(WEAK_TOKENS[token])
    return found


def psk_problem(psk):
    """Why a PSK is too weak, or None."""
    raw = psk.encode("utf-8") if isinstance(psk, str) else bytes(psk)
    if len(raw) < MIN_PSK_BYTES:
        return "is %d bytes; use at least %d (the seed's rule), better 32+ random bytes" % (len(raw), MIN_PSK_BYTES)
    if len(set(raw)) < 8:
        return "has only %d distinct characters; use a random key" % len(set(raw))
    for size in range(1, len(raw) // 2 + 1):
        if len(raw) % size == 0 and raw[:size] * (len(raw) // size) == raw:
            return "is one short pattern repeated; use a random key"
    if "\n" in psk or "\r" in psk:
        return "contains a line break"
    return None


def _crypto(raw, tunnel, weak_ok, label, problems, warnings):
    """auto, IKE version, proposals and PFS: modern by default, weak only when allowed, with a warning."""
    tunnel["auto"] = raw.get("auto", "start")
    if tunnel["auto"] not in AUTO_VALUES:
        problems.add(label, "auto", "must be one of %s, not %r" % (", ".join(AUTO_VALUES), tunnel["auto"]))
    tunnel["ike_version"] = raw.get("ike_version", 2)
    if isinstance(tunnel["ike_version"], bool) or tunnel["ike_version"] not in (1, 2, "1", "2"):
        problems.add(label, "ike_version", "must be 1 or 2, not %r" % (tunnel["ike_version"],))
    else:
        tunnel["ike_version"] = int(tunnel["ike_version"])
    for key in ("ike", "esp"):
        value = raw.get(key)
        if value is not None and (not isinstance(value, str) or not re.match(r"^[A-Za-z0-9_+;,=-]+$", value)):
            problems.add(label, key, "%r is not a Libreswan proposal string (e.g. aes_gcm256-sha2_512-dh19)" % (value,))
            value = None
        tunnel[key] = value
        weak = weak_algorithms(value)
        if weak and not weak_ok:
            problems.add(label, key, "%s uses weak algorithms (%s); set allow_weak: true on the tunnel if the "
                         "peer cannot do better" % (value, ", ".join(weak)))
        elif weak:
            warnings.append("tunnel %s: %s=%s uses weak algorithms (%s), allowed by allow_weak"
                            % (label, key, value, ", ".join(weak)))
    if tunnel["ike_version"] == 1 and tunnel["ike"] and "gcm" in tunnel["ike"].lower():
        problems.add(label, "ike", "IKEv1 cannot use AES-GCM for the IKE SA; use e.g. aes256-sha2_256;modp2048")
    if tunnel["ike_version"] == 1:
        warnings.append("tunnel %s: IKEv1 is deprecated (RFC 9395); Libreswan needs ikev1-policy=accept, which "
                        "the tunnel role sets (and restarts ipsec once)" % label)
    tunnel["pfs"] = _flag(raw, "pfs", True, label, problems)
    if not tunnel["pfs"] and not weak_ok:
        problems.add(label, "pfs", "disabling PFS is weak; set allow_weak: true on the tunnel if the peer needs it")
    elif not tunnel["pfs"]:
        warnings.append("tunnel %s: PFS is off (allowed by allow_weak)" % label)
