# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""When the controller issues a gateway a new certificate (action/certificate.py), and when it leaves it alone."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from ansible_collections.sitevpn.ipsec.plugins.action.certificate import cert_tunnels, reissue_reason, subject_for
from ansible_collections.sitevpn.ipsec.plugins.plugin_utils import _ca

NOW = datetime.datetime(2026, 12, 5, 12, 0, tzinfo=datetime.timezone.utc)
DAY = datetime.timedelta(days=1)


@pytest.fixture(scope="module")
def ca():
    return _ca.new_ca("sitevpn test CA", now=NOW)


def issued(ca, ident="@net-to-net.vpn1", key=None, days=365, now=NOW):
    key = key or ec.generate_private_key(ec.SECP256R1())
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "vpn1")])).sign(key, hashes.SHA256()))
    return _ca.sign_csr(ca[0], ca[1], csr.public_bytes(serialization.Encoding.PEM), ids=[ident], days=days, now=now)


def reason(ca, cert, **kwargs):
    kwargs.setdefault("now", NOW + DAY)
    return reissue_reason(cert, kwargs.pop("has_key", True), ca[1], kwargs.pop("ids", ["@net-to-net.vpn1"]), **kwargs)


def test_a_good_certificate_is_left_alone(ca):
    assert reason(ca, issued(ca)) is None


@pytest.mark.parametrize("case, expected", [
    ("none", "no certificate under the nickname sitevpn yet"),
    ("renew", "is renewed on request"),
    ("expired", "expired on"),
    ("other CA", "is not issued by the CA CN=sitevpn test CA"),
    ("other ID", "does not carry the ID @net-to-net.vpn9"),
    ("no key", "has no private key in the NSS database"),
    ("key type", "has an ec key, rsa is asked for"),
    ("renewal due", "has less than 33% of its lifetime left"),
])
def test_a_new_certificate_is_issued_and_the_reason_says_why(ca, case, expected):
    cert = issued(ca)
    kwargs = {}
    if case == "none":
        cert = None
    elif case == "renew":
        kwargs["renew"] = True
    elif case == "expired":
        kwargs["now"] = NOW + 400 * DAY
    elif case == "other CA":
        cert = issued(_ca.new_ca("another CA", now=NOW))
    elif case == "other ID":
        kwargs["ids"] = ["@net-to-net.vpn9"]
    elif case == "no key":
        kwargs["has_key"] = False
    elif case == "key type":
        kwargs["key_type"] = "rsa"
    elif case == "renewal due":
        kwargs["now"] = NOW + 250 * DAY
    assert expected in reason(ca, cert, **kwargs)


def test_an_rsa_gateway_key_is_good_when_rsa_is_asked_for(ca):
    cert = issued(ca, key=rsa.generate_private_key(public_exponent=65537, key_size=3072))
    assert reason(ca, cert, key_type="rsa") is None
    assert "has an rsa key, ec is asked for" in reason(ca, cert)


def test_each_certificate_tunnel_of_the_host_gets_its_own_certificate_with_its_own_id():
    tunnels = [
        {"name": "a", "auth": "cert", "state": "present", "local": "left", "left": {"host": "vpn1", "id": "@a.vpn1"},
         "right": {"host": "vpn2", "id": "@a.vpn2"}},
        {"name": "b", "auth": "cert", "state": "present", "local": "right", "left": {"host": "vpn3", "id": "@b.vpn3"},
         "right": {"host": "vpn1", "id": "@b.vpn1"}},
        {"name": "c", "auth": "psk", "state": "present", "local": "left", "left": {"host": "vpn1", "id": "@c.vpn1"},
         "right": {"host": "vpn2", "id": "@c.vpn2"}},
        {"name": "d", "auth": "cert", "state": "absent", "local": "left", "left": {"host": "vpn1", "id": "@d.vpn1"},
         "right": {"host": "vpn2", "id": "@d.vpn2"}},
    ]
    assert cert_tunnels(tunnels, "vpn1") == [("a", "sitevpn-a", "@a.vpn1"), ("b", "sitevpn-b", "@b.vpn1")]


def test_the_request_subject_names_host_and_tunnel_and_cannot_be_split():
    assert subject_for("vpn1", "net-to-net") == "CN=vpn1,OU=net-to-net,O=sitevpn"
    assert subject_for("a,b=c", "t") == "CN=a-b-c,OU=t,O=sitevpn"


def test_a_ca_name_is_written_the_way_libreswan_reads_it():
    name = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "CA"), x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Example"),
                      x509.NameAttribute(NameOID.COMMON_NAME, "Example VPN CA")])
    assert _ca.libreswan_dn(name) == "C=CA, O=Example, CN=Example VPN CA"
    assert name.rfc4514_string() == "CN=Example VPN CA,O=Example,C=CA"        # the other way round


def test_unmanaged_certificate_peers_bring_a_ca_to_trust_or_a_request_to_sign(ca):
    their_ca = _ca.cert_pem(_ca.new_ca("Branch CA", now=NOW)[1]).decode("ascii")
    tunnels = [
        {"name": "own-ca", "auth": "cert", "state": "present", "left": {"host": "vpn1", "managed": True},
         "right": {"host": None, "managed": False, "id": "@b1", "ca_cert": their_ca}},
        {"name": "our-ca", "auth": "cert", "state": "present", "left": {"host": "vpn1", "managed": True},
         "right": {"host": None, "managed": False, "id": "@b2", "csr": "PEM"}},
        {"name": "managed", "auth": "cert", "state": "present", "left": {"host": "vpn1", "managed": True},
         "right": {"host": "vpn2", "managed": True, "id": "@vpn2"}},
    ]
    from ansible_collections.sitevpn.ipsec.plugins.action.certificate import peer_cas, peer_requests, unmanaged_cert_peers
    cas = peer_cas(tunnels)
    assert list(cas.values()) == [their_ca] and list(cas)[0].startswith("sitevpn-peerca-")
    assert peer_requests(tunnels) == [("our-ca", "@b2", "PEM")]
    assert unmanaged_cert_peers(tunnels) == ["our-ca", "own-ca"]
