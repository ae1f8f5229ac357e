# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private, controller side: where the CA lives - two files in a directory, created once, read often.

``ca.crt`` (PEM, 0644) and ``ca.key`` (PEM, 0600, encrypted when a passphrase is given) in a 0700
directory. Every gateway's task reads them (the certificate action runs in parallel forks), so the
first one to find neither file creates the CA under an exclusive lock and the others wait for it and
read what it wrote: one CA, never two. A directory with only one of the two files is refused: a CA
without its key (or a key without its certificate) is not something to paper over with a new one.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import fcntl
import hashlib
import json
import os

from ansible_collections.sitevpn.ipsec.plugins.plugin_utils import _ca

try:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.x509.oid import NameOID
except ImportError:  # _ca says what to install
    x509 = None


def paths(ca_dir, cert_file=None, key_file=None):
    return (cert_file or os.path.join(ca_dir, "ca.crt"), key_file or os.path.join(ca_dir, "ca.key"))


def _write(path, data, mode):
    fd = os.open(path + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.chmod(path + ".tmp", mode)
    os.rename(path + ".tmp", path)


def _read(path):
    with open(path, "rb") as handle:
        return handle.read()


def location_problem(ca_dir, cert_file=None, key_file=None, inventory_sources=()):
    """Why the CA cannot live where it is set to (a sentence), or None."""
    if not ca_dir and not (cert_file and key_file):
        return ("is not set: certificate tunnels need a directory on the controller for the CA (created there on "
                "the first run), or sitevpn_ca_cert_file and sitevpn_ca_key_file")
    for source in inventory_sources or ():
        if ca_dir and os.path.isdir(source):
            inside = os.path.realpath(ca_dir)
            if inside == os.path.realpath(source) or inside.startswith(os.path.realpath(source) + os.sep):
                return ("%s is inside the inventory directory %s: Ansible would read the CA's files as inventory; "
                        "choose a directory beside it" % (ca_dir, source))
    return None


def check(ca_dir, cert_file=None, key_file=None, passphrase=None, inventory_sources=()):
    """What is wrong with the CA before any host is touched: its place, or the CA itself when it exists
    (incomplete, unreadable, wrong passphrase, expired, weak). A CA still to be created is fine."""
    problem = location_problem(ca_dir, cert_file, key_file, inventory_sources)
    if problem:
        return problem
    cert_path, key_path = paths(ca_dir, cert_file, key_file)
    have = [os.path.exists(p) for p in (cert_path, key_path)]
    if have == [False, False] and not (cert_file or key_file):
        return None
    if not all(have):
        missing = [p for p, there in zip((cert_path, key_path), have) if not there]
        return "the CA is incomplete: %s missing" % " and ".join(missing)
    try:
        _ca.load_ca(_read(cert_path), _read(key_path), passphrase)
    except _ca.CertProblem as exc:
        return str(exc)
    return None


def unique_name(common_name, now=None):
    """A new CA's common name: the one asked for, its day and 8 random hex digits.

    Two CAs of the same subject in one NSS database make NSS pick the issuer by name, and in the lab it
    picked the old CA for a certificate of the new one (SEC_ERROR_BAD_SIGNATURE) while both were trusted
    during a rotation. A subject of its own per CA avoids that."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    return "%s %s %s" % (common_name, now.strftime("%Y-%m-%d"), os.urandom(4).hex())


def ensure(ca_dir, cert_file=None, key_file=None, passphrase=None, common_name="sitevpn CA", key_type="ec"):
    """(key, certificate, created, warnings) of the CA; creates it when neither file exists."""
    if not ca_dir and not (cert_file and key_file):
        raise _ca.CertProblem("no CA: set sitevpn_ca_dir (a controller directory, created with a new CA), or "
                              "sitevpn_ca_cert_file and sitevpn_ca_key_file")
    cert_path, key_path = paths(ca_dir, cert_file, key_file)
    lock_dir = ca_dir or os.path.dirname(cert_path)
    created = False
    os.makedirs(lock_dir, 0o700, exist_ok=True)
    with open(os.path.join(lock_dir, ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        have = [os.path.exists(p) for p in (cert_path, key_path)]
        if have == [False, False] and not (cert_file or key_file):
            key, cert = _ca.new_ca(unique_name(common_name), key_type=key_type)
            _write(key_path, _ca.key_pem(key, passphrase), 0o600)
            _write(cert_path, _ca.cert_pem(cert), 0o644)
            created = True
        elif not all(have):
            missing = [p for p, there in zip((cert_path, key_path), have) if not there]
            raise _ca.CertProblem("the CA is incomplete: %s missing (a CA needs its certificate and its key; "
                                  "restore it from your backup, or move the directory away to start a new CA)"
                                  % " and ".join(missing))
        key, cert, warnings = _ca.load_ca(_read(cert_path), _read(key_path), passphrase)
    mode = os.stat(key_path).st_mode & 0o777
    if mode & 0o077:
        warnings.append("the CA key %s is readable by others (mode %04o): chmod 0600 it" % (key_path, mode))
    return key, cert, created, warnings


def nickname(cert, prefix="sitevpn-ca"):
    """NSS nickname of a CA certificate: a new CA gets a new nickname, so it is *added* next to the old one,
    which pluto uses at once, never *replaced* under the same name, which pluto ignores until it restarts."""
    return "%s-%s" % (prefix, hashlib.sha256(_ca.cert_der(cert)).hexdigest()[:8])


# -- what the CA issued, what it revoked -----------------------------------------------------------------

CRL_DAYS = 365                          # a CRL the gateways hold; rebuilt (same serials) when less is left:
CRL_REFRESH = datetime.timedelta(days=90)


def record_issued(ca_dir, cert):
    """Keep a copy of every certificate the CA issues (``issued/<serial>.pem``): revoking a gateway puts
    all of its certificates on the CRL, also those of a gateway no longer in the inventory."""
    if not ca_dir:
        return
    where = os.path.join(ca_dir, "issued")
    os.makedirs(where, 0o700, exist_ok=True)
    _write(os.path.join(where, "%x.pem" % cert.serial_number), _ca.cert_pem(cert), 0o644)


def _common_name(cert):
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return names[0].value if names else None


def revoked_serials(ca_dir, gateways=(), serials=()):
    """The serials to revoke: every certificate issued to one of *gateways* (by its subject CN, the
    inventory name) and the *serials* given (hex)."""
    found = set(int(str(serial), 16) for serial in serials or ())
    where = os.path.join(ca_dir, "issued") if ca_dir else None
    if gateways and where and os.path.isdir(where):
        for name in sorted(os.listdir(where)):
            cert = _ca.load_cert(_read(os.path.join(where, name)))
            if _common_name(cert) in gateways:
                found.add(cert.serial_number)
    return sorted(found)


def crl(ca_dir, ca_key, ca_cert, serials, now=None):
    """(DER of the CA's CRL, its serials as hex) for *serials*, or (None, []) when nothing is revoked.

    The CRL is kept in the CA directory and rebuilt only when the revoked set changes or its next update
    comes near, so that every run hands the gateways the same bytes (a gateway imports a CRL only when it
    differs from the one it has, and restarts pluto only when the revoked serials differ)."""
    if not serials:
        return None, []
    now = now or datetime.datetime.now(datetime.timezone.utc)
    state_path, der_path = os.path.join(ca_dir, "crl.json"), os.path.join(ca_dir, "crl.der")
    with open(os.path.join(ca_dir, ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        state = json.loads(_read(state_path)) if os.path.exists(state_path) else {"number": 0, "revoked": {}}
        wanted = ["%x" % serial for serial in serials]
        since = dict((serial, state["revoked"].get(serial, now.isoformat())) for serial in wanted)
        current = x509.load_der_x509_crl(_read(der_path)) if os.path.exists(der_path) else None
        fresh = current is not None and current.next_update_utc - now > CRL_REFRESH
        if sorted(state["revoked"]) != wanted or not fresh:
            built = _ca.build_crl(ca_key, ca_cert, [(int(s, 16), datetime.datetime.fromisoformat(when))
                                                    for s, when in since.items()],
                                  state["number"] + 1, days=CRL_DAYS, now=now)
            _write(der_path, built.public_bytes(serialization.Encoding.DER), 0o644)
            _write(state_path, json.dumps({"number": state["number"] + 1, "revoked": since}).encode(), 0o644)
        return _read(der_path), wanted


def peer_cert(ca_dir, ca_key, ca_cert, tunnel, ident, csr_text, days=365, share=0.33, dry=False, now=None):
    """(certificate, why it was signed now or None) of an unmanaged peer that sent a request: kept in
    ``peers/<tunnel>.pem``, signed again only when it is not good any more, the request changed (another
    key) or less than *share* of its lifetime is left. *dry* (check mode): nothing signed or written."""
    path = os.path.join(ca_dir, "peers", "%s.pem" % tunnel)
    current = _ca.load_cert(_read(path)) if os.path.exists(path) else None
    csr = x509.load_pem_x509_csr(csr_text.encode("ascii") if isinstance(csr_text, str) else csr_text)
    found = _ca.problems(current, ca_cert, [ident], now=now) if current is not None else []
    if current is None:
        why = "no certificate for the peer of %s yet" % tunnel
    elif found:
        why = "the peer's certificate %s" % "; ".join(found)
    elif current.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo) \
            != csr.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo):
        why = "the peer sent a request for another key"
    elif _ca.renewal_due(current, share, now=now):
        why = "the peer's certificate has less than %d%% of its lifetime left" % round(share * 100)
    else:
        return current, None
    if dry:
        return current, why
    cert = _ca.sign_csr(ca_key, ca_cert, csr_text, ids=[ident], days=days, now=now)
    os.makedirs(os.path.dirname(path), 0o700, exist_ok=True)
    _write(path, _ca.cert_pem(cert), 0o644)
    record_issued(ca_dir, cert)
    return cert, why
