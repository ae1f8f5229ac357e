# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Certificates a gateway brings from the user's own PKI: checked before any host is touched, the IDs
taken from them, one nickname per gateway, the key handed over as PKCS#12."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from ansible_collections.sitevpn.ipsec.plugins.action.certificate import cert_tunnels
from ansible_collections.sitevpn.ipsec.plugins.module_utils import _conn
from ansible_collections.sitevpn.ipsec.plugins.plugin_utils import _ca, _given_cert
from ansible_collections.sitevpn.ipsec.plugins.plugin_utils._model import ModelError, normalize


def _issue(ca, host, sans=(), days=365, start=None):
    """A gateway certificate of the user's PKI: subject CN=<host>.example.net, O=Example, its key."""
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Example"),
                                    x509.NameAttribute(NameOID.COMMON_NAME, "%s.example.net" % host)]))
           .sign(key, hashes.SHA256()))
    cert = _ca.sign_csr(ca[0], ca[1], csr.public_bytes(serialization.Encoding.PEM), ids=list(sans), days=days,
                        now=start)
    return cert, key


def _key_pem(key, passphrase=None):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.BestAvailableEncryption(passphrase.encode()) if passphrase
                             else serialization.NoEncryption())


@pytest.fixture(scope="module")
def pki():
    return _ca.new_ca("Example Corporate CA")


@pytest.fixture
def brought(pki, tmp_path):
    """hostvars of vpn1 and vpn2, each bringing a certificate of the Example PKI (files on the controller)."""
    (tmp_path / "ca.pem").write_bytes(_ca.cert_pem(pki[1]))
    hostvars = {}
    for host, address in (("vpn1", "198.51.100.10"), ("vpn2", "203.0.113.10")):
        cert, key = _issue(pki, host, sans=["@%s.example.net" % host])
        (tmp_path / ("%s.crt" % host)).write_bytes(_ca.cert_pem(cert))
        (tmp_path / ("%s.key" % host)).write_bytes(_key_pem(key))
        hostvars[host] = {"sitevpn_public_address": address,
                          "sitevpn_gateway_cert_file": str(tmp_path / ("%s.crt" % host)),
                          "sitevpn_gateway_key_file": str(tmp_path / ("%s.key" % host)),
                          "sitevpn_gateway_ca_file": str(tmp_path / "ca.pem")}
    return hostvars


def tunnel(name="net-to-net"):
    return {"name": name, "left": "vpn1", "right": "vpn2", "auth": "cert",
            "left_subnets": "172.16.1.0/24", "right_subnets": "10.0.0.0/24"}


def problems_of(tunnels, hostvars):
    with pytest.raises(ModelError) as failure:
        normalize(tunnels, hostvars)
    return failure.value.problems


def test_the_ids_are_the_subject_dns_of_the_brought_certificates_and_the_peer_trusts_their_ca(brought, pki):
    (result,), _warnings = normalize([tunnel()], brought)
    left, right = result["left"], result["right"]
    # the subject DN in the certificate's order (as Libreswan writes it), no tunnel name added (own_ike_sa)
    assert (left["id"], right["id"]) == ("O=Example, CN=vpn1.example.net", "O=Example, CN=vpn2.example.net")
    assert left["given_cert"] and right["given_cert"]
    assert left["ca_cert"] == _ca.cert_pem(pki[1]).decode("ascii")
    assert result["cert_key_type"] == "ec"


def test_a_subject_alt_name_given_as_sitevpn_id_is_the_id_and_keeps_its_form(brought):
    brought["vpn1"]["sitevpn_id"] = "@vpn1.example.net"
    (result,), _warnings = normalize([tunnel()], brought)
    assert result["left"]["id"] == "@vpn1.example.net"     # not @net-to-net.vpn1.example.net (own_ike_sa)


def test_an_id_the_certificate_does_not_carry_is_refused_naming_tunnel_and_variable(brought):
    brought["vpn2"]["sitevpn_id"] = "@elsewhere.example.net"
    found = problems_of([tunnel()], brought)
    assert [(t, f) for t, f, _p in found] == [("net-to-net", "right (sitevpn_gateway_cert_file of vpn2)")]
    assert "does not carry the ID @elsewhere.example.net" in found[0][2]


def test_two_ends_with_one_id_from_their_certificates_are_refused_once(brought):
    brought["vpn1"]["sitevpn_id"] = brought["vpn2"]["sitevpn_id"] = "@vpn1.example.net"
    found = problems_of([tunnel()], brought)
    assert [p for _t, f, p in found if f == "right id"] == ["both ends have the ID @vpn1.example.net"]


