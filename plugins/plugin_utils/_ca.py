# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private, controller side: the collection's small certificate authority, built with cryptography.

The gateways authenticate with X.509 certificates when raw RSA keys and PSKs no longer scale. The CA lives
on the controller: created once (EC P-256, or RSA of 3072 bits and more), or one the user brings (its
certificate and key). Each gateway makes its own key pair in its NSS database and sends a certificate
signing request; only the request and the certificate travel, never a gateway's private key. This file
holds what the controller does with them, and nothing that touches a host:

- ``new_ca`` / ``load_ca``: a CA key and self-signed certificate, or the user's, checked (a CA, able to
  sign certificates, its key matching, in its validity period, strong enough);
- ``sign_csr``: a gateway certificate from a CSR - the CSR's subject, the IDs Libreswan matches as
  subjectAltName (``@vpn1`` as DNS name, an address as IP, ``user@domain`` as e-mail), serverAuth and
  clientAuth, never valid longer than the CA;
- ``renewal_due``: less than a share of the lifetime left;
- ``build_crl``: the revoked serials, signed by the CA, for the gateways to load;
- ``problems``: what is wrong with a gateway certificate before any host is touched (expired, not yet
  valid, another CA, an ID it does not carry, a weak key, revoked).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import ipaddress
import re

from ansible_collections.sitevpn.ipsec.plugins.plugin_utils._keys import require_cryptography

try:
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
except ImportError:  # _keys.require_cryptography says what to install, where it is needed
    x509 = None

CA_RSA_MIN_BITS = 3072       # a CA the collection creates, and the least it accepts without a warning
RSA_MIN_BITS = 2048          # below this no key is accepted, CA or gateway
EC_CURVES = ("secp256r1", "secp384r1", "secp521r1")
CLOCK_SKEW = datetime.timedelta(minutes=5)   # a new certificate is valid from a little before now


class CertProblem(ValueError):
    pass


def _now(now=None):
    return now or datetime.datetime.now(datetime.timezone.utc)


def key_problem(public_key, rsa_min=RSA_MIN_BITS):
    """Why *public_key* is too weak to sign or be certified, or None."""
    if isinstance(public_key, rsa.RSAPublicKey):
        if public_key.key_size < rsa_min:
            return "an RSA key of %d bits (at least %d)" % (public_key.key_size, rsa_min)
        return None
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        if public_key.curve.name not in EC_CURVES:
            return "an EC key on curve %s (%s only)" % (public_key.curve.name, ", ".join(EC_CURVES))
        return None
    return "a %s key (RSA or EC only)" % type(public_key).__name__


def key_type(public_key):
    """'ec' or 'rsa' (the words of sitevpn_cert_key_type), or the class name of anything else."""
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return "ec"
    if isinstance(public_key, rsa.RSAPublicKey):
        return "rsa"
    return type(public_key).__name__


def _hash_for(key):
    return hashes.SHA384() if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name != "secp256r1" \
        else hashes.SHA256()


def new_ca(common_name, key_type="ec", bits=CA_RSA_MIN_BITS, days=3650, now=None):
    """(private key, self-signed CA certificate) named CN=*common_name*."""
    require_cryptography()
    if key_type == "ec":
        key = ec.generate_private_key(ec.SECP256R1())
    elif key_type == "rsa":
        if bits < CA_RSA_MIN_BITS:
            raise CertProblem("a new CA key needs at least %d RSA bits, not %d" % (CA_RSA_MIN_BITS, bits))
        key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    else:
        raise CertProblem("key type %r: ec or rsa" % (key_type,))
    now = _now(now)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    public = key.public_key()
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(public)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - CLOCK_SKEW).not_valid_after(now + datetime.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
            .sign(key, _hash_for(key)))
    return key, cert


def key_pem(key, passphrase=None):
    """PKCS#8 PEM of a private key, encrypted when a passphrase is given (write it with mode 0600)."""
    encryption = serialization.BestAvailableEncryption(passphrase.encode("utf-8")) if passphrase \
        else serialization.NoEncryption()
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)


def cert_pem(cert):
    return cert.public_bytes(serialization.Encoding.PEM)


def cert_der(cert):
    return cert.public_bytes(serialization.Encoding.DER)


def load_cert(text):
    """A PEM certificate, or CertProblem."""
    require_cryptography()
    try:
        return x509.load_pem_x509_certificate(_bytes(text))
    except ValueError as exc:
        raise CertProblem("not a PEM certificate: %s" % exc)


def libreswan_dn(name):
    """A DN as Libreswan writes and reads it: the RDNs in the certificate's order, ', ' between them
    (RFC 4514 strings list them the other way round)."""
    return ", ".join(rdn.rfc4514_string() for rdn in name.rdns)


