# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The controller's small CA (plugin_utils/_ca.py): what it signs, what it refuses, when it renews.

The gateway side is played here by cryptography too: a key pair and a certificate request, as a gateway's
`certutil -R` would make it. Only the request and the certificate cross; the CA never sees a gateway key.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ansible_collections.sitevpn.ipsec.plugins.plugin_utils import _ca

NOW = datetime.datetime(2026, 12, 4, 12, 0, tzinfo=datetime.timezone.utc)
DAY = datetime.timedelta(days=1)


@pytest.fixture(scope="module")
def ca():
    return _ca.new_ca("sitevpn test CA", now=NOW)


def gateway_csr(name="vpn1", key=None):
    """What a gateway sends: a CSR for CN=<name>, signed by a key that stays on the gateway."""
    key = key or ec.generate_private_key(ec.SECP256R1())
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "sitevpn"),
                                    x509.NameAttribute(NameOID.COMMON_NAME, name)]))
           .sign(key, hashes.SHA256()))
    return csr.public_bytes(serialization.Encoding.PEM).decode("ascii")


def signed(ca, ids=("@vpn1", "198.51.100.10"), days=365, now=NOW, **kwargs):
    return _ca.sign_csr(ca[0], ca[1], gateway_csr(**kwargs), ids=ids, days=days, now=now)


# --- the CA ---------------------------------------------------------------------------------------------

def test_a_new_ca_is_an_ec_p256_ca_that_may_sign_certificates_and_crls_only(ca):
    key, cert = ca
    assert key.curve.name == "secp256r1"
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.key_cert_sign and usage.crl_sign and not usage.digital_signature
    assert cert.not_valid_after_utc - NOW == 3650 * DAY


def test_a_new_rsa_ca_has_3072_bits_or_more():
    with pytest.raises(_ca.CertProblem, match="at least 3072 RSA bits, not 2048"):
        _ca.new_ca("weak", key_type="rsa", bits=2048, now=NOW)


def test_the_ca_key_file_is_encrypted_when_a_passphrase_is_given_and_reads_back_only_with_it(ca):
    pem = _ca.key_pem(ca[0], "vault-passphrase")
    assert b"ENCRYPTED PRIVATE KEY" in pem
    key, cert, warnings = _ca.load_ca(_ca.cert_pem(ca[1]), pem, "vault-passphrase", now=NOW)
    assert cert == ca[1] and warnings == []
    with pytest.raises(_ca.CertProblem, match="cannot be read"):
        _ca.load_ca(_ca.cert_pem(ca[1]), pem, now=NOW)
    assert b"BEGIN PRIVATE KEY" in _ca.key_pem(ca[0])


def test_a_ca_the_user_brings_is_checked_before_it_signs_anything(ca):
    other_key = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(_ca.CertProblem, match="does not belong to the CA certificate CN=sitevpn test CA"):
        _ca.load_ca(_ca.cert_pem(ca[1]), _ca.key_pem(other_key), now=NOW)
    with pytest.raises(_ca.CertProblem, match="expired on 2036-12-01"):
        _ca.load_ca(_ca.cert_pem(ca[1]), _ca.key_pem(ca[0]), now=NOW + 3651 * DAY)
    # a gateway certificate is no CA
    leaf = signed(ca)
    with pytest.raises(_ca.CertProblem, match="not a CA certificate"):
        _ca.load_ca(_ca.cert_pem(leaf), _ca.key_pem(ca[0]), now=NOW)


# --- gateway certificates -------------------------------------------------------------------------------

def test_a_gateway_certificate_carries_the_csr_subject_its_ids_as_san_and_ike_usages(ca):
    cert = signed(ca, ids=("@vpn1", "198.51.100.10", "ops@example.org"))
    assert cert.subject.rfc4514_string() == "CN=vpn1,O=sitevpn"
    assert cert.issuer == ca[1].subject
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["vpn1"]
    assert [str(a) for a in sans.get_values_for_type(x509.IPAddress)] == ["198.51.100.10"]
    assert sans.get_values_for_type(x509.RFC822Name) == ["ops@example.org"]
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert set(eku) == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    cert.verify_directly_issued_by(ca[1])
    assert _ca.problems(cert, ca[1], ids=["@vpn1", "198.51.100.10", "CN=vpn1, O=sitevpn"], now=NOW) == []


