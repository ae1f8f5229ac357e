# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private: Libreswan proposal strings (``ike=``/``esp=``) read into algorithms, and written again in
strongSwan's syntax and by the names of the IANA IKEv2 registry (what an appliance's GUI lists).

Libreswan writes a proposal as transform types joined by ``-`` (or ``;`` before the DH group, the older
form), alternatives of one type joined by ``+``, proposals joined by ``,``:
``aes_gcm256-sha2_512+sha2_256-dh19+dh20``. The second type is the PRF when the cipher is AEAD (GCM, CCM,
ChaCha20-Poly1305), else the integrity algorithm (and the PRF follows from it). Every algorithm name of
Libreswan 4.x/5.x's ike_alg tables is known here; a name that is not raises ``ProposalError``, so a
translation is never silently partial.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re


class ProposalError(ValueError):
    pass


# -- ciphers: Libreswan name -> (strongSwan base, IANA name, AEAD ICV bytes or None, default key sizes) ----
_CIPHERS = {
    "aes": ("aes{bits}", "ENCR_AES_CBC", None, (256, 128)),
    "aes_cbc": ("aes{bits}", "ENCR_AES_CBC", None, (256, 128)),
    "aes_ctr": ("aes{bits}ctr", "ENCR_AES_CTR", None, (256, 128)),
    "aesctr": ("aes{bits}ctr", "ENCR_AES_CTR", None, (256, 128)),
    "aes_gcm": ("aes{bits}gcm16", "ENCR_AES_GCM_16", 16, (256, 128)),
    "aes_gcm_16": ("aes{bits}gcm16", "ENCR_AES_GCM_16", 16, (256, 128)),
    "aes_gcm_c": ("aes{bits}gcm16", "ENCR_AES_GCM_16", 16, (256, 128)),
    "aes_gcm_12": ("aes{bits}gcm12", "ENCR_AES_GCM_12", 12, (256, 128)),
    "aes_gcm_b": ("aes{bits}gcm12", "ENCR_AES_GCM_12", 12, (256, 128)),
    "aes_gcm_8": ("aes{bits}gcm8", "ENCR_AES_GCM_8", 8, (256, 128)),
    "aes_gcm_a": ("aes{bits}gcm8", "ENCR_AES_GCM_8", 8, (256, 128)),
    "aes_ccm": ("aes{bits}ccm16", "ENCR_AES_CCM_16", 16, (256, 128)),
    "aes_ccm_16": ("aes{bits}ccm16", "ENCR_AES_CCM_16", 16, (256, 128)),
    "aes_ccm_c": ("aes{bits}ccm16", "ENCR_AES_CCM_16", 16, (256, 128)),
    "aes_ccm_12": ("aes{bits}ccm12", "ENCR_AES_CCM_12", 12, (256, 128)),
    "aes_ccm_b": ("aes{bits}ccm12", "ENCR_AES_CCM_12", 12, (256, 128)),
    "aes_ccm_8": ("aes{bits}ccm8", "ENCR_AES_CCM_8", 8, (256, 128)),
    "aes_ccm_a": ("aes{bits}ccm8", "ENCR_AES_CCM_8", 8, (256, 128)),
    "chacha20_poly1305": ("chacha20poly1305", "ENCR_CHACHA20_POLY1305", 16, (256,)),
    "camellia": ("camellia{bits}", "ENCR_CAMELLIA_CBC", None, (256, 128)),
    "camellia_cbc": ("camellia{bits}", "ENCR_CAMELLIA_CBC", None, (256, 128)),
    "camellia_ctr": ("camellia{bits}ctr", "ENCR_CAMELLIA_CTR", None, (256, 128)),
    "twofish": ("twofish{bits}", "ENCR_TWOFISH_CBC", None, (256, 128)),
    "twofish_cbc": ("twofish{bits}", "ENCR_TWOFISH_CBC", None, (256, 128)),
    "serpent": ("serpent{bits}", "ENCR_SERPENT_CBC", None, (256, 128)),
    "serpent_cbc": ("serpent{bits}", "ENCR_SERPENT_CBC", None, (256, 128)),
    "cast": ("cast128", "ENCR_CAST", None, (128,)),
    "cast_cbc": ("cast128", "ENCR_CAST", None, (128,)),
    "blowfish": ("blowfish{bits}", "ENCR_BLOWFISH", None, (128,)),
    "3des": ("3des", "ENCR_3DES", None, (192,)),
    "3des_cbc": ("3des", "ENCR_3DES", None, (192,)),
    "des": ("des", "ENCR_DES", None, (64,)),
    "des_cbc": ("des", "ENCR_DES", None, (64,)),
    "null": ("null", "ENCR_NULL", None, (0,)),
    "null_auth_aes_gmac": ("aes{bits}gmac", "ENCR_NULL_AUTH_AES_GMAC", None, (256, 128)),
    "aes_gmac": ("aes{bits}gmac", "ENCR_NULL_AUTH_AES_GMAC", None, (256, 128)),
}
# ciphers with a fixed key size keep it out of their strongSwan name
_FIXED_KEY = ("chacha20_poly1305", "cast", "cast_cbc", "3des", "3des_cbc", "des", "des_cbc", "null")

