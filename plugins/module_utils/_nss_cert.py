# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private, gateway side: the gateway certificate in Libreswan's NSS database, through ``certutil``.

Three steps, each one call of the ``certificate`` module made by its action plugin on the controller:

- ``query``: the certificate under the nickname (PEM), whether its private key is in the database, and
  the CA certificate under the CA nickname - only public material leaves the host;
- ``request``: a new key pair made *in* the database (``certutil -R``: the key never exists anywhere
  else) and its certificate signing request (PEM);
- ``install``: the CA certificate (trust ``CT,,``: it may issue the peers' certificates) and the signed
  gateway certificate imported; a certificate it replaces goes with its private key.

Measured on Libreswan 4.10 and 5.2 (lab): the first CA imported while pluto runs is used by the next
IKE_AUTH; a second one (a rotation) is not until pluto restarts (5.2: SEC_ERROR_UNTRUSTED_ISSUER), nor a
CA replaced under the same nickname, nor a new CRL; a renewed gateway certificate is used after
``ipsec whack --rereadcerts`` (or by a conn added after the import).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import contextlib
import hashlib
import json
import os
import re
import shutil
import tempfile

from ansible_collections.sitevpn.ipsec.plugins.module_utils._runner import IpsecError, one_line

NSSDIR = "/var/lib/ipsec/nss"
STATE_DIR = "/var/lib/sitevpn"     # the CRL this gateway imported last (its digest and serials)
PEM_RE = re.compile(r"-----BEGIN (?:NEW )?CERTIFICATE(?: REQUEST)?-----.*?-----END (?:NEW )?CERTIFICATE(?: REQUEST)?-----",
                    re.S)
# `certutil -L`: "sitevpn-net-to-net                                           u,u,u" (nickname, trust)
LISTING_LINE_RE = re.compile(r"^(\S.*?)\s+[a-zA-Z]*,[a-zA-Z]*,[a-zA-Z]*\s*$", re.M)
# `certutil -K`: "< 0> ec       3a2f0126a3503f483ac53110a805346b998a25a3   NSS Certificate DB:sitevpn"
KEY_LINE_RE = re.compile(r"^<\s*\d+>\s+(?P<type>\S+)\s+(?P<ckaid>[0-9a-f]+)\s+(?P<name>.*?)\s*$", re.M)


def _db(nssdir):
    return "sql:" + (nssdir or NSSDIR)


@contextlib.contextmanager
def _scratch(prefix, files):
    """A private temporary directory (mkdtemp: mode 0700) holding *files* ({name: bytes}, each written 0600)
    for the tools that want file names; yields (directory, {name: path}) and removes it all afterwards."""
    work = tempfile.mkdtemp(prefix=prefix)
    try:
        paths = {}
        for name, data in files.items():
            paths[name] = os.path.join(work, name)
            with os.fdopen(os.open(paths[name], os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as handle:
                handle.write(data)
        yield work, paths
    finally:
        shutil.rmtree(work, ignore_errors=True)


def pem_of(text, label="CERTIFICATE"):   # or "CERTIFICATE REQUEST"
    """The first PEM block of *text* (certutil prints a header before a request), or None."""
    for match in PEM_RE.finditer(text or ""):
        if match.group(0).splitlines()[0] in ("-----BEGIN %s-----" % label, "-----BEGIN NEW %s-----" % label):
            return match.group(0) + "\n"
    return None


def key_nicknames(listing):
    """Nicknames whose private key ``certutil -K`` lists (``NSS Certificate DB:NAME`` -> NAME)."""
    names = set()
    for match in KEY_LINE_RE.finditer(listing or ""):
        name = match.group("name")
        names.add(name.split(":", 1)[1] if ":" in name else name)
    return names


class NssCertificates(object):
    """certutil on one NSS database, every call through the module's runner (recorded, check mode)."""

    def __init__(self, runner, nssdir=None):
        self.runner = runner
        self.nssdir = nssdir or NSSDIR

    def certutil(self, args, mutating=False):
        return self.runner.command("certutil", ["-d", _db(self.nssdir)] + list(args), mutating=mutating)

    def ensure_database(self):
        """True when the database had to be initialised (``ipsec initnss``; exit 42: it already was)."""
        if self.certutil(["-L"]).rc == 0:
            return False
        made = self.runner.run(["initnss", "--nssdir", self.nssdir], mutating=True)
        if not made.skipped and made.rc not in (0, 42):
            raise IpsecError("`ipsec initnss` failed (exit %d): %s" % (made.rc, one_line(made.text)))
        return True

    def nicknames(self):
        """Nicknames of the certificates in the database (``certutil -L``: name, then the trust column)."""
        listing = self.certutil(["-L"]).out
        return set(match.group(1) for match in LISTING_LINE_RE.finditer(listing))

    def exported(self, nickname):
        """The PEM certificate under *nickname*, or None."""
        shown = self.certutil(["-L", "-n", nickname, "-a"])
        return pem_of(shown.out) if shown.rc == 0 else None

    def query(self, nicknames, ca_nickname):
        """{'certs': {nickname: {'cert': PEM or None, 'has_key': bool}}, 'ca_cert': PEM or None,
        'crl': {'sha256', 'serials'} of the CRL imported last, or None}."""
        present = self.nicknames()
        keys = key_nicknames(self.certutil(["-K"]).text) if any(n in present for n in nicknames) else set()
        certs = dict((name, {"cert": self.exported(name) if name in present else None, "has_key": name in keys})
                     for name in nicknames)
        return {"certs": certs, "ca_cert": self.exported(ca_nickname) if ca_nickname in present else None,
                "crl": self.crl_state(ca_nickname)}

    @staticmethod
    def crl_path(ca_nickname):
        return os.path.join(STATE_DIR, "crl-%s.json" % ca_nickname)

    def crl_state(self, ca_nickname):
        try:
            with open(self.crl_path(ca_nickname)) as handle:
                return json.load(handle)
        except (IOError, OSError, ValueError):
            return None

    def import_crl(self, ca_nickname, crl_b64, serials):
        """Import the CA's CRL (DER, base64) and record what it revokes. True when the revoked serials differ
        from those of the CRL imported before: pluto then needs a restart to use it (measured, 4.10 and 5.2:
        ``whack --rereadcerts``, ``--fetchcrls`` and ``--rereadall`` leave its CRL cache as it was)."""
        der = base64.b64decode(crl_b64)
        before = self.crl_state(ca_nickname) or {}
        with _scratch("sitevpn-crl-", {"crl.der": der}) as (_work, paths):
            done = self.runner.command("crlutil", ["-I", "-d", _db(self.nssdir), "-i", paths["crl.der"]], mutating=True)
        if done.rc != 0:
            raise IpsecError("`crlutil -I` (the CRL of %s) failed (exit %d): %s"
                             % (ca_nickname, done.rc, one_line(done.text)))
        if not self.runner.module.check_mode:
            if not os.path.isdir(STATE_DIR):
                os.makedirs(STATE_DIR, 0o700)
            with open(self.crl_path(ca_nickname), "w") as handle:
                json.dump({"sha256": hashlib.sha256(der).hexdigest(), "serials": sorted(serials)}, handle)
        return sorted(before.get("serials") or []) != sorted(serials)

    def request(self, subject, key_type="ec", bits=3072):
        """A key pair born in the database and its CSR (PEM). Check mode: None."""
        if self.runner.module.check_mode:
            self.runner.commands.append({"argv": ["certutil", "-R", "-s", subject], "skipped": "check mode"})
            return None
        # the noise seeds NSS's own generator (certutil wants a file)
        with _scratch("sitevpn-csr-", {"noise": os.urandom(64)}) as (work, paths):
            out = os.path.join(work, "request.pem")
            kind = ["-k", "ec", "-q", "nistp256"] if key_type == "ec" else ["-k", "rsa", "-g", str(bits)]
            made = self.certutil(["-R", "-s", subject] + kind + ["-z", paths["noise"], "-a", "-o", out], mutating=True)
            text = ""
            if os.path.exists(out):
                with open(out) as handle:
                    text = handle.read()
        csr = pem_of(text, "CERTIFICATE REQUEST")
        if made.rc != 0 or not csr:
            raise IpsecError("`certutil -R` (a %s key and its request for %s) failed (exit %d): %s"
                             % (key_type, subject, made.rc, one_line(made.text)))
        return csr

    def _import(self, nickname, trust, pem):
        with _scratch("sitevpn-cert-", {"cert.pem": pem.encode("utf-8")}) as (_work, paths):
            done = self.certutil(["-A", "-n", nickname, "-t", trust, "-a", "-i", paths["cert.pem"]], mutating=True)
        if done.rc != 0:
            raise IpsecError("`certutil -A -n %s` failed (exit %d): %s" % (nickname, done.rc, one_line(done.text)))

    def _remove(self, nickname):
        """Delete the certificate *nickname* with its key (-F); one that had no key is deleted alone (-D)."""
        if self.certutil(["-F", "-n", nickname], mutating=True).rc != 0:
            self.certutil(["-D", "-n", nickname], mutating=True)

    def _import_pkcs12(self, nickname, bundle_b64, password, present):
        """Import a certificate with its key (PKCS#12, base64, under a one-time *password*) as *nickname*,
        after the certificate and key of that name that were there (*present*). The bundle and the password
        file live in a private temporary directory for the length of the call."""
        if present:
            self._remove(nickname)
        files = {"gateway.p12": base64.b64decode(bundle_b64), "password": password.encode("utf-8") + b"\n"}
        with _scratch("sitevpn-p12-", files) as (_work, paths):
            done = self.runner.command("pk12util", ["-i", paths["gateway.p12"], "-d", _db(self.nssdir),
                                                    "-w", paths["password"]], mutating=True)
        if done.rc != 0:
            raise IpsecError("`pk12util -i` (the certificate %s and its key) failed (exit %d): %s"
                             % (nickname, done.rc, one_line(done.text)))
        self.certutil(["-M", "-n", nickname, "-t", "u,u,u"], mutating=True)
        return "replaced" if present else "added"

    def other_cas(self, ca_nickname, prefixes=("sitevpn-ca-", "sitevpn-peerca-")):
        """The collection's other CA certificates in the database (an earlier CA of a rotation, a peer's CA)."""
        return sorted(name for name in self.nicknames() if name.startswith(prefixes) and name != ca_nickname)

    def install(self, certs, ca_nickname, ca_cert=None, peer_cas=None, given=None):
        """Import the CA certificate (when given), the gateway certificates ({nickname: PEM}) and the one the
        gateway brings with its key (*given*: nickname, pkcs12, password); returns what happened ({nickname:
        'added'|'replaced'}). A replaced certificate goes with its private key."""
        done = {}
        present = self.nicknames()
        if ca_cert:
            if ca_nickname in present:
                self.certutil(["-D", "-n", ca_nickname], mutating=True)
            self._import(ca_nickname, "CT,,", ca_cert)
            done[ca_nickname] = "replaced" if ca_nickname in present else "added"
        for nickname, pem in sorted((peer_cas or {}).items()):      # CAs of unmanaged peers, to trust
            self._import(nickname, "CT,,", pem)
            done[nickname] = "added"
        for nickname, pem in sorted(certs.items()):
            if nickname in present:
                self._remove(nickname)
            self._import(nickname, "u,u,u", pem)
            done[nickname] = "replaced" if nickname in present else "added"
        if given:
            done[given["nickname"]] = self._import_pkcs12(given["nickname"], given["pkcs12"], given["password"],
                                                          given["nickname"] in present)
        return done
