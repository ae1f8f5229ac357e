# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import hashlib
import os
import secrets

from ansible.plugins.action import ActionBase

from ansible.module_utils.common.text.converters import to_text

from ansible_collections.sitevpn.ipsec.plugins.module_utils._conn import GIVEN_CERT_NICKNAME, cert_nickname
from ansible_collections.sitevpn.ipsec.plugins.plugin_utils import _ca, _ca_store, _given_cert
from ansible_collections.sitevpn.ipsec.plugins.plugin_utils._ca import subject_for

MODULE = "sitevpn.ipsec.certificate"


def reissue_reason(current, has_key, ca_cert, ids, key_type="ec", share=0.33, renew=False, nickname="sitevpn",
                   now=None):
    """Why the gateway needs a new certificate (a sentence), or None when the one it has is good.

    *current* is the gateway's certificate (cryptography) or None; *has_key* whether its private key is in
    the gateway's NSS database."""
    if current is None:
        return "no certificate under the nickname %s yet" % nickname
    label = "the certificate %s (serial %x)" % (nickname, current.serial_number)
    if renew:
        return "%s is renewed on request" % label
    found = _ca.problems(current, ca_cert, ids, now=now)
    if found:
        return "%s %s" % (label, "; ".join(found))
    if not has_key:
        return "%s has no private key in the NSS database" % label
    if _ca.key_type(current.public_key()) != key_type:
        return "%s has an %s key, %s is asked for" % (label, _ca.key_type(current.public_key()), key_type)
    if _ca.renewal_due(current, share, now=now):
        return "%s has less than %d%% of its lifetime left (valid until %s)" % (
            label, round(share * 100), current.not_valid_after_utc.strftime("%Y-%m-%d %H:%M UTC"))
    return None


def _serial(cert):
    return "%x" % cert.serial_number if cert is not None else None


def _present_cert(tunnel):
    return tunnel.get("auth") == "cert" and tunnel.get("state", "present") == "present"


def cert_tunnels(tunnels, host):
    """(tunnel name, nickname, this end's ID) of the present auth=cert tunnels of *host*."""
    found = []
    for tunnel in tunnels or []:
        if not _present_cert(tunnel):
            continue
        side = tunnel.get("local") or ("left" if (tunnel.get("left") or {}).get("host") == host else "right")
        found.append((tunnel["name"], cert_nickname(tunnel, side), tunnel[side]["id"]))
    return found


def peer_cas(tunnels):
    """{NSS nickname: PEM} of the CAs the ends name (``ca_cert``): an unmanaged peer's own CA, or the PKI of a
    gateway that brings its certificate (both ends import it); trusted for their tunnels."""
    found = {}
    for tunnel in tunnels or []:
        for side in ("left", "right"):
            pem = (tunnel.get(side) or {}).get("ca_cert")
            if _present_cert(tunnel) and pem:
                found[_ca_store.nickname(_ca.load_cert(pem), "sitevpn-peerca")] = pem
    return found


def _unmanaged_peer(tunnel):
    """Whether *tunnel* is a present certificate tunnel with an unmanaged peer."""
    return _present_cert(tunnel) and not all((tunnel.get(side) or {}).get("managed", True) for side in ("left", "right"))


def unmanaged_cert_peers(tunnels):
    """Names of the present certificate tunnels with an unmanaged peer."""
    return sorted(tunnel["name"] for tunnel in tunnels or [] if _unmanaged_peer(tunnel))


def peer_requests(tunnels):
    """(tunnel name, the peer's ID, its CSR) of unmanaged certificate peers whose certificate our CA signs."""
    return [(tunnel["name"], tunnel[side]["id"], tunnel[side]["csr"]) for tunnel in tunnels or []
            for side in ("left", "right")
            if _present_cert(tunnel) and (tunnel.get(side) or {}).get("csr")]