# -- hashes: Libreswan name -> (strongSwan integrity, strongSwan PRF, IANA integrity, IANA PRF) ----------
_HASHES = {
    "sha2_512": ("sha512", "prfsha512", "AUTH_HMAC_SHA2_512_256", "PRF_HMAC_SHA2_512"),
    "sha512": ("sha512", "prfsha512", "AUTH_HMAC_SHA2_512_256", "PRF_HMAC_SHA2_512"),
    "sha2_384": ("sha384", "prfsha384", "AUTH_HMAC_SHA2_384_192", "PRF_HMAC_SHA2_384"),
    "sha384": ("sha384", "prfsha384", "AUTH_HMAC_SHA2_384_192", "PRF_HMAC_SHA2_384"),
    "sha2_256": ("sha256", "prfsha256", "AUTH_HMAC_SHA2_256_128", "PRF_HMAC_SHA2_256"),
    "sha2": ("sha256", "prfsha256", "AUTH_HMAC_SHA2_256_128", "PRF_HMAC_SHA2_256"),
    "sha256": ("sha256", "prfsha256", "AUTH_HMAC_SHA2_256_128", "PRF_HMAC_SHA2_256"),
    "sha2_256_96": ("sha256_96", "prfsha256", "AUTH_HMAC_SHA2_256_96 (truncbug)", "PRF_HMAC_SHA2_256"),
    "sha1": ("sha1", "prfsha1", "AUTH_HMAC_SHA1_96", "PRF_HMAC_SHA1"),
    "sha": ("sha1", "prfsha1", "AUTH_HMAC_SHA1_96", "PRF_HMAC_SHA1"),
    "sha1_96": ("sha1", "prfsha1", "AUTH_HMAC_SHA1_96", "PRF_HMAC_SHA1"),
    "hmac_sha1": ("sha1", "prfsha1", "AUTH_HMAC_SHA1_96", "PRF_HMAC_SHA1"),
    "hmac_sha1_96": ("sha1", "prfsha1", "AUTH_HMAC_SHA1_96", "PRF_HMAC_SHA1"),
    "md5": ("md5", "prfmd5", "AUTH_HMAC_MD5_96", "PRF_HMAC_MD5"),
    "md5_96": ("md5", "prfmd5", "AUTH_HMAC_MD5_96", "PRF_HMAC_MD5"),
    "hmac_md5": ("md5", "prfmd5", "AUTH_HMAC_MD5_96", "PRF_HMAC_MD5"),
    "hmac_md5_96": ("md5", "prfmd5", "AUTH_HMAC_MD5_96", "PRF_HMAC_MD5"),
    "aes_xcbc": ("aesxcbc", "prfaesxcbc", "AUTH_AES_XCBC_96", "PRF_AES128_XCBC"),
    "aes_xcbc_96": ("aesxcbc", "prfaesxcbc", "AUTH_AES_XCBC_96", "PRF_AES128_XCBC"),
    "aes_cmac": ("aescmac", "prfaescmac", "AUTH_AES_CMAC_96", "PRF_AES128_CMAC"),
    "aes_cmac_96": ("aescmac", "prfaescmac", "AUTH_AES_CMAC_96", "PRF_AES128_CMAC"),
}
_NO_INTEG = ("none", "null")

