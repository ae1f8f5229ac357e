# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: peer_configs
short_description: What the administrator of an unmanaged peer needs, per tunnel
version_added: 0.1.0
description:
  - For every tunnel of O(host) whose other end is not in the inventory (an appliance, or a Linux box
    configured by hand), the other side's half as text - addresses, IDs, subnets, IKE version, proposals,
    DPD, this gateway's RSA public key (Libreswan C(0s) form and PEM) or the PSK - followed by the conn
    that a Libreswan or Openswan peer can paste, in the seed's form, and a table of every parameter an
    appliance's GUI asks for (algorithms by their IANA names, DH groups by number, lifetimes, PFS, DPD, NAT-T,
    IDs with their types).
  - A C(swanctl.conf) snippet for a strongSwan peer (connections, children, secrets or public keys; proposals
    translated into strongSwan's syntax).
  - The text may hold a PSK, so write it with mode 0600 and C(no_log).
positional: host, hostvars
options:
  host:
    description: The managed gateway.
    type: str
    required: true
  hostvars:
    description: C(hostvars) (for this gateway's C(sitevpn_hostkey) fact).
    type: dict
    required: true
extends_documentation_fragment:
  - sitevpn.ipsec.tunnel_list
"""

EXAMPLES = r"""
- name: Hand each unmanaged peer its half
  ansible.builtin.copy:
    content: "{{ item.text }}"
    dest: "peer-config/{{ item.tunnel }}.txt"
    mode: "0600"
  loop: "{{ sitevpn_tunnels | sitevpn.ipsec.peer_configs(inventory_hostname, hostvars) }}"
  delegate_to: localhost
  no_log: true
"""

RETURN = r"""
_value:
  description:
    - C({tunnel, peer, text, files}) per tunnel with an unmanaged peer. C(files) maps file names to their text -
      C(TUNNEL.txt) (the same as C(text)), C(TUNNEL.swanctl.conf) for a strongSwan peer and, with RSA, the public
      keys in PEM that swanctl reads (C(TUNNEL-HOST.pem)).
  type: list
  elements: dict
"""

import re

from ansible.errors import AnsibleFilterError

from ansible_collections.sitevpn.ipsec.plugins.filter.host_tunnels import resolve
from ansible_collections.sitevpn.ipsec.plugins.module_utils import _conn
from ansible_collections.sitevpn.ipsec.plugins.plugin_utils import _keys, _model, _proposals

#: Libreswan's lifetimes when the tunnel's options set none (ipsec.conf(5), 4.x and 5.x)
DEFAULT_IKE_LIFETIME = 8 * 3600
DEFAULT_SA_LIFETIME = 8 * 3600
# pluto's dpdaction -> swanctl's child dpd_action
_DPD_ACTIONS = {"restart": "restart", "clear": "clear", "hold": "trap"}


def _proposal_strings(tunnel):
    v1 = tunnel["ike_version"] == 1
    return (tunnel["ike"] or (_conn.DEFAULT_IKE_V1 if v1 else _conn.DEFAULT_IKE_V2),
            tunnel["esp"] or (_conn.DEFAULT_ESP_V1 if v1 else _conn.DEFAULT_ESP_V2))


def _seconds(value, default):
    """Libreswan's time values ('8h', '3600s', '60m', '1d', '3600') in seconds."""
    if value is None:
        return default
    match = re.match(r"^\s*(\d+)\s*([smhd]?)\s*\Z", str(value))
    if not match:
        return default
    return int(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[match.group(2)]


def lifetimes(tunnel):
    """(IKE SA lifetime, IPsec SA lifetime) in seconds, from the tunnel's options or Libreswan's defaults."""
    options = tunnel.get("options") or {}
    ike = _seconds(options.get("ikelifetime"), DEFAULT_IKE_LIFETIME)
    sa = _seconds(next((options[k] for k in ("salifetime", "keylife", "lifetime") if k in options), None),
                  DEFAULT_SA_LIFETIME)
    return ike, sa


def id_type(ident, address):
    """(IKE ID type, value as sent) of a Libreswan ID: '@vpn1' -> ('FQDN', 'vpn1'), an address -> IPV4_ADDR."""
    ident = ident or address
    if ident.startswith("@"):
        return "FQDN (ID_FQDN)", ident[1:]
    if ":" in ident:
        return "IPv6 address (ID_IPV6_ADDR)", ident
    if re.match(r"^[0-9.]+\Z", ident):
        return "IPv4 address (ID_IPV4_ADDR)", ident
    if "@" in ident:
        return "e-mail address (ID_RFC822_ADDR)", ident
    return "distinguished name (ID_DER_ASN1_DN)", ident


def _swanctl_id(ident, address):
    """An ID in swanctl's syntax: '@vpn1' stays (strongSwan also reads '@' as 'FQDN, do not resolve'); a
    subject DN is quoted (its commas and spaces)."""
    return _conn.quoted_id(ident) or address


def parameter_table(tunnel, ours, theirs):
    """(parameter, value) rows of everything an appliance's GUI asks for, by IKEv2 registry names."""
    ike, esp = _proposal_strings(tunnel)
    ike_life, sa_life = lifetimes(tunnel)
    rows = [
        ("IKE version", "IKEv%d%s" % (tunnel["ike_version"], " (main mode)" if tunnel["ike_version"] == 1 else "")),
        ("Local gateway (yours)", theirs.get("local_address") or theirs["address"]),
        ("Remote gateway (ours)", ours["address"]),
        ("Local ID (yours)", "%s: %s" % id_type(theirs["id"], theirs["address"])),
        ("Remote ID (ours)", "%s: %s" % id_type(ours["id"], ours["address"])),
        ("Authentication", {"psk": "pre-shared key (above)", "cert": "digital signature with X.509 certificates "
                            "(%s; our CA certificate in %s-ca.crt)" % (_cert_signature(tunnel), tunnel["name"])}.get(
            tunnel["auth"], "RSA digital signature with raw public keys (ours above; yours in our configuration)")),
    ]
    rows += _proposals.iana(ike, "ike")
    rows.append(("IKE SA lifetime", "%d s" % ike_life))
    rows += _proposals.iana(esp, "esp")
    groups = _proposals.ike_groups(ike)
    rows += [
        ("PFS", ("yes: the Child SA rekeys with the IKE SA's DH group (%s)" % ", ".join(str(g) for g in groups))
         if tunnel["pfs"] else "no"),
        ("IPsec SA lifetime", "%d s" % sa_life),
        ("Mode / protocol", "tunnel mode, ESP"),
        ("Local networks (yours)", ", ".join(theirs["subnets"])),
        ("Remote networks (ours)", ", ".join(ours["subnets"])),
        ("Dead peer detection", "every %s s, peer dead after %s s, then %s" % (
            tunnel["dpd"]["delay"], tunnel["dpd"]["timeout"], tunnel["dpd"]["action"]) if tunnel["dpd"]["delay"]
         else "off"),
        ("NAT traversal", "yes (UDP 4500 and ESP in UDP when either end detects NAT)"),
        ("Who starts", "we do; your side only needs to answer" if tunnel[tunnel["initiator"]].get("host")
         else "your side"),
    ]
    return rows


def _cert_signature(tunnel):
    return "ECDSA P-256" if tunnel.get("cert_key_type", "ec") == "ec" else "RSA"


def cert_files(tunnel, theirs, issued):
    """{file: PEM} for a certificate peer: our CA's certificate, and its own certificate when our CA signed
    its request. *issued* is the gateway's ``sitevpn_peer_certs`` entry of the tunnel."""
    files = {"%s-ca.crt" % tunnel["name"]: issued["ca_cert"]}
    if issued.get("cert"):
        files["%s-peer.crt" % tunnel["name"]] = issued["cert"]
    return files


def _swanctl_credentials(tunnel, ours, theirs, our_host, files):
    """(auth, the local section's credential line, the remote one's) of a strongSwan peer; the RSA keys'
    PEM files are added to *files*."""
    name = tunnel["name"]
    if tunnel["auth"] == "psk":
        return "psk", None, None
    if tunnel["auth"] == "cert":
        # x509/ and x509ca/ of /etc/swanctl: your certificate (its key in private/), our CA's
        mine = "%s-peer.crt" % name if theirs.get("csr") else "YOUR-CERTIFICATE.crt  # issued by your CA, its key in private/"
        return "pubkey", "certs = %s" % mine, "cacerts = %s-ca.crt" % name
    ours_pem = "%s-%s.pem" % (name, our_host)
    files[ours_pem] = _keys.to_pem(ours["pubkey"])
    theirs_pem = None
    if theirs.get("pubkey"):
        theirs_pem = "%s-%s.pem" % (name, theirs.get("name") or theirs["address"])
        files[theirs_pem] = _keys.to_pem(theirs["pubkey"])
    mine = theirs_pem or "YOUR-PUBLIC-KEY.pem  # its private key in /etc/swanctl/private/"
    return "pubkey", "pubkeys = %s" % mine, "pubkeys = %s" % ours_pem


def swanctl_files(tunnel, ours, theirs, our_host):
    """{file name: text} for a strongSwan peer: a swanctl.conf snippet, and the public keys in PEM (RSA)."""
    name = tunnel["name"]
    ike, esp = _proposal_strings(tunnel)
    proposals, esp_proposals = _proposals.strongswan(ike, esp, tunnel["pfs"], tunnel["ike_version"])
    ike_life, sa_life = lifetimes(tunnel)
    they_start = not tunnel[tunnel["initiator"]].get("host")
    files = {}
    auth, local_credential, remote_credential = _swanctl_credentials(tunnel, ours, theirs, our_host, files)
    lines = [
        "# strongSwan (swanctl) side of tunnel %s, generated by sitevpn.ipsec for the gateway %s." % (name, our_host),
        "# Put this file in /etc/swanctl/conf.d/%s.conf%s, then: swanctl --load-all" % (
            name, "" if auth == "psk" else " and the .pem files in /etc/swanctl/pubkey/"),
        "# Keep it private%s." % (": it holds the pre-shared key" if auth == "psk" else ""),
        "connections {",
        "    %s {" % name,
        "        version = %d" % tunnel["ike_version"],
        "        local_addrs = %s" % (theirs.get("local_address") or theirs["address"]),
        "        remote_addrs = %s" % ours["address"],
        "        proposals = %s" % proposals,
        "        rekey_time = %ds" % ike_life,
        "        dpd_delay = %ss" % (tunnel["dpd"]["delay"] or 0),
        "        mobike = no",
        "        local {",
        "            auth = %s" % auth,
        "            id = %s" % _swanctl_id(theirs["id"], theirs["address"]),
    ]
    if local_credential:
        lines.append("            " + local_credential)
    lines += [
        "        }",
        "        remote {",
        "            auth = %s" % auth,
        "            id = %s" % _swanctl_id(ours["id"], ours["address"]),
    ]
    if remote_credential:
        lines.append("            " + remote_credential)
    lines += [
        "        }",
        "        children {",
        "            %s {" % name,
        "                local_ts = %s" % ",".join(theirs["subnets"]),
        "                remote_ts = %s" % ",".join(ours["subnets"]),
        "                esp_proposals = %s" % esp_proposals,
        "                rekey_time = %ds" % sa_life,
        "                dpd_action = %s" % (_DPD_ACTIONS.get(tunnel["dpd"]["action"], "clear") if they_start else "clear"),
        "                start_action = %s" % ("start" if they_start else "none"),
        "            }",
        "        }",
        "    }",
        "}",
    ]
    if auth == "psk":
        lines += [
            "secrets {",
            "    ike-%s {" % name,
            "        id-ours = %s" % _swanctl_id(ours["id"], ours["address"]),
            "        id-yours = %s" % _swanctl_id(theirs["id"], theirs["address"]),
            "        secret = %s" % secrets_psk(tunnel["psk"]),
            "    }",
            "}",
        ]
    files["%s.swanctl.conf" % name] = "\n".join(lines) + "\n"
    return files


def _describe(tunnel, ours, theirs):
    ike, esp = _proposal_strings(tunnel)
    lines = [
        "Tunnel %s: the side of %s (%s), to be configured by its administrator." % (
            tunnel["name"], theirs.get("name") or theirs["address"], theirs["address"]),
        "Generated by sitevpn.ipsec for the gateway %s. Keep this file private." % ours["host"],
        "",
        "  Your side   address %-16s ID %-24s subnets %s" % (theirs["address"], theirs["id"], ", ".join(theirs["subnets"])),
        "  Our side    address %-16s ID %-24s subnets %s" % (ours["address"], ours["id"], ", ".join(ours["subnets"])),
        "  IKE         version %d, proposal %s" % (tunnel["ike_version"], ike),
        "  ESP         %s, PFS %s" % (esp, "yes (same DH group as IKE)" if tunnel["pfs"] else "no"),
        "  DPD         every %s s" % tunnel["dpd"]["delay"],
        "  Initiator   %s" % ("we start the tunnel; you only need to accept it"
                              if tunnel[tunnel["initiator"]].get("host") else "you start the tunnel"),
    ]
    if tunnel["auth"] == "psk":
        lines += ["  Auth        pre-shared key: %s" % tunnel["psk"]]
    elif tunnel["auth"] == "cert":
        lines += ["  Auth        X.509 certificates, %s signatures. Ours is issued by our CA (%s-ca.crt: trust it"
                  % (_cert_signature(tunnel), tunnel["name"]),
                  "              for this tunnel) and carries our ID %s as subjectAltName. Yours: %s" % (
                      ours["id"], "%s-peer.crt, issued by our CA from your request, carrying %s." % (
                          tunnel["name"], theirs["id"]) if theirs.get("csr") else
                      "issued by your CA (the one you gave us), carrying your ID %s as subjectAltName." % theirs["id"])]
    else:
        lines += ["  Auth        RSA signatures. Our public key (Libreswan form):", "    " + ours["pubkey"],
                  "  The same key as PEM, for appliances:"]
        lines += ["    " + line for line in _keys.to_pem(ours["pubkey"]).strip().splitlines()]
    return lines


def secrets_psk(psk):
    """A PSK as ipsec.secrets takes it: in double quotes when that is safe, else base64 (0s...), which
    carries any character (a '"' would end the quoted form early)."""
    if re.match(r'^[\x21\x23-\x5b\x5d-\x7e ]+\Z', psk) and psk.strip() == psk:   # printable ASCII but the quote and backslash
        return '"%s"' % psk
    return _conn.psk_0s(psk)


def peer_configs(tunnels, host, hostvars):
    try:
        resolved = resolve(tunnels, host, hostvars, require_keys=True,
                           allow_weak=_model.strict_bool(_model._hostvar(hostvars, host, "sitevpn_allow_weak_crypto", False)))
    except (_model.ModelError, _keys.KeyProblem) as exc:
        raise AnsibleFilterError(getattr(exc, "message", str(exc)))
    result = []
    for tunnel in resolved:
        if tunnel["state"] != "present":
            continue
        ours = tunnel[tunnel["local"]]
        other_side = "right" if tunnel["local"] == "left" else "left"
        theirs = tunnel[other_side]
        if theirs["managed"]:
            continue
        lines = _describe(tunnel, ours, theirs)
        peer_view = dict(tunnel, local=other_side)
        if tunnel["auth"] == "cert":
            # the peer holds us to our CA, named; its own certificate is its business
            peer_view[tunnel["local"]] = dict(ours, ca_dn=(ours.get("cert") or {}).get("ca_dn"))
        conn = _conn.render_conn(peer_view, 4).splitlines()[2:]   # the conn without our header comments
        lines += ["", "For a Libreswan (or Openswan) peer, as in the seed: put this conn in /etc/ipsec.conf",
                  "(or /etc/ipsec.d/%s.conf), keys indented, no blank lines inside:" % tunnel["name"], ""] + conn
        if tunnel["auth"] == "psk":
            lines += ["", "and this line in /etc/ipsec.secrets:", "",
                      "%s %s : PSK %s" % (tunnel["left"]["id"], tunnel["right"]["id"], secrets_psk(tunnel["psk"]))]
        elif tunnel["auth"] == "cert":
            lines += ["", "(%scert= is your certificate's nickname in your NSS database: import it and its key "
                      "there (pk12util), and our CA with `certutil -A -n sitevpn-ca -t CT,, -a -i %s-ca.crt`.)"
                      % (other_side, tunnel["name"])]
        else:
            lines += ["", "(%srsasigkey is your own public key: `ipsec showhostkey --%s`.)" % (other_side, other_side)]
        lines += ["", "Then: ipsec restart (or ipsec auto --add %s)." % tunnel["name"]]
        try:
            table = parameter_table(tunnel, ours, theirs)
            files = swanctl_files(tunnel, ours, theirs, host)
            if tunnel["auth"] == "cert":
                issued = (_model._hostvar(hostvars, host, "sitevpn_peer_certs") or {}).get(tunnel["name"])
                if not issued:
                    raise AnsibleFilterError("tunnel %s: no certificate material of %s yet (the keys role sets "
                                             "sitevpn_peer_certs)" % (tunnel["name"], host))
                files.update(cert_files(tunnel, theirs, issued))
        except _proposals.ProposalError as exc:
            raise AnsibleFilterError("tunnel %s: %s" % (tunnel["name"], exc))
        width = max(len(label) for label, _value in table)
        lines += ["", "For a strongSwan peer: %s.swanctl.conf next to this file." % tunnel["name"],
                  "", "For an appliance, field by field (algorithm names of the IANA IKEv2 registry):", ""]
        lines += ["  %-*s  %s" % (width, label, value) for label, value in table]
        files["%s.txt" % tunnel["name"]] = "\n".join(lines) + "\n"
        result.append({"tunnel": tunnel["name"], "peer": theirs.get("name") or theirs["address"],
                       "text": files["%s.txt" % tunnel["name"]], "files": files})
    return result


class FilterModule(object):
    def filters(self):
        return {"peer_configs": peer_configs}
