# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private, controller side: certificates the user brings for a gateway (the third way of issue 18).

Some networks have a PKI of their own and will not let a collection run a CA. Such a gateway gets
``sitevpn_gateway_cert_file`` (its certificate, PEM), ``sitevpn_gateway_key_file`` (its private key, PEM,
Ansible-vault encrypted as you like) and ``sitevpn_gateway_ca_file`` (the CA certificate that issued it).
The collection then only checks and installs them: the key goes to the gateway once, in a PKCS#12 bundle
under a one-time password, and is imported into its NSS database with ``pk12util`` (the user chose to
keep the key on the controller; ours are born on the gateway).

Such a certificate names the gateway, not one tunnel, so every certificate tunnel of that gateway uses it
under one NSS nickname, and the ends take their IKE ID from it: the subject DN, or the subjectAltName the
user gives as ``sitevpn_id``. An ID cannot carry the tunnel's name, so these tunnels give up
``own_ike_sa``: two tunnels between the same two such gateways share one IKE SA.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible.errors import AnsibleError

from ansible_collections.sitevpn.ipsec.plugins.module_utils._conn import GIVEN_CERT_NICKNAME as NICKNAME
from ansible_collections.sitevpn.ipsec.plugins.plugin_utils import _ca
from ansible_collections.sitevpn.ipsec.plugins.plugin_utils._model_base import _hostvar

CERT_VAR, KEY_VAR, CA_VAR = "sitevpn_gateway_cert_file", "sitevpn_gateway_key_file", "sitevpn_gateway_ca_file"
PASSPHRASE_VAR = "sitevpn_gateway_key_passphrase"
VARIABLES = (CERT_VAR, KEY_VAR, CA_VAR, PASSPHRASE_VAR)


def brings_cert(hostvars, host):
    """Whether *host* brings its own certificate (``sitevpn_gateway_cert_file`` set)."""
    return bool(host and _hostvar(hostvars, host, CERT_VAR))


def read_text(path):
    with open(str(path)) as handle:
        return handle.read()


def read_key(loader, path):
    """The bytes of a key file on the controller, an ansible-vault encrypted one decrypted in memory (the
    loader's ``get_real_file`` would write the decrypted key to a temporary file for the length of the run).
    A relative path is taken from the current directory, as for the certificate files (the loader alone
    would take it from the playbook's)."""
    path = os.path.abspath(str(path))
    try:
        reader = getattr(loader, "get_text_file_contents", None)     # ansible-core 2.19 and later
        if reader is not None:
            return reader(path).encode("utf-8")
        return loader._get_file_contents(path)[0]                     # 2.16-2.18: the same, as bytes
    except AnsibleError as exc:
        raise _ca.CertProblem("%s %s cannot be read: %s" % (KEY_VAR, path, exc))


def load(hostvars, host):
    """(certificate, CA certificate, CA PEM) of *host*, or CertProblem/OSError saying which file failed."""
    cert_path, ca_path = _hostvar(hostvars, host, CERT_VAR), _hostvar(hostvars, host, CA_VAR)
    if not ca_path:
        raise _ca.CertProblem("%s is set but %s is not: the peers need the CA that issued the certificate"
                              % (CERT_VAR, CA_VAR))
    try:
        cert = _ca.load_cert(read_text(cert_path))
    except (OSError, IOError, _ca.CertProblem) as exc:
        raise _ca.CertProblem("%s %s: %s" % (CERT_VAR, cert_path, exc))
    try:
        ca_text = read_text(ca_path)
        ca_cert = _ca.load_cert(ca_text)
    except (OSError, IOError, _ca.CertProblem) as exc:
        raise _ca.CertProblem("%s %s: %s" % (CA_VAR, ca_path, exc))
    return cert, ca_cert, _ca.cert_pem(ca_cert).decode("ascii")


def end_problems(end, hostvars, now=None):
    """Fill a managed end that brings its certificate (``given_cert``, ``ca_cert``, its ID) and return
    [(field, problem)]: a certificate expired or not yet valid, not issued by the given CA, not carrying the
    ID, a weak key; a CA certificate that is no CA."""
    host = end["host"]
    field = "%s of %s" % (CERT_VAR, host)
    try:
        cert, ca_cert, ca_pem = load(hostvars, host)
    except _ca.CertProblem as exc:
        return [(field, str(exc))]
    # the subject DN unless sitevpn_id names one of its subjectAltNames (or the DN in its own words)
    end["id"] = str(_hostvar(hostvars, host, "sitevpn_id") or _ca.libreswan_dn(cert.subject))
    end.update(given_cert=True, ca_cert=ca_pem, cert_key_type=_ca.key_type(cert.public_key()))
    found = [("%s of %s" % (CA_VAR, host), problem) for problem in _ca.peer_problems(ca_pem, now=now)]
    found += [(field, "the certificate %s %s" % (cert.subject.rfc4514_string(), problem))
              for problem in _ca.problems(cert, ca_cert, [end["id"]], now=now)]
    return found


def key_problem(cert_text, key_bytes, passphrase=None):
    """What is wrong with a brought private key (unreadable, another key than the certificate's), or None."""
    try:
        key = _ca.load_private_key(key_bytes, passphrase)
    except _ca.CertProblem as exc:
        return str(exc)
    if _ca.public_der(key.public_key()) != _ca.public_der(_ca.load_cert(cert_text).public_key()):
        return "is not the private key of the certificate in %s" % CERT_VAR
    return None


def pkcs12(cert_text, key_bytes, passphrase, password):
    """The certificate and its key as PKCS#12 (DER) under *password*, friendly name NICKNAME."""
    return _ca.pkcs12(_ca.load_cert(cert_text), _ca.load_private_key(key_bytes, passphrase), NICKNAME, password)
