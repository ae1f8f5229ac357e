# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where the CA lives on the controller (plugin_utils/_ca_store.py): made once, kept private, never doubled."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import stat
import threading

from ansible_collections.sitevpn.ipsec.plugins.plugin_utils import _ca, _ca_store


def test_the_first_run_makes_the_ca_with_a_private_key_and_later_runs_read_it(tmp_path):
    where = str(tmp_path / "ca")
    key, cert, created, warnings = _ca_store.ensure(where)
    assert created and not warnings
    assert stat.S_IMODE(os.stat(where).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(os.path.join(where, "ca.key")).st_mode) == 0o600
    again = _ca_store.ensure(where)
    assert again[2] is False and _ca.cert_der(again[1]) == _ca.cert_der(cert)


def test_gateways_asking_at_once_get_one_ca_not_several(tmp_path):
    where = str(tmp_path / "ca")
    seen, errors = [], []

    def gateway():
        try:
            seen.append(_ca_store.ensure(where))
        except Exception as exc:    # pylint: disable=broad-except
            errors.append(exc)
    threads = [threading.Thread(target=gateway) for dummy in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert sum(1 for item in seen if item[2]) == 1
    assert len(set(_ca.cert_der(item[1]) for item in seen)) == 1


def test_a_passphrase_encrypts_the_new_key_and_is_needed_to_read_it(tmp_path):
    where = str(tmp_path / "ca")
    _ca_store.ensure(where, passphrase="from-the-vault")
    assert b"ENCRYPTED PRIVATE KEY" in open(os.path.join(where, "ca.key"), "rb").read()
    assert "cannot be read" in _ca_store.check(where)
    assert _ca_store.check(where, passphrase="from-the-vault") is None


def test_a_ca_missing_its_key_is_refused_not_replaced(tmp_path):
    where = str(tmp_path / "ca")
    _ca_store.ensure(where)
    os.unlink(os.path.join(where, "ca.key"))
    assert "incomplete" in _ca_store.check(where)
    try:
        _ca_store.ensure(where)
    except _ca.CertProblem as exc:
        assert "ca.key missing" in str(exc)
    else:
        raise AssertionError("a CA without its key was papered over")


def test_a_ca_directory_inside_a_directory_inventory_is_refused(tmp_path):
    inventory = tmp_path / "inventory"
    inventory.mkdir()
    problem = _ca_store.location_problem(str(inventory / "sitevpn-ca"), inventory_sources=[str(inventory)])
    assert "inside the inventory directory" in problem
    assert _ca_store.location_problem(str(tmp_path / "sitevpn-ca"), inventory_sources=[str(inventory)]) is None
    # an inventory file: its directory is not read as inventory
    (tmp_path / "hosts.yml").write_text("all: {}\n")
    assert _ca_store.location_problem(str(tmp_path / "ca"), inventory_sources=[str(tmp_path / "hosts.yml")]) is None
    assert "is not set" in _ca_store.location_problem(None)


def test_a_new_ca_gets_a_new_nss_nickname_and_a_subject_of_its_own(tmp_path):
    first = _ca_store.ensure(str(tmp_path / "a"))[1]
    second = _ca_store.ensure(str(tmp_path / "b"))[1]
    # two trusted CAs of one name made NSS check a new certificate against the old CA (lab, a rotation)
    assert first.subject != second.subject
    assert first.subject.rfc4514_string().startswith("CN=sitevpn CA 20")
    assert _ca_store.nickname(first).startswith("sitevpn-ca-")
    assert _ca_store.nickname(first) != _ca_store.nickname(second)
    assert _ca_store.nickname(first) == _ca_store.nickname(first)


def _issue(ca_dir, key, cert, host):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)]))
           .sign(ec.generate_private_key(ec.SECP256R1()), hashes.SHA256()))
    issued = _ca.sign_csr(key, cert, csr.public_bytes(serialization.Encoding.PEM), ids=["@" + host])
    _ca_store.record_issued(ca_dir, issued)
    return issued


def test_revoking_a_gateway_puts_every_certificate_it_was_issued_on_the_crl(tmp_path):
    from cryptography import x509
    where = str(tmp_path / "ca")
    key, cert, _created, _w = _ca_store.ensure(where)
    vpn2 = [_issue(where, key, cert, "vpn2") for dummy in range(2)]
    _issue(where, key, cert, "vpn1")
    assert _ca_store.crl(where, key, cert, []) == (None, [])                    # nothing revoked: no CRL
    serials = _ca_store.revoked_serials(where, ["vpn2"], ["abc"])
    assert serials == sorted([c.serial_number for c in vpn2] + [0xabc])
    der, hexes = _ca_store.crl(where, key, cert, serials)
    crl = x509.load_der_x509_crl(der)
    assert crl.is_signature_valid(cert.public_key())
    assert sorted(r.serial_number for r in crl) == serials and hexes == ["%x" % s for s in serials]
    assert _ca.problems(vpn2[0], cert, crl=crl)[-1].startswith("is revoked")


def test_the_same_revocations_give_the_same_crl_bytes_on_every_run(tmp_path):
    from cryptography import x509
    from cryptography.x509.oid import ExtensionOID
    where = str(tmp_path / "ca")
    key, cert, _created, _w = _ca_store.ensure(where)
    first, _h = _ca_store.crl(where, key, cert, [0x10])
    assert _ca_store.crl(where, key, cert, [0x10])[0] == first
    second, _h = _ca_store.crl(where, key, cert, [0x10, 0x20])
    assert second != first

    def number(der):
        return x509.load_der_x509_crl(der).extensions.get_extension_for_oid(ExtensionOID.CRL_NUMBER).value.crl_number
    assert number(second) == number(first) + 1              # gateways take a CRL only with a higher number


def test_a_peers_request_is_signed_once_and_again_only_for_another_key(tmp_path):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    def request():
        return (x509.CertificateSigningRequestBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "branch")]))
                .sign(ec.generate_private_key(ec.SECP256R1()), hashes.SHA256())).public_bytes(serialization.Encoding.PEM)
    where = str(tmp_path / "ca")
    key, cert, _created, _w = _ca_store.ensure(where)
    csr = request()
    first, why = _ca_store.peer_cert(where, key, cert, "to-branch", "@branch", csr)
    assert why == "no certificate for the peer of to-branch yet" and _ca.carries_id(first, "@branch")
    again, why = _ca_store.peer_cert(where, key, cert, "to-branch", "@branch", csr)
    assert why is None and again.serial_number == first.serial_number
    dry, why = _ca_store.peer_cert(where, key, cert, "to-branch", "@branch", request(), dry=True)
    assert why == "the peer sent a request for another key" and dry.serial_number == first.serial_number
    assert "%x.pem" % first.serial_number in os.listdir(os.path.join(where, "issued"))