def peer_cert_facts(tunnels, ca_cert, peer_certs):
    """What peer_config.yml hands the administrator of each unmanaged certificate peer: the certificate our CA
    signed for it (when it sent a request) and the CA that issued our gateway's certificate - the collection's,
    or the one of the user's PKI when the gateway brings its certificate."""
    found = {}
    for tunnel in tunnels or []:
        if not _unmanaged_peer(tunnel):
            continue
        ours = tunnel["left"] if (tunnel.get("left") or {}).get("managed", True) else tunnel["right"]
        issuer = ours.get("ca_cert") if ours.get("given_cert") else (_ca.cert_pem(ca_cert).decode("ascii")
                                                                     if ca_cert is not None else None)
        cert = peer_certs.get(tunnel["name"])
        found[tunnel["name"]] = {"cert": _ca.cert_pem(cert).decode("ascii") if cert else None, "ca_cert": issuer}
    return found


def facts(cert, nickname, ca_nickname, ident, key_type):
    return {"nickname": nickname, "ca_nickname": ca_nickname, "serial": "%x" % cert.serial_number,
            "not_before": cert.not_valid_before_utc.isoformat(), "not_after": cert.not_valid_after_utc.isoformat(),
            "subject": cert.subject.rfc4514_string(), "issuer": cert.issuer.rfc4514_string(),
            "ca_dn": _ca.libreswan_dn(cert.issuer),
            "id": ident, "key_type": key_type}


