#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: certificate
short_description: Give this gateway an X.509 certificate from the collection's CA, its key born in NSS
version_added: 0.1.0
description:
  - The gateway side of C(auth=cert) tunnels. An action plugin on the controller keeps a small CA (created
    once in O(ca_dir), or the one you put there) and asks the gateway what certificate its NSS database
    holds for each such tunnel; when there is none, or it is not good (expired, another CA, an ID it does
    not carry, a weak key) or less than O(renew_share) of its lifetime is left, the gateway makes a new key pair in its
    NSS database and a certificate signing request (C(certutil -R)), the controller signs it and the
    gateway imports the certificate and the CA certificate.
  - Only the request and the certificates travel. The gateway's private key never leaves its NSS database,
    the CA key never leaves the controller.
  - A good certificate is left alone (no change), so a rerun issues nothing.
  - Sets the fact C(sitevpn_certs) (per tunnel - nickname, serial, validity, ID, key type), read by the tunnel
    role. The serial is written into the tunnel's conn, so a renewed certificate replaces that conn alone and
    the tunnel authenticates anew with it.
  - A gateway that brings its own certificate (O(gateway_cert_file), issued by your PKI) uses it for all its
    certificate tunnels, nickname C(sitevpn-gateway); the collection only checks and installs it with its key
    (C(pk12util), a PKCS#12 bundle under a one-time password) and imports the issuing CA. That key does travel
    from the controller once - your choice when you bring it. No CA of the collection is needed then.
  - The options O(operation), O(nicknames), O(subjects), O(certs), O(ca_cert) and O(given) are how the action plugin
    talks to the gateway (three calls at most, whatever the number of tunnels); you do not set them.
author:
  - sitevpn maintainers (@sitevpn)
extends_documentation_fragment:
  - sitevpn.ipsec.attributes
options:
  ca_dir:
    description:
      - Controller directory of the CA, C(ca.crt) and C(ca.key) (mode 0600; the directory 0700). Created with
        a new CA (EC P-256, or RSA when O(ca_key_type=rsa)) when both files are missing.
      - To use a CA of your own, put its certificate and key there as C(ca.crt) and C(ca.key) (or name them
        with O(ca_cert_file) and O(ca_key_file)).
    type: path
  ca_cert_file:
    description: The CA certificate (PEM); default C(ca.crt) in O(ca_dir).
    type: path
  ca_key_file:
    description: The CA key (PEM, encrypted or not); default C(ca.key) in O(ca_dir).
    type: path
  ca_passphrase:
    description: Passphrase of the CA key (from a vault). A new CA key is written encrypted with it.
    type: str
  ca_common_name:
    description: Common name of a CA this creates.
    type: str
    default: sitevpn CA
  ca_key_type:
    description: Key of a CA this creates.
    type: str
    choices: [ec, rsa]
    default: ec
  tunnels:
    description:
      - The tunnels of this gateway, as the C(sitevpn.ipsec.host_tunnels) filter gives them; those with
        C(auth=cert) get a certificate each, nickname C(sitevpn-NAME), carrying this end's IKE ID as
        subjectAltName (C(@vpn1) a DNS name, an address an IP address).
      - One certificate per tunnel, so that a tunnel added, renewed or removed leaves the others' SAs alone
        (with the tunnels' C(own_ike_sa), the default, every tunnel has an ID of its own anyway).
    type: list
    elements: dict
    default: []
  days:
    description: Lifetime of an issued certificate (never past the CA's).
    type: int
    default: 365
  renew_share:
    description: Re-issue when less than this share of the certificate's lifetime is left.
    type: float
    default: 0.33
  renew:
    description: Re-issue now, whatever is left (rotation); V(true) for every tunnel, or a list of tunnel names.
    type: raw
    default: false
  key_type:
    description: The gateway's key, made in its NSS database (EC P-256 signs with ECDSA, C(authby=ecdsa)).
    type: str
    choices: [ec, rsa]
    default: ec
  ca_nickname:
    description: NSS nickname of the CA certificate. Default C(sitevpn-ca-) and the first 8 hex digits of its
      SHA-256 fingerprint, so that a new CA is added beside the old one (pluto uses an added CA at once, a CA
      replaced under the same nickname only after a restart).
    type: str
  nssdir:
    description: NSS database directory.
    type: path
    default: /var/lib/ipsec/nss
  operation:
    description: Set by the action plugin. V(query) the database, V(request) keys and CSRs, V(install) certificates.
    type: str
    choices: [query, request, install]
    default: query
  nicknames:
    description: Set by the action plugin; the certificates to query.
    type: list
    elements: str
  subjects:
    description: Set by the action plugin; the subjects to request a key pair and a CSR for, one each.
    type: list
    elements: str
  certs:
    description: Set by the action plugin; nickname to signed certificate (PEM), to install.
    type: dict
  ca_cert:
    description: Set by the action plugin; the CA certificate to install (PEM).
    type: str
  peer_cas:
    description: Set by the action plugin; nickname to PEM of the CAs of unmanaged peers, to trust.
    type: dict
  crl:
    description: Set by the action plugin; the CA's certificate revocation list to import (DER, base64).
    type: str
  crl_serials:
    description: Set by the action plugin; the serials O(crl) revokes (hex).
    type: list
    elements: str
  gateway_cert_file:
    description:
      - Controller path of a certificate (PEM) this gateway brings, issued by your own PKI; its tunnels take their
        IKE ID from it (the subject DN, or C(sitevpn_id) when that names one of its subjectAltNames).
      - Replace the file to renew; the new certificate is installed and the tunnels re-authenticate with it.
    type: path
  gateway_key_file:
    description: Controller path of the private key (PEM) of O(gateway_cert_file); vault-encrypted files are read.
    type: path
  gateway_key_passphrase:
    description: Passphrase of O(gateway_key_file) when the PEM is encrypted.
    type: str
  given:
    description: Set by the action plugin; the brought certificate and key as PKCS#12 (base64) and its one-time password.
    type: dict
  revoked_gateways:
    description:
      - Gateways whose certificates are revoked (inventory names; also those no longer in the inventory). Every
        certificate the CA issued to them (the CA keeps a copy of each in C(issued/)) goes on the CA's CRL, which
        every gateway with certificate tunnels imports. No certificate is issued to a revoked gateway.
      - A gateway that gets a CRL revoking other serials than before restarts pluto (only then does pluto use
        it; measured on 4.10 and 5.2), which also ends the SAs it had with a revoked peer.
    type: list
    elements: str
    default: []
  revoked_serials:
    description: Serials (hex) to revoke besides those of O(revoked_gateways).
    type: list
    elements: str
    default: []
attributes:
  check_mode:
    support: full
    details: Reports whether a certificate would be issued and why; makes no key, request or import.
  diff_mode:
    support: partial
    details: The serial and expiry of the certificate before and after.
  idempotent:
    support: partial
    details: Idempotent unless O(renew=true), or the certificate's renewal is due.
notes:
  - Pluto uses a CA imported for the first time at once; a CA added beside another one (a rotation) or a new CRL
    only after a restart, which the module then does (measured on Libreswan 4.10 and 5.2).
seealso:
  - name: certutil(1)
    description: The NSS tool the gateway side runs.
    link: https://firefox-source-docs.mozilla.org/security/nss/legacy/tools/nss_tools_certutil/index.html
"""

EXAMPLES = r"""
- name: A certificate for this gateway, from the CA kept next to the inventory
  sitevpn.ipsec.certificate:
    ca_dir: "{{ inventory_dir }}/sitevpn-ca"
    ca_passphrase: "{{ vault_sitevpn_ca_passphrase }}"
    tunnels: "{{ sitevpn_tunnels | sitevpn.ipsec.host_tunnels(inventory_hostname, hostvars, require_keys=false) }}"
"""

RETURN = r"""
issued:
  description: Tunnel name to why its certificate was (or in check mode would be) issued.
  returned: always
  type: dict
  sample:
    net-to-net: no certificate under the nickname sitevpn-net-to-net yet
restarted:
  description:
    - Whether pluto was restarted, to use a CRL that revokes other serials than before, or a CA added beside
      another one of the collection (a CA rotation).
    - Measured in the lab - pluto uses the first CA imported while it runs, but not a second one (Libreswan 5.2
      refused a peer certificate of the new CA with SEC_ERROR_UNTRUSTED_ISSUER), nor a new CRL.
  returned: always
  type: bool
ca_created:
  description: Whether the CA was created by this run.
  returned: always
  type: bool
ansible_facts:
  description: C(sitevpn_certs) - tunnel name to C(nickname), C(serial), C(not_after), C(subject), C(id),
    C(key_type) of its certificate.
  returned: always
  type: dict
commands:
  description: Every command that ran on the gateway, or would have run in check mode.
  returned: always
  type: list
  elements: dict
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.sitevpn.ipsec.plugins.module_utils._conn import GIVEN_CERT_NICKNAME
from ansible_collections.sitevpn.ipsec.plugins.module_utils._nss_cert import NssCertificates
from ansible_collections.sitevpn.ipsec.plugins.module_utils._runner import IpsecError, IpsecRunner


def main():
    module = AnsibleModule(
        argument_spec=dict(
            ca_dir=dict(type="path"), ca_cert_file=dict(type="path"), ca_key_file=dict(type="path"),
            ca_passphrase=dict(type="str", no_log=True), ca_common_name=dict(type="str", default="sitevpn CA"),
            ca_key_type=dict(type="str", choices=["ec", "rsa"], default="ec"),
            tunnels=dict(type="list", elements="dict", default=[]), days=dict(type="int", default=365),
            renew_share=dict(type="float", default=0.33), renew=dict(type="raw", default=False),
            key_type=dict(type="str", choices=["ec", "rsa"], default="ec"), ca_nickname=dict(type="str"),
            nssdir=dict(type="path", default="/var/lib/ipsec/nss"),
            operation=dict(type="str", choices=["query", "request", "install"], default="query"),
            nicknames=dict(type="list", elements="str"), subjects=dict(type="list", elements="str"),
            certs=dict(type="dict"), ca_cert=dict(type="str"), crl=dict(type="str"), peer_cas=dict(type="dict"),
            crl_serials=dict(type="list", elements="str"), given=dict(type="dict", no_log=True),
            gateway_cert_file=dict(type="path"), gateway_key_file=dict(type="path"),
            gateway_key_passphrase=dict(type="str", no_log=True),
            revoked_gateways=dict(type="list", elements="str", default=[]),
            revoked_serials=dict(type="list", elements="str", default=[]),
        ),
        supports_check_mode=True,
    )
    params = module.params
    runner = None
    try:
        runner = IpsecRunner(module)
        nss = NssCertificates(runner, params["nssdir"])
        result = {"changed": False, "restarted": False, "initialized_nss": nss.ensure_database()}
        if params["operation"] == "query":
            result.update(nss.query(params["nicknames"] or [], params["ca_nickname"]))
        elif params["operation"] == "request":
            result.update(changed=True, csrs=[nss.request(subject, params["key_type"]) for subject in params["subjects"] or []])
        else:
            adding = ([params["ca_nickname"]] if params["ca_cert"] else []) + sorted(params["peer_cas"] or {})
            others = [name for name in nss.other_cas(None) if name not in adding] if adding else []
            given = dict(params["given"], nickname=GIVEN_CERT_NICKNAME) if params["given"] else None
            done = nss.install(params["certs"] or {}, params["ca_nickname"], params["ca_cert"], params["peer_cas"], given)
            why = []
            if others or len(adding) > 1:
                # pluto trusts the first CA imported while it runs, not a second one (5.2, measured)
                why.append("a new CA beside %s" % ", ".join(others or adding[1:]))
            if params["crl"]:
                done["crl"] = "imported"
                if nss.import_crl(params["ca_nickname"], params["crl"], params["crl_serials"] or []):
                    why.append("a CRL that revokes other serials")
            if why and runner.pluto_running():
                restart = runner.optional_command("systemctl", ["restart", "ipsec"], mutating=True)
                if restart is None or restart.rc != 0:
                    raise IpsecError("%s imported, but pluto could not be restarted to use it: %s"
                                     % (" and ".join(why), restart.text if restart else "no systemctl"))
                result.update(restarted=True, restart_reason=" and ".join(why))
            result.update(changed=bool(done), installed=done)
        result["changed"] = result["changed"] or result["initialized_nss"]
    except IpsecError as exc:
        module.fail_json(msg=exc.msg, commands=runner.commands if runner else [], **exc.details)
    result["commands"] = runner.commands
    module.exit_json(**result)


if __name__ == "__main__":
    main()
