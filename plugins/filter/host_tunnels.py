# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: host_tunnels
short_description: The tunnels of one gateway, resolved for the conns module
version_added: 0.1.0
description:
  - Checks O(_input) (the C(sitevpn_tunnels) list, plus the tunnels that O(host)'s C(sitevpn_topologies)
    expand to) against the inventory, keeps the tunnels that O(host) is an end of, and fills in what the peer
    published through its host facts - its address, ID and RSA public
    key (C(sitevpn_hostkey) fact of the P(sitevpn.ipsec.keys#role) role) - and the PSK.
  - Fails with every problem of the tunnel list, each naming the tunnel and the field.
positional: host, hostvars
options:
  host:
    description: The gateway, usually C(inventory_hostname).
    type: str
    required: true
  hostvars:
    description: C(hostvars), to read the peers' facts.
    type: dict
    required: true
  require_keys:
    description: Fail when a public key or PSK is not known yet (false before the keys role ran).
    type: bool
    default: true
  secrets:
    description:
      - Include the PSKs. V(false) leaves C(psk) empty (C(psk_source) still says where it comes from), for
        modules that do not write secrets.
      - A module argument is logged on the gateway before the module can hide anything in it, so PSKs travel
        only in arguments declared C(no_log) (C(psks) of M(sitevpn.ipsec.conns)).
    type: bool
    default: true
extends_documentation_fragment:
  - sitevpn.ipsec.tunnel_list
"""

EXAMPLES = r"""
- name: Load the tunnels of this gateway
  sitevpn.ipsec.conns:
    tunnels: "{{ sitevpn_tunnels | sitevpn.ipsec.host_tunnels(inventory_hostname, hostvars) }}"
"""

RETURN = r"""
_value:
  description: Resolved tunnels, each with C(local) set to the side O(host) is on.
  type: list
  elements: dict
"""

import copy

from ansible.errors import AnsibleFilterError

from ansible_collections.sitevpn.ipsec.plugins.plugin_utils import _ca, _model

PSK_RESULT_VAR = "__sitevpn_psk_result"


def resolve(tunnels, host, hostvars, require_keys=True, allow_weak=False):
    topologies = _model._hostvar(hostvars, host, "sitevpn_topologies")
    normalized, _warnings = _model.normalize(
        tunnels, hostvars, allow_weak=allow_weak, topologies=topologies,
        own_ike_sa=_model.strict_bool(_model._hostvar(hostvars, host, "sitevpn_own_ike_sa", True)))
    representatives = _model.psk_representatives(normalized)
    resolved = []
    missing = []
    for tunnel in normalized:
        sides = [side for side in ("left", "right") if tunnel[side]["host"] == host]
        if not sides:
            continue
        item = copy.deepcopy(tunnel)
        item["local"] = sides[0]
        item.pop("probe", None)
        if item["auth"] == "rsasig" and item["state"] == "present":
            for side in ("left", "right"):
                end = item[side]
                if end["managed"]:
                    key = (_model._hostvar(hostvars, end["host"], "sitevpn_hostkey") or {}).get("pubkey")
                    if key:
                        end["pubkey"] = key
                    elif require_keys:
                        missing.append((tunnel["name"], side + ".pubkey",
                                        "no RSA public key of %s yet: run the keys role on it (sitevpn_hostkey fact)"
                                        % end["host"]))
        if item["auth"] == "cert" and item["state"] == "present":
            # this end's certificate (the keys role issued it): its serial goes into the conn, so a renewed
            # certificate replaces the conn and the tunnel authenticates with the new one
            cert = ((_model._hostvar(hostvars, host, "sitevpn_certs") or {}).get(tunnel["name"]))
            if cert:
                item[item["local"]]["cert"] = dict((key, cert.get(key)) for key in ("nickname", "serial", "not_after",
                                                                                    "ca_dn"))
            remote = item["right" if item["local"] == "left" else "left"]
            if remote.get("ca_cert"):
                # a peer with a CA of its own: the conn holds it to that CA (the keys role imports it)
                remote["ca_dn"] = _ca.libreswan_dn(_ca.load_cert(remote["ca_cert"]).subject)
            if not cert and require_keys:
                missing.append((tunnel["name"], item["local"] + ".cert",
                                "no certificate of %s for this tunnel yet: run the keys role on it (sitevpn_certs fact)"
                                % host))
        item["psk_source"] = "given" if item["psk"] else None
        if item["auth"] == "psk" and item["state"] == "present" and not item["psk"]:
            # one generated key per pair of IKE IDs, kept under the name of the pair's first tunnel
            keeper = representatives[_model.psk_pair(item)]
            owner = _model.psk_owner(keeper)
            known = ((_model._hostvar(hostvars, owner, PSK_RESULT_VAR) or {}).get("psks") or {}).get(keeper["name"])
            if known:
                item["psk"] = known
                item["psk_source"] = "generated"
            elif require_keys:
                missing.append((tunnel["name"], "psk", "no PSK given and none generated on %s yet (keys role)" % owner))
        resolved.append(item)
    if missing:
        raise _model.ModelError(missing)
    return resolved


def host_tunnels(tunnels, host, hostvars, require_keys=True, secrets=True):
    try:
        resolved = resolve(tunnels, host, hostvars, require_keys=require_keys,
                           allow_weak=_model.strict_bool(_model._hostvar(hostvars, host, "sitevpn_allow_weak_crypto",
                                                                         False)))
    except _model.ModelError as exc:
        raise AnsibleFilterError(exc.message)
    except TypeError:
        raise AnsibleFilterError("sitevpn_allow_weak_crypto must be true or false")
    if not secrets:
        for item in resolved:
            item["psk"] = None
    return resolved


class FilterModule(object):
    def filters(self):
        return {"host_tunnels": host_tunnels}