def test_an_expired_certificate_and_one_of_another_ca_are_refused(brought, pki, tmp_path):
    old, _key = _issue(pki, "vpn1", days=30, start=datetime.datetime.now(datetime.timezone.utc)
                       - datetime.timedelta(days=60))
    (tmp_path / "vpn1.crt").write_bytes(_ca.cert_pem(old))
    other = _ca.new_ca("Someone Else CA")
    stranger, _key = _issue(other, "vpn2")
    (tmp_path / "vpn2.crt").write_bytes(_ca.cert_pem(stranger))
    found = dict((f, p) for _t, f, p in problems_of([tunnel()], brought))
    assert "expired on" in found["left (sitevpn_gateway_cert_file of vpn1)"]
    assert "is not issued by the CA CN=Example Corporate CA" in found["right (sitevpn_gateway_cert_file of vpn2)"]


def test_a_brought_certificate_without_its_ca_or_with_an_unreadable_file_is_refused(brought):
    del brought["vpn1"]["sitevpn_gateway_ca_file"]
    brought["vpn2"]["sitevpn_gateway_cert_file"] = "/nonexistent/vpn2.crt"
    found = dict((f, p) for _t, f, p in problems_of([tunnel()], brought))
    assert "sitevpn_gateway_ca_file is not" in found["left (sitevpn_gateway_cert_file of vpn1)"]
    assert "/nonexistent/vpn2.crt" in found["right (sitevpn_gateway_cert_file of vpn2)"]


def test_one_gateway_bringing_its_certificate_and_the_other_not_is_refused(brought):
    del brought["vpn2"]["sitevpn_gateway_cert_file"]
    found = problems_of([tunnel()], brought)
    assert found[0][:2] == ("net-to-net", "auth cert (sitevpn_gateway_cert_file)")
    assert "vpn1 brings its own certificate but vpn2 does not" in found[0][2]


def test_the_key_must_be_the_certificates_own_and_readable(brought, tmp_path):
    cert_text = (tmp_path / "vpn1.crt").read_text()
    assert _given_cert.key_problem(cert_text, (tmp_path / "vpn1.key").read_bytes()) is None
    assert "is not the private key" in _given_cert.key_problem(cert_text, (tmp_path / "vpn2.key").read_bytes())
    locked = _key_pem(ec.generate_private_key(ec.SECP256R1()), "s3cret-passphrase")
    assert "give its passphrase" in _given_cert.key_problem(cert_text, locked)


def test_the_key_travels_as_pkcs12_under_the_gateways_nickname(brought, tmp_path, pki):
    cert, key = _issue(pki, "vpn1")
    bundle = _given_cert.pkcs12(_ca.cert_pem(cert), _key_pem(key, "pem-pass"), "pem-pass", "one-time")
    loaded = pkcs12.load_pkcs12(bundle, b"one-time")
    assert loaded.cert.friendly_name == b"sitevpn-gateway"
    assert loaded.cert.certificate == cert
    with pytest.raises(ValueError):
        pkcs12.load_pkcs12(bundle, b"wrong")


def test_all_certificate_tunnels_of_the_gateway_use_its_one_certificate_and_the_conn_quotes_the_dn(brought):
    tunnels, _warnings = normalize([tunnel(), dict(tunnel("second"), left_subnets="172.16.2.0/24",
                                                   right_subnets="10.0.2.0/24")], brought)
    assert [(name, nick) for name, nick, _id in cert_tunnels(tunnels, "vpn1")] == [
        ("net-to-net", "sitevpn-gateway"), ("second", "sitevpn-gateway")]
    local = dict(tunnels[0], local="left")
    local["left"] = dict(local["left"], cert={"serial": "1f", "not_after": "2027-12-05T00:00:00+00:00",
                                              "ca_dn": "CN=Example Corporate CA"})
    local["right"] = dict(local["right"], ca_dn="CN=Example Corporate CA")
    text = _conn.render_conn(local, 4)
    assert 'leftid="O=Example, CN=vpn1.example.net"' in text
    assert 'rightid="O=Example, CN=vpn2.example.net"' in text
    assert "leftcert=sitevpn-gateway" in text and 'rightca="CN=Example Corporate CA"' in text
    assert "# Certificate sitevpn-gateway: serial 1f" in text


# --- the collection's own certificates: the subject DN as the ID, when a gateway asks for it -------------

def ours(**vpn1):
    return {"vpn1": dict({"sitevpn_public_address": "198.51.100.10"}, **vpn1),
            "vpn2": {"sitevpn_public_address": "203.0.113.10"}}


def test_sitevpn_cert_id_subject_makes_the_certificates_subject_dn_the_id_of_that_end_only():
    (result,), _warnings = normalize([tunnel()], ours(sitevpn_cert_id="subject"))
    assert result["left"]["id"] == "O=sitevpn, OU=net-to-net, CN=vpn1"
    assert result["right"]["id"] == "@net-to-net.vpn2"      # the default: the subjectAltName


