# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Libreswan proposals said again for another implementation: strongSwan's swanctl syntax and the IANA
IKEv2 registry names an appliance's GUI lists."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

from ansible_collections.sitevpn.ipsec.plugins.module_utils import _conn
from ansible_collections.sitevpn.ipsec.plugins.plugin_utils import _crypto_checks, _proposals
from ansible_collections.sitevpn.ipsec.plugins.plugin_utils._proposals import ProposalError, iana, strongswan


def test_the_collections_ikev2_defaults_in_strongswan_syntax():
    ike, esp = strongswan(_conn.DEFAULT_IKE_V2, _conn.DEFAULT_ESP_V2)
    # AEAD: the second transform is the PRF; the DH groups in Libreswan's order
    assert ike == "aes256gcm16-prfsha512-prfsha256-ecp256-ecp384-curve25519-modp2048"
    # PFS: a rekeyed Child SA uses the IKE SA's group, so the ESP proposal offers the same ones
    assert esp == "aes256gcm16-ecp256-ecp384-curve25519-modp2048"


def test_the_collections_ikev1_defaults_in_strongswan_syntax():
    assert strongswan(_conn.DEFAULT_IKE_V1, _conn.DEFAULT_ESP_V1, ike_version=1) == (
        "aes256-sha256-modp2048", "aes256-sha256-modp2048")


def test_without_pfs_the_esp_proposal_has_no_group():
    assert strongswan("aes_gcm256-sha2_256-dh19", "aes_gcm256", pfs=False)[1] == "aes256gcm16"


@pytest.mark.parametrize("libreswan, swan", [
    ("aes_gcm_16_256-sha2;dh20", "aes256gcm16-prfsha256-ecp384"),
    ("aes_gcm_c128-sha2_384-dh21", "aes128gcm16-prfsha384-ecp521"),
    ("aes_gcm_8_128-sha2_256-dh14", "aes128gcm8-prfsha256-modp2048"),
    ("aes_ccm_12_256-sha2_256-dh15", "aes256ccm12-prfsha256-modp3072"),
    ("chacha20_poly1305-sha2_512-dh31", "chacha20poly1305-prfsha512-curve25519"),
    ("aes-sha2-modp2048", "aes256-aes128-sha256-modp2048"),      # no key size: Libreswan offers 256 and 128
    ("aes_ctr192-aes_xcbc-modp4096", "aes192ctr-aesxcbc-modp4096"),
    ("camellia256-sha2_512-dh16", "camellia256-sha512-modp4096"),
    ("aes256-sha2_512;modp3072,aes_gcm256-sha2_256;dh19", "aes256-sha512-modp3072,aes256gcm16-prfsha256-ecp256"),
    ("3des-sha1-modp1024", "3des-sha1-modp1024"),                 # weak, only with allow_weak - still translated
])
def test_ike_proposals(libreswan, swan):
    assert strongswan(libreswan, "aes_gcm256", pfs=False)[0] == swan


@pytest.mark.parametrize("name", _proposals.KNOWN)
def test_every_algorithm_libreswan_names_translates_both_ways(name):
    """The model takes any proposal Libreswan's syntax allows; none may come out half translated."""
    if name in _proposals._CIPHERS:
        ike, esp = "%s-sha2_256-dh19" % name, name + ("" if _proposals._CIPHERS[name][2] else "-sha2_256")
    elif name in _proposals._HASHES:
        ike, esp = "aes256-%s-dh19" % name, "aes256-%s" % name
    else:
        ike, esp = "aes256-sha2_256-%s" % name, "aes256-sha2_256"
    ike_s, esp_s = strongswan(ike, esp)
    # strongSwan keywords have no underscores, but for the truncated SHA-256 of old Linux kernels
    assert ike_s and esp_s and "_" not in (ike_s + esp_s).replace("sha256_96", "")
    rows = dict(iana(ike, "ike") + iana(esp, "esp"))
    assert all(value and "?" not in value for value in rows.values()), rows


def test_every_weak_algorithm_the_model_knows_is_translated():
    """allow_weak lets these through the preflight: the peer's file must still say them right."""
    not_names = {"aes_cbc64"}     # a label of the weak list, not an algorithm Libreswan parses
    assert set(_crypto_checks.WEAK_TOKENS) - not_names <= set(_proposals.KNOWN)


@pytest.mark.parametrize("proposal, message", [
    ("aes_gcm256-sha2_256-dh99", "'dh99' is not an algorithm Libreswan knows"),
    ("rot13-sha2", "'rot13' is not an algorithm"),
    ("sha2_256-dh19", "names no cipher"),
    ("aes_gcm256+aes256-sha2", "mixes AEAD and non-AEAD"),
])
def test_what_cannot_be_translated_is_refused_by_name(proposal, message):
    with pytest.raises(ProposalError, match=message.replace("(", r"\(")):
        strongswan(proposal, "aes_gcm256")


def test_the_appliance_table_names_algorithms_by_the_iana_registry():
    rows = iana(_conn.DEFAULT_IKE_V2, "ike") + iana("aes256-sha2_512", "esp")
    assert rows == [
        ("IKE proposal 1 encryption", "ENCR_AES_GCM_16 256-bit key"),
        ("IKE proposal 1 PRF", "PRF_HMAC_SHA2_512, PRF_HMAC_SHA2_256"),
        ("IKE proposal 1 integrity", "none (AEAD cipher)"),
        ("IKE proposal 1 DH groups", "19 (256-bit random ECP (NIST P-256)), 20 (384-bit random ECP (NIST P-384)), "
                                     "31 (Curve25519), 14 (2048-bit MODP)"),
        ("ESP proposal 1 encryption", "ENCR_AES_CBC 256-bit key"),
        ("ESP proposal 1 integrity", "AUTH_HMAC_SHA2_512_256"),
    ]
    assert _proposals.ike_groups(_conn.DEFAULT_IKE_V2) == [19, 20, 31, 14]