def load_ca(cert_text, key_text, passphrase=None, now=None):
    """(key, certificate, warnings) of a CA the user brings, or CertProblem saying what is wrong with it."""
    require_cryptography()
    try:
        cert = x509.load_pem_x509_certificate(_bytes(cert_text))
    except ValueError as exc:
        raise CertProblem("the CA certificate is not a PEM certificate: %s" % exc)
    try:
        key = load_private_key(key_text, passphrase)
    except CertProblem as exc:
        raise CertProblem("the CA key %s" % exc)
    try:
        constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        constraints = None
    if constraints is None or not constraints.ca:
        raise CertProblem("%s is not a CA certificate (basicConstraints CA:TRUE)" % cert.subject.rfc4514_string())
    try:
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
        if not usage.key_cert_sign:
            raise CertProblem("%s may not sign certificates (keyUsage without keyCertSign)" % cert.subject.rfc4514_string())
    except x509.ExtensionNotFound:
        pass
    if public_der(key.public_key()) != public_der(cert.public_key()):
        raise CertProblem("the CA key does not belong to the CA certificate %s" % cert.subject.rfc4514_string())
    validity = _validity_problem(cert, _now(now))
    if validity:
        raise CertProblem("the CA certificate %s %s" % (cert.subject.rfc4514_string(), validity))
    weak = key_problem(cert.public_key())
    if weak:
        raise CertProblem("the CA certificate %s has %s" % (cert.subject.rfc4514_string(), weak))
    short = key_problem(cert.public_key(), CA_RSA_MIN_BITS)
    warnings = ["the CA certificate %s has %s" % (cert.subject.rfc4514_string(), short)] if short else []
    return key, cert, warnings


def load_private_key(key_text, passphrase=None):
    """A PEM private key (encrypted when *passphrase* is given), or CertProblem."""
    require_cryptography()
    try:
        return serialization.load_pem_private_key(_bytes(key_text), passphrase.encode("utf-8") if passphrase else None)
    except (TypeError, ValueError) as exc:
        raise CertProblem("cannot be read%s: %s" % ("" if passphrase else " (is it encrypted? give its passphrase)", exc))


def public_der(public_key):
    return public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def pkcs12(cert, key, name, password):
    """*cert* and *key* as PKCS#12 (DER) under *password*, friendly name *name* (the NSS nickname)."""
    from cryptography.hazmat.primitives.serialization import pkcs12 as _pkcs12
    return _pkcs12.serialize_key_and_certificates(
        name.encode("utf-8"), key, cert, None, serialization.BestAvailableEncryption(password.encode("utf-8")))


def _bytes(text):
    return text.encode("ascii") if isinstance(text, str) else text


def subject_for(host, tunnel):
    """A gateway request's subject: CN=<inventory name>, OU=<tunnel>, O=sitevpn (DN-splitting characters
    replaced), as certutil -R reads it."""
    return "CN=%s,OU=%s,O=sitevpn" % (_dn_safe(host), _dn_safe(tunnel))


def subject_id(host, tunnel):
    """That subject as an IKE ID the way Libreswan writes it: the certificate's order, most general first
    (certutil builds the name the other way round from the string; measured on the lab)."""
    return "O=sitevpn, OU=%s, CN=%s" % (_dn_safe(tunnel), _dn_safe(host))


def _dn_safe(text):
    return re.sub(r'[,+="\\<>;#/]', "-", str(text))


def subject_alt_names(ids):
    """The subjectAltName entries for Libreswan IDs: ``@vpn1`` (and ``vpn1.example.org``) a DNS name, an
    address an IP address, ``user@domain`` an e-mail address. A DN (``CN=...``) is the subject, not a SAN."""
    names = []
    for ident in ids or ():
        value = str(ident).strip()
        if not value or "=" in value:
            continue
        if value.startswith("@"):
            names.append(x509.DNSName(value.lstrip("@")))
            continue
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(value)))
            continue
        except ValueError:
            pass
        names.append(x509.RFC822Name(value) if "@" in value else x509.DNSName(value))
    return names


def sign_csr(ca_key, ca_cert, csr_text, ids=(), days=365, now=None, serial=None):
    """A gateway certificate for a CSR: the CSR's subject and key, the IDs as subjectAltName, signed by the CA,
    valid for *days* but never past the CA. CertProblem for a CSR whose signature or key is not good."""
    require_cryptography()
    try:
        csr = x509.load_pem_x509_csr(_bytes(csr_text))
    except ValueError as exc:
        raise CertProblem("the certificate request is not a PEM CSR: %s" % exc)
    if not csr.is_signature_valid:
        raise CertProblem("the certificate request of %s is not signed by its own key" % csr.subject.rfc4514_string())
    weak = key_problem(csr.public_key())
    if weak:
        raise CertProblem("the certificate request of %s has %s" % (csr.subject.rfc4514_string(), weak))
    now = _now(now)
    not_after = min(now + datetime.timedelta(days=days), ca_cert.not_valid_after_utc)
    public = csr.public_key()
    rsa_key = isinstance(public, rsa.RSAPublicKey)
    builder = (x509.CertificateBuilder().subject_name(csr.subject).issuer_name(ca_cert.subject).public_key(public)
               .serial_number(serial or x509.random_serial_number())
               .not_valid_before(now - CLOCK_SKEW).not_valid_after(not_after)
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=rsa_key,
                                            data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                            crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
               .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
                              critical=False)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_cert.public_key()), critical=False))
    names = subject_alt_names(ids)
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(ca_key, _hash_for(ca_key))