# -- key exchange (DH) groups: Libreswan name -> (IANA number, strongSwan name, IANA description) -------
_GROUPS = {
    "modp768": (1, "modp768", "768-bit MODP"), "dh1": (1, "modp768", "768-bit MODP"),
    "modp1024": (2, "modp1024", "1024-bit MODP"), "dh2": (2, "modp1024", "1024-bit MODP"),
    "modp1536": (5, "modp1536", "1536-bit MODP"), "dh5": (5, "modp1536", "1536-bit MODP"),
    "modp2048": (14, "modp2048", "2048-bit MODP"), "dh14": (14, "modp2048", "2048-bit MODP"),
    "modp3072": (15, "modp3072", "3072-bit MODP"), "dh15": (15, "modp3072", "3072-bit MODP"),
    "modp4096": (16, "modp4096", "4096-bit MODP"), "dh16": (16, "modp4096", "4096-bit MODP"),
    "modp6144": (17, "modp6144", "6144-bit MODP"), "dh17": (17, "modp6144", "6144-bit MODP"),
    "modp8192": (18, "modp8192", "8192-bit MODP"), "dh18": (18, "modp8192", "8192-bit MODP"),
    "dh19": (19, "ecp256", "256-bit random ECP (NIST P-256)"), "ecp256": (19, "ecp256", "256-bit random ECP (NIST P-256)"),
    "ecp_256": (19, "ecp256", "256-bit random ECP (NIST P-256)"),
    "dh20": (20, "ecp384", "384-bit random ECP (NIST P-384)"), "ecp384": (20, "ecp384", "384-bit random ECP (NIST P-384)"),
    "ecp_384": (20, "ecp384", "384-bit random ECP (NIST P-384)"),
    "dh21": (21, "ecp521", "521-bit random ECP (NIST P-521)"), "ecp521": (21, "ecp521", "521-bit random ECP (NIST P-521)"),
    "ecp_521": (21, "ecp521", "521-bit random ECP (NIST P-521)"),
    "dh22": (22, "modp1024s160", "1024-bit MODP with 160-bit prime order subgroup"),
    "dh23": (23, "modp2048s224", "2048-bit MODP with 224-bit prime order subgroup"),
    "dh24": (24, "modp2048s256", "2048-bit MODP with 256-bit prime order subgroup"),
    "dh31": (31, "curve25519", "Curve25519"), "curve25519": (31, "curve25519", "Curve25519"),
}
_NO_GROUP = ("none", "null")

_CIPHER_RE = re.compile(r"^(?P<name>[a-z0-9_]+?)_?(?P<bits>128|192|256)?$")


def _cipher(token):
    """(Libreswan base name, [key sizes]) of a cipher token ('aes_gcm256' -> ('aes_gcm', [256])), or None."""
    if token in _CIPHERS:
        return token, list(_CIPHERS[token][3])
    match = _CIPHER_RE.match(token)
    if match and match.group("bits") and match.group("name") in _CIPHERS:
        return match.group("name"), [int(match.group("bits"))]
    # 'aes_gcm_16_256', 'aes_gcm_c_256'
    match = re.match(r"^(?P<name>[a-z0-9_]+)_(?P<bits>128|192|256)$", token)
    if match and match.group("name") in _CIPHERS:
        return match.group("name"), [int(match.group("bits"))]
    return None


def parse(proposal, kind):
    """One Libreswan ``ike=`` (*kind* 'ike') or ``esp=`` ('esp') string, as a list of proposals
    ``{ciphers: [(name, bits)], aead, hashes: [name], groups: [name]}``."""
    if not proposal:
        raise ProposalError("empty %s proposal" % kind)
    result = []
    for text in proposal.lower().split(","):
        text = text.strip()
        if not text:
            continue
        ciphers, hashes, groups = [], [], []
        for part in re.split(r"[-;]", text):
            for token in [t for t in part.split("+") if t]:
                cipher = _cipher(token)
                if cipher:
                    ciphers += [(cipher[0], bits) for bits in cipher[1]]
                elif token in _HASHES or token in _NO_INTEG:
                    hashes.append(token)
                elif token in _GROUPS or token in _NO_GROUP:
                    groups.append(token)
                else:
                    raise ProposalError("%s proposal %r: %r is not an algorithm Libreswan knows" % (kind, text, token))
        if not ciphers:
            raise ProposalError("%s proposal %r names no cipher" % (kind, text))
        aead = [_CIPHERS[name][2] is not None for name, _bits in ciphers]
        if any(aead) and not all(aead):
            raise ProposalError("%s proposal %r mixes AEAD and non-AEAD ciphers" % (kind, text))
        result.append({"ciphers": ciphers, "aead": all(aead), "hashes": hashes, "groups": groups})
    return result