class ActionModule(ActionBase):
    """Issue the gateway's certificates on the controller; the gateway keeps its keys (see the module)."""

    TRANSFERS_FILES = False

    def _gateway(self, task_vars, args, **more):
        module_args = {"nssdir": args.get("nssdir") or "/var/lib/ipsec/nss", "key_type": args["key_type"]}
        module_args.update(more)
        return self._execute_module(module_name=MODULE, module_args=module_args, task_vars=task_vars)

    def _ca(self, args, task_vars):
        problem = _ca_store.location_problem(args.get("ca_dir"), args.get("ca_cert_file"), args.get("ca_key_file"),
                                             task_vars.get("ansible_inventory_sources") or ())
        if problem:
            raise _ca.CertProblem("sitevpn_ca_dir " + problem)
        ca_key, ca_cert, created, warnings = _ca_store.ensure(
            args.get("ca_dir"), args.get("ca_cert_file"), args.get("ca_key_file"), args.get("ca_passphrase"),
            args.get("ca_common_name") or "sitevpn CA", args.get("ca_key_type") or "ec")
        for warning in warnings:
            self._display.warning(warning)
        return ca_key, ca_cert, created

    def _crl(self, args, ca_key, ca_cert, queried):
        """(base64 DER, serials) of the CA's CRL when this gateway must import it, else (None, None)."""
        ca_dir = args.get("ca_dir") or os.path.dirname(args.get("ca_cert_file"))
        serials = _ca_store.revoked_serials(ca_dir, args.get("revoked_gateways") or [], args.get("revoked_serials") or [])
        der, hexes = _ca_store.crl(ca_dir, ca_key, ca_cert, serials)
        if der is None or (queried.get("crl") or {}).get("sha256") == hashlib.sha256(der).hexdigest():
            return None, None
        return base64.b64encode(der).decode("ascii"), hexes

    def _issue(self, task_vars, args, host, wanted, issued, ca_key, ca_cert):
        """Keys and requests made on the gateway for the tunnels in *issued*, signed here: {name: cert}."""
        names = sorted(issued)
        requested = self._gateway(task_vars, args, operation="request", subjects=[subject_for(host, n) for n in names])
        if requested.get("failed"):
            raise _GatewayFailed(requested)
        by_name = dict((w[0], w) for w in wanted)
        certs = {}
        for name, csr in zip(names, requested["csrs"]):
            try:
                certs[name] = _ca.sign_csr(ca_key, ca_cert, csr, ids=[by_name[name][2]], days=int(args.get("days", 365)))
            except _ca.CertProblem as exc:
                raise _ca.CertProblem("signing the request of %s for tunnel %s: %s" % (host, name, exc))
            _ca_store.record_issued(args.get("ca_dir"), certs[name])
        return certs, requested.get("commands", [])

    @staticmethod
    def _decide(args, wanted, queried, ca_cert):
        """({tunnel: the gateway's certificate or None}, {tunnel: why it gets a new one})."""
        current, issued = {}, {}
        for name, nickname, ident in wanted:
            have = queried["certs"].get(nickname) or {}
            current[name] = _ca.load_cert(have["cert"]) if have.get("cert") else None
            renew = args.get("renew") is True or (isinstance(args.get("renew"), list) and name in args["renew"])
            reason = reissue_reason(current[name], have.get("has_key"), ca_cert, [ident], args["key_type"],
                                    float(args.get("renew_share", 0.33)), renew, nickname)
            if reason:
                issued[name] = reason
        return current, issued

    def _given(self, args, queried):
        """(certificate, bundle) of the certificate the gateway brings (sitevpn_gateway_cert_file); the
        bundle ({pkcs12, password}, base64 DER under a one-time password) only when the gateway's NSS
        database does not hold that certificate with its key yet."""
        cert = _ca.load_cert(_given_cert.read_text(args["gateway_cert_file"]))
        have = queried["certs"].get(GIVEN_CERT_NICKNAME) or {}
        if have.get("cert") and have.get("has_key") and _ca.cert_der(_ca.load_cert(have["cert"])) == _ca.cert_der(cert):
            return cert, None
        if not args.get("gateway_key_file"):
            raise _ca.CertProblem("sitevpn_gateway_key_file is not set: the gateway's NSS database has no key for "
                                  "the certificate in sitevpn_gateway_cert_file")
        key = _given_cert.read_key(self._loader, args["gateway_key_file"])
        password = secrets.token_urlsafe(24)
        bundle = _given_cert.pkcs12(_ca.cert_pem(cert), key, args.get("gateway_key_passphrase"), password)
        return cert, {"pkcs12": to_text(base64.b64encode(bundle)), "password": password}

    def _peer_certs(self, args, ca_key, ca_cert):
        """Certificates of unmanaged peers that sent a request, kept in the CA directory (``peers/``) and
        signed again only when not good any more or the request changed. ({tunnel: cert}, {tunnel: why})."""
        certs, issued = {}, {}
        for name, ident, csr in peer_requests(args.get("tunnels")):
            cert, why = _ca_store.peer_cert(args.get("ca_dir"), ca_key, ca_cert, name, ident, csr,
                                            int(args.get("days", 365)), float(args.get("renew_share", 0.33)),
                                            dry=self._task.check_mode)
            certs[name] = cert
            if why:
                issued[name + " (peer)"] = why
        return certs, issued

    def _sign(self, task_vars, args, host, wanted, issued, ca_key, ca_cert):
        """New certificates for *issued* (made on the gateway, signed here): ({name: cert}, {nickname: PEM},
        commands)."""
        if not issued:
            return {}, {}, []
        new, commands = self._issue(task_vars, args, host, wanted, issued, ca_key, ca_cert)
        signed = dict((cert_nickname({"name": name}), _ca.cert_pem(cert).decode("ascii")) for name, cert in new.items())
        return new, signed, commands

    def _our_ca(self, args, task_vars, needed):
        """(key, certificate, created, nickname) of the collection's CA, all None when no end uses it."""
        if not needed:
            return None, None, False, None
        ca_key, ca_cert, created = self._ca(args, task_vars)
        return ca_key, ca_cert, created, args.get("ca_nickname") or _ca_store.nickname(ca_cert)

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp
        args = dict(self._task.args)
        args["key_type"] = args.get("key_type") or "ec"
        host = task_vars.get("inventory_hostname", "gateway")
        wanted = cert_tunnels(args.get("tunnels"), host)
        given = [w for w in wanted if w[1] == GIVEN_CERT_NICKNAME]     # the certificate the gateway brings
        ours = [w for w in wanted if w[1] != GIVEN_CERT_NICKNAME]      # issued by the collection's CA
        result.update(changed=False, issued={}, ca_created=False, restarted=False, commands=[],
                      ansible_facts={"sitevpn_certs": {}})
        if not wanted:
            return result
        if host in (args.get("revoked_gateways") or []):
            result.update(failed=True, msg="%s is revoked (sitevpn_revoked_gateways): the CA issues it no certificate; "
                                           "remove its tunnels (%s)" % (host, ", ".join(w[0] for w in wanted)))
            return result
        try:
            ca_key, ca_cert, created, ca_nickname = self._our_ca(args, task_vars,
                                                                 bool(ours or peer_requests(args.get("tunnels"))))
        except (_ca.CertProblem, OSError) as exc:
            result.update(failed=True, msg="the CA on the controller: %s" % exc)
            return result
        their_cas = peer_cas(args.get("tunnels"))
        queried = self._gateway(task_vars, args, operation="query", ca_nickname=ca_nickname,
                                nicknames=[w[1] for w in ours] + ([GIVEN_CERT_NICKNAME] if given else []) + sorted(their_cas))
        if queried.get("failed"):
            return queried
        try:
            given_cert, bundle = self._given(args, queried) if given else (None, None)
        except (_ca.CertProblem, OSError, IOError) as exc:
            result.update(failed=True, msg="the certificate %s brings: %s" % (host, exc))
            return result
        commands = list(queried.get("commands", []))
        current, issued = self._decide(args, ours, queried, ca_cert)
        if bundle:
            issued[", ".join(w[0] for w in given)] = "the certificate in sitevpn_gateway_cert_file (serial %x) is not " \
                "in the NSS database with its key yet" % given_cert.serial_number
        ca_missing = bool(ours) and (not queried.get("ca_cert") or
                                     _ca.cert_der(_ca.load_cert(queried["ca_cert"])) != _ca.cert_der(ca_cert))
        add_cas = dict((nick, pem) for nick, pem in their_cas.items()
                       if not (queried["certs"].get(nick) or {}).get("cert"))
        crl, crl_serials = self._crl(args, ca_key, ca_cert, queried) if ours else (None, None)
        certs, installed = dict(current), {}
        if (issued or ca_missing or crl or add_cas) and not self._task.check_mode:
            try:
                new, signed, more = self._sign(task_vars, args, host, ours, dict(
                    (name, why) for name, why in issued.items() if name in set(w[0] for w in ours)), ca_key, ca_cert)
            except _GatewayFailed as exc:
                return exc.result
            except _ca.CertProblem as exc:
                result.update(failed=True, msg=str(exc))
                return result
            commands += more
            certs.update(new)
            installed = self._gateway(task_vars, args, operation="install", ca_nickname=ca_nickname, certs=signed,
                                      ca_cert=_ca.cert_pem(ca_cert).decode("ascii") if ca_missing else None,
                                      crl=crl, crl_serials=crl_serials, peer_cas=add_cas, given=bundle)
            if installed.get("failed"):
                return installed
            commands += installed.get("commands", [])
        before = (queried["certs"].get(GIVEN_CERT_NICKNAME) or {}).get("cert") if given else None
        current.update((name, _ca.load_cert(before) if before else None) for name, _n, _i in given)
        certs.update((name, given_cert) for name, _n, _i in given)
        peer_certs, peers_issued = self._peer_certs(args, ca_key, ca_cert) if ca_cert else ({}, {})
        result.update(changed=bool(issued or ca_missing or crl or created or add_cas or peers_issued
                                   or queried.get("changed")), issued=dict(issued, **peers_issued),
                      ca_created=created, ca_nickname=ca_nickname, commands=commands, crl_serials=crl_serials,
                      restarted=bool(installed.get("restarted")))
        self._facts(result, args, wanted, certs, current, ca_nickname, ca_cert, peer_certs)
        return result

    def _facts(self, result, args, wanted, certs, current, ca_nickname, ca_cert, peer_certs):
        """sitevpn_certs (the certificate each tunnel uses; in check mode the one in use until a run issues
        the new one), sitevpn_peer_certs, the diff."""
        for name, nickname, ident in wanted:
            cert = certs.get(name)
            if cert is not None:
                nick = ca_nickname if nickname != GIVEN_CERT_NICKNAME else None
                result["ansible_facts"]["sitevpn_certs"][name] = facts(cert, nickname, nick, ident, _ca.key_type(
                    cert.public_key()) if nickname == GIVEN_CERT_NICKNAME else args["key_type"])
        result["ansible_facts"]["sitevpn_peer_certs"] = peer_cert_facts(args.get("tunnels"), ca_cert, peer_certs)
        if self._task.diff:
            result["diff"] = {"before": dict((name, _serial(current.get(name))) for name, _n, _i in wanted),
                              "after": dict((name, _serial(certs.get(name)) or "(new certificate)")
                                            for name, _n, _i in wanted)}


class _GatewayFailed(Exception):
    def __init__(self, result):
        super(_GatewayFailed, self).__init__(result.get("msg"))
        self.result = result