def test_the_subject_id_matches_the_certificate_nss_makes_from_the_request_subject(pki):
    # certutil -R -s "CN=vpn1,OU=net-to-net,O=sitevpn" puts O first in the certificate (measured on the lab)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "sitevpn"),
                      x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "net-to-net"),
                      x509.NameAttribute(NameOID.COMMON_NAME, "vpn1")])
    csr = x509.CertificateSigningRequestBuilder().subject_name(name).sign(key, hashes.SHA256())
    ident = _ca.subject_id("vpn1", "net-to-net")
    cert = _ca.sign_csr(pki[0], pki[1], csr.public_bytes(serialization.Encoding.PEM), ids=[ident])
    assert _ca.libreswan_dn(cert.subject) == ident
    assert _ca.problems(cert, pki[1], [ident]) == []
    assert _ca.subject_for("vpn1", "net-to-net") == "CN=vpn1,OU=net-to-net,O=sitevpn"


def test_an_unknown_sitevpn_cert_id_is_refused():
    found = problems_of([tunnel()], ours(sitevpn_cert_id="dn"))
    assert found == [("net-to-net", "left (sitevpn_cert_id of vpn1)", "must be san or subject, not 'dn'")]


# --- an unmanaged peer of a gateway that brings its certificate ---------------------------------------------

def test_an_unmanaged_peer_of_a_brought_certificate_gets_the_users_ca_and_the_dn_ids(brought, pki):
    from ansible_collections.sitevpn.ipsec.plugins.action.certificate import peer_cert_facts
    from ansible_collections.sitevpn.ipsec.plugins.filter.peer_configs import peer_configs
    branch_ca = _ca.cert_pem(_ca.new_ca("Branch CA")[1]).decode("ascii")
    peer = {"name": "branch", "address": "192.0.2.50", "id": "@branch", "ca_cert": branch_ca}
    tunnels = [dict(tunnel("to-branch"), right=peer, right_subnets="10.50.0.0/16")]
    normalized, _warnings = normalize(tunnels, brought)
    # the keys role's facts on vpn1: its brought certificate, and what the peer's administrator gets
    handed = peer_cert_facts(normalized, None, {})
    assert handed == {"to-branch": {"cert": None, "ca_cert": _ca.cert_pem(pki[1]).decode("ascii")}}
    brought["vpn1"]["sitevpn_certs"] = {"to-branch": {"nickname": "sitevpn-gateway", "serial": "2b",
                                                      "not_after": "2027-12-05T00:00:00+00:00",
                                                      "ca_dn": "CN=Example Corporate CA"}}
    brought["vpn1"]["sitevpn_peer_certs"] = handed
    half = peer_configs(tunnels, "vpn1", brought)[0]
    assert half["files"]["to-branch-ca.crt"] == _ca.cert_pem(pki[1]).decode("ascii")
    assert "to-branch-peer.crt" not in half["files"]
    # the peer's Libreswan conn holds our end to the user's CA and its DN; strongSwan gets the DN quoted
    assert '    leftid="O=Example, CN=vpn1.example.net"\n' in half["text"]
    assert '    leftca="CN=Example Corporate CA"\n' in half["text"]
    assert 'id = "O=Example, CN=vpn1.example.net"' in half["files"]["to-branch.swanctl.conf"]


def test_a_request_of_an_unmanaged_peer_cannot_be_signed_without_the_collections_ca(brought):
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "branch")]))
           .sign(ec.generate_private_key(ec.SECP256R1()), hashes.SHA256())).public_bytes(serialization.Encoding.PEM)
    peer = {"name": "branch", "address": "192.0.2.50", "id": "@branch", "csr": csr.decode("ascii")}
    found = problems_of([dict(tunnel("to-branch"), right=peer, right_subnets="10.50.0.0/16")], brought)
    assert [(t, f) for t, f, _p in found] == [("to-branch", "right.csr")]
    assert "give the CA certificate of the peer's PKI (ca_cert)" in found[0][2]


def test_a_vaulted_key_is_decrypted_in_memory_not_to_a_temporary_file(tmp_path, pki):
    from ansible.parsing.dataloader import DataLoader
    from ansible.parsing.vault import VaultLib, VaultSecret
    secret = [("default", VaultSecret(b"vault-password"))]
    _cert, key = _issue(pki, "vpn1")
    path = tmp_path / "vpn1.key"
    path.write_bytes(VaultLib(secret).encrypt(_key_pem(key)))
    loader = DataLoader()
    loader.set_vault_secrets(secret)
    assert _given_cert.read_key(loader, str(path)) == _key_pem(key)
    assert not loader._tempfiles        # get_real_file would have left the decrypted key in one
    with pytest.raises(_ca.CertProblem, match="sitevpn_gateway_key_file .*/missing.key cannot be read"):
        _given_cert.read_key(loader, str(tmp_path / "missing.key"))


def test_a_relative_key_path_is_read_from_the_current_directory_like_the_certificate(tmp_path, monkeypatch, pki):
    from ansible.parsing.dataloader import DataLoader
    _cert, key = _issue(pki, "vpn1")
    (tmp_path / "vpn1.key").write_bytes(_key_pem(key))
    monkeypatch.chdir(tmp_path)
    loader = DataLoader()
    loader.set_basedir("/nonexistent-playbook-dir")
    assert _given_cert.read_key(loader, "vpn1.key") == _key_pem(key)