def test_a_gateway_certificate_never_outlives_its_ca(ca):
    cert = signed(ca, days=10000)
    assert cert.not_valid_after_utc == ca[1].not_valid_after_utc


def test_a_request_with_a_weak_key_is_refused():
    ca = _ca.new_ca("sitevpn test CA", now=NOW)
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    with pytest.raises(_ca.CertProblem, match="an RSA key of 1024 bits \\(at least 2048\\)"):
        signed(ca, key=weak)
    with pytest.raises(_ca.CertProblem, match="curve secp192r1"):
        signed(ca, key=ec.generate_private_key(ec.SECP192R1()))


def test_a_request_that_is_not_pem_is_refused(ca):
    with pytest.raises(_ca.CertProblem, match="not a PEM CSR"):
        _ca.sign_csr(ca[0], ca[1], "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n")


# --- renewal --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("days_later, due", [(0, False), (200, False), (243, False), (244, True), (400, True)])
def test_a_certificate_is_renewed_once_less_than_a_third_of_its_lifetime_is_left(ca, days_later, due):
    cert = signed(ca, days=365)              # valid from NOW - 5 min for 365 days: a third is ~121.7 days
    assert _ca.renewal_due(cert, now=NOW + days_later * DAY) is due


# --- what preflight refuses -----------------------------------------------------------------------------

def test_problems_name_expiry_another_ca_a_missing_id_and_revocation(ca):
    cert = signed(ca)
    assert _ca.problems(cert, ca[1], now=NOW + 366 * DAY) == ["expired on 2027-12-04 12:00 UTC"]
    assert _ca.problems(cert, ca[1], now=NOW - DAY) == ["is not valid before 2026-12-04 11:55 UTC"]
    other = _ca.new_ca("another CA", now=NOW)
    assert _ca.problems(cert, other[1], now=NOW) == [
        "is not issued by the CA CN=another CA (issuer CN=sitevpn test CA)"]
    assert _ca.problems(cert, ca[1], ids=["@vpn2"], now=NOW) == [
        "does not carry the ID @vpn2 (subject CN=vpn1,O=sitevpn, no such subjectAltName)"]
    crl = _ca.build_crl(ca[0], ca[1], [(cert.serial_number, NOW)], number=1, now=NOW)
    assert _ca.problems(cert, ca[1], crl=crl, now=NOW) == ["is revoked (serial %x on the CA's CRL)" % cert.serial_number]


def test_a_certificate_with_the_right_subject_from_another_ca_key_is_not_issued_by_it(ca):
    """Same CA name, another key: the issuer name matches, the signature does not."""
    impostor = _ca.new_ca("sitevpn test CA", now=NOW)
    cert = _ca.sign_csr(impostor[0], impostor[1], gateway_csr(), ids=["@vpn1"], now=NOW)
    assert _ca.problems(cert, ca[1], now=NOW) == [
        "is not issued by the CA CN=sitevpn test CA (issuer another CA of the same name)"]


# --- revocation -----------------------------------------------------------------------------------------

def test_the_crl_lists_the_revoked_serials_and_is_signed_by_the_ca(ca):
    first, second = signed(ca), signed(ca, name="vpn2", ids=["@vpn2"])
    crl = _ca.build_crl(ca[0], ca[1], [(second.serial_number, NOW)], number=7, now=NOW, days=30)
    assert crl.is_signature_valid(ca[1].public_key())
    assert crl.issuer == ca[1].subject
    assert crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == 7
    assert crl.get_revoked_certificate_by_serial_number(second.serial_number) is not None
    assert crl.get_revoked_certificate_by_serial_number(first.serial_number) is None
    assert crl.next_update_utc - NOW == 30 * DAY


def test_libreswan_ids_become_the_san_entries_it_matches():
    sans = _ca.subject_alt_names(["@vpn1", "vpn1.example.org", "2001:db8::1", "ops@example.org", "CN=vpn1"])
    assert [type(n).__name__ for n in sans] == ["DNSName", "DNSName", "IPAddress", "RFC822Name"]