def _strongswan_cipher(name, bits):
    base = _CIPHERS[name][0]
    return base if name in _FIXED_KEY else base.format(bits=bits)


def _strongswan_groups(groups):
    return [_GROUPS[g][1] for g in groups if g not in _NO_GROUP]


def strongswan(ike, esp, pfs=True, ike_version=2):
    """``(proposals, esp_proposals)`` for swanctl.conf from Libreswan's *ike* and *esp* strings.

    With PFS, Libreswan rekeys the Child SA with the DH group the IKE SA negotiated (IKEv2), or with the
    first group of the ike= proposal (IKEv1): the ESP proposals carry those groups.
    """
    ike_props, esp_props = parse(ike, "ike"), parse(esp, "esp")
    ike_groups = []
    out_ike = []
    for prop in ike_props:
        words = []
        for name, bits in prop["ciphers"]:
            words.append(_strongswan_cipher(name, bits))
        hashes = [h for h in prop["hashes"] if h not in _NO_INTEG]
        if prop["aead"]:
            words += [_HASHES[h][1] for h in hashes]
        else:
            words += [_HASHES[h][0] for h in hashes]
        groups = _strongswan_groups(prop["groups"])
        ike_groups += [g for g in groups if g not in ike_groups]
        words += groups
        out_ike.append("-".join(_dedupe(words)))
    out_esp = []
    for prop in esp_props:
        words = [_strongswan_cipher(name, bits) for name, bits in prop["ciphers"]]
        if not prop["aead"]:
            words += [_HASHES[h][0] for h in prop["hashes"] if h not in _NO_INTEG]
        groups = _strongswan_groups(prop["groups"])
        if pfs:
            words += groups or (ike_groups if ike_version == 2 else ike_groups[:1])
        out_esp.append("-".join(_dedupe(words)))
    return ",".join(out_ike), ",".join(out_esp)


def _dedupe(words):
    seen = []
    for word in words:
        if word not in seen:
            seen.append(word)
    return seen


def iana(proposal, kind):
    """Rows ``(what, value)`` naming every algorithm of *proposal* by the IANA IKEv2 registry, for the
    administrator of an appliance: ciphers with key sizes, PRF/integrity, DH groups by number."""
    rows = []
    for index, prop in enumerate(parse(proposal, kind), 1):
        label = "%s proposal %d" % (kind.upper(), index)
        ciphers = ", ".join("%s%s" % (_CIPHERS[name][1], "" if name in _FIXED_KEY else " %d-bit key" % bits)
                            for name, bits in prop["ciphers"])
        rows.append((label + " encryption", ciphers))
        hashes = [h for h in prop["hashes"] if h not in _NO_INTEG]
        if kind == "ike":
            if prop["aead"]:
                rows.append((label + " PRF", ", ".join(_HASHES[h][3] for h in hashes) or "(peer's choice)"))
                rows.append((label + " integrity", "none (AEAD cipher)"))
            else:
                rows.append((label + " PRF", ", ".join(_HASHES[h][3] for h in hashes) or "(peer's choice)"))
                rows.append((label + " integrity", ", ".join(_HASHES[h][2] for h in hashes) or "(peer's choice)"))
        elif prop["aead"]:
            rows.append((label + " integrity", "none (AEAD cipher)"))
        else:
            rows.append((label + " integrity", ", ".join(_HASHES[h][2] for h in hashes) or "(peer's choice)"))
        groups = [g for g in prop["groups"] if g not in _NO_GROUP]
        if groups:
            rows.append((label + " DH groups", ", ".join("%d (%s)" % (_GROUPS[g][0], _GROUPS[g][2]) for g in groups)))
    return rows


def ike_groups(ike):
    """IANA numbers of the DH groups of an ike= string, in order."""
    numbers = []
    for prop in parse(ike, "ike"):
        for group in prop["groups"]:
            if group not in _NO_GROUP and _GROUPS[group][0] not in numbers:
                numbers.append(_GROUPS[group][0])
    return numbers


#: every Libreswan algorithm name this module translates (for tests and error messages)
KNOWN = sorted(set(_CIPHERS) | set(_HASHES) | set(_GROUPS))
