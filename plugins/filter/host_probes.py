# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: host_probes
short_description: The pings that prove the tunnels a gateway initiates
version_added: 0.1.0
description:
  - For every present tunnel with a C(probe) whose initiating end is O(host), one probe - C(from) a LAN host
    behind O(host), C(to) an address behind the other end.
  - C(probe.to) is an address, or an inventory host whose C(sitevpn_probe_address) (else C(ansible_host)) is used.
positional: host, hostvars
options:
  host:
    description: The gateway.
    type: str
    required: true
  hostvars:
    description: C(hostvars).
    type: dict
    required: true
extends_documentation_fragment:
  - sitevpn.ipsec.tunnel_list
"""

EXAMPLES = r"""
- name: Show the probes of this gateway
  ansible.builtin.debug:
    msg: "{{ sitevpn_tunnels | sitevpn.ipsec.host_probes(inventory_hostname, hostvars) }}"
"""

RETURN = r"""
_value:
  description:
    - Probes as C({tunnel, from, address, size}); C(size) is the ICMP payload of a ping as big as the tunnel's MTU
      (the C(mtu) given, else what fits a 1500-byte WAN), which diagnose sends with DF to find an MTU black hole.
  type: list
  elements: dict
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.sitevpn.ipsec.plugins.module_utils import _firewall
from ansible_collections.sitevpn.ipsec.plugins.plugin_utils import _model


def host_probes(tunnels, host, hostvars):
    try:
        normalized, _warnings = _model.normalize(tunnels, hostvars, allow_weak=True,
                                                 topologies=_model._hostvar(hostvars, host, "sitevpn_topologies"),
                                                 own_ike_sa=_model._hostvar(hostvars, host, "sitevpn_own_ike_sa", True))
    except _model.ModelError as exc:
        raise AnsibleFilterError(exc.message)
    probes = []
    for tunnel in normalized:
        probe = tunnel.get("probe")
        if not probe or tunnel["state"] != "present" or tunnel[tunnel["initiator"]]["host"] != host:
            continue
        target = str(probe["to"])
        address = _model.address(target)
        if address is None:
            if target not in hostvars:
                raise AnsibleFilterError("tunnel %s, field probe.to: %r is neither an address nor an inventory host"
                                         % (tunnel["name"], target))
            address = str(_model._hostvar(hostvars, target, "sitevpn_probe_address")
                          or _model._hostvar(hostvars, target, "ansible_host") or target)
        probes.append({"tunnel": tunnel["name"], "from": str(probe["from"]), "address": address,
                       "size": df_payload(tunnel, address)})
    return probes


def df_payload(tunnel, address):
    """The ICMP payload of a ping as big as the tunnel's MTU (the ``mtu`` given, else what fits a 1500-byte
    WAN): sent with DF by diagnose, it tells an MTU black hole on the path (small pings answered, this one
    lost without any "fragmentation needed" coming back)."""
    mtu = _firewall.tunnel_mtu(dict(tunnel, local=tunnel["initiator"]), {})
    return mtu - (48 if ":" in address else 28)


class FilterModule(object):
    def filters(self):
        return {"host_probes": host_probes}