def renewal_due(cert, share=1.0 / 3, now=None):
    """True when less than *share* of the certificate's lifetime is left (or it is not valid now)."""
    now = _now(now)
    total = cert.not_valid_after_utc - cert.not_valid_before_utc
    left = cert.not_valid_after_utc - now
    return now < cert.not_valid_before_utc or left < total * share


def build_crl(ca_key, ca_cert, revoked, number, days=30, now=None):
    """A CRL of the CA: *revoked* is [(serial, when)], *number* the CRL number (it must grow with every CRL)."""
    now = _now(now)
    builder = (x509.CertificateRevocationListBuilder().issuer_name(ca_cert.subject).last_update(now - CLOCK_SKEW)
               .next_update(now + datetime.timedelta(days=days))
               .add_extension(x509.CRLNumber(number), critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_cert.public_key()), critical=False))
    for serial, when in sorted(revoked):
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(when).build())
    return builder.sign(ca_key, _hash_for(ca_key))


def _validity_problem(cert, now):
    if now < cert.not_valid_before_utc:
        return "is not valid before %s" % cert.not_valid_before_utc.strftime("%Y-%m-%d %H:%M UTC")
    if now > cert.not_valid_after_utc:
        return "expired on %s" % cert.not_valid_after_utc.strftime("%Y-%m-%d %H:%M UTC")
    return None


def _issued_by(cert, ca_cert):
    if cert.issuer != ca_cert.subject:
        return False
    try:
        public = ca_cert.public_key()
        if isinstance(public, rsa.RSAPublicKey):
            public.verify(cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(), cert.signature_hash_algorithm)
        else:
            public.verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(cert.signature_hash_algorithm))
    except InvalidSignature:
        return False
    return True


def carries_id(cert, ident):
    """Whether Libreswan can match ID *ident* against *cert*: a DN against the subject (in either order of
    its parts), anything else against the subjectAltName entries."""
    value = str(ident).strip()
    if "=" in value:
        wanted = [part.strip() for part in value.replace(";", ",").split(",") if part.strip()]
        have = cert.subject.rfc4514_string().split(",")
        return wanted == have or wanted == list(reversed(have))
    try:
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return False
    return any(name in sans for name in subject_alt_names([value]))


def problems(cert, ca_cert, ids=(), crl=None, now=None):
    """Everything wrong with a gateway certificate, as phrases ('expired on ...'); empty when it is good."""
    found = []
    validity = _validity_problem(cert, _now(now))
    if validity:
        found.append(validity)
    if not _issued_by(cert, ca_cert):
        issuer = cert.issuer.rfc4514_string()
        found.append("is not issued by the CA %s (issuer %s)" % (
            ca_cert.subject.rfc4514_string(),
            "another CA of the same name" if cert.issuer == ca_cert.subject else issuer))
    for ident in ids or ():
        if not carries_id(cert, ident):
            found.append("does not carry the ID %s (subject %s, no such subjectAltName)"
                         % (ident, cert.subject.rfc4514_string()))
    weak = key_problem(cert.public_key())
    if weak:
        found.append("has %s" % weak)
    if crl is not None and crl.get_revoked_certificate_by_serial_number(cert.serial_number) is not None:
        found.append("is revoked (serial %x on the CA's CRL)" % cert.serial_number)
    return found


def peer_problems(ca_cert_text=None, csr_text=None, now=None):
    """What is wrong with an unmanaged peer's CA certificate or certificate request (phrases)."""
    found = []
    if ca_cert_text:
        try:
            cert = load_cert(ca_cert_text)
        except CertProblem as exc:
            return ["the CA certificate is %s" % exc]
        try:
            constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
        except x509.ExtensionNotFound:
            constraints = None
        if constraints is None or not constraints.ca:
            found.append("%s is not a CA certificate (basicConstraints CA:TRUE)" % cert.subject.rfc4514_string())
        validity = _validity_problem(cert, _now(now))
        if validity:
            found.append("the CA certificate %s %s" % (cert.subject.rfc4514_string(), validity))
        weak = key_problem(cert.public_key())
        if weak:
            found.append("the CA certificate %s has %s" % (cert.subject.rfc4514_string(), weak))
    if csr_text:
        try:
            csr = x509.load_pem_x509_csr(_bytes(csr_text))
        except ValueError as exc:
            return ["the certificate request is not a PEM CSR: %s" % exc]
        if not csr.is_signature_valid:
            found.append("the certificate request is not signed by its own key")
        weak = key_problem(csr.public_key())
        if weak:
            found.append("the certificate request has %s" % weak)
    return found
