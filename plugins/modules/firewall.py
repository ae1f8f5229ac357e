#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: firewall
short_description: Prepare a gateway's kernel and packet filter for its IPsec tunnels
version_added: 0.1.0
description:
  - Turns IP forwarding on and ICMP redirects off, sets the reverse-path filter, and persists those
    settings in C(/etc/sysctl.d/60-sitevpn-ipsec.conf) (the seed's C(net/ipv4/ip_forward = 1)).
  - Accepts IKE (UDP 500 and 4500) and ESP from the tunnels' peers, accepts forwarded IPsec traffic
    between the tunnels' subnets, and exempts that traffic from source NAT ahead of any MASQUERADE rule
    of the host (the seed's C(-d ! 10.0.0.0/24) on the MASQUERADE rule, done for every tunnel without
    editing the host's own rules).
  - Lowers the MSS of forwarded TCP SYN and SYN-ACK packets between the tunnels' subnets to fit each tunnel's
    MTU (its C(mtu), else the MTU of the interface toward the peer minus the ESP overhead of its proposals),
    so big transfers do not hang where ICMP "fragmentation needed" is lost; C(mss_clamping=false) per tunnel
    turns it off.
  - The rules live in their own nftables table (C(inet sitevpn_ipsec)) or their own iptables chains
    (C(SITEVPN-*), jumped to from rule 1 of C(INPUT), C(FORWARD) and nat C(POSTROUTING)), installed by one
    script that also runs at boot from C(sitevpn-ipsec-firewall.service).
  - One call does all of it for all tunnels of the gateway.
author:
  - sitevpn maintainers (@sitevpn)
extends_documentation_fragment:
  - sitevpn.ipsec.attributes
options:
  tunnels:
    description: Resolved tunnels of this gateway (output of the P(sitevpn.ipsec.host_tunnels#filter) filter).
    type: list
    elements: dict
    default: []
  state:
    description:
      - V(present) installs the rules for O(tunnels).
      - V(rolled_back) puts back the rules script that the run O(run_id) replaced, and runs it (the tunnel role
        does this when a changed tunnel failed and was rolled back).
    type: str
    choices: [present, rolled_back]
    default: present
  run_id:
    description: Names the backup of this run; the rules script it replaces is kept under O(backup_dir).
    type: str
  backup_dir:
    description: Where replaced rules scripts are kept.
    type: path
    default: /var/lib/sitevpn/backup
  backend:
    description:
      - V(auto) picks V(firewalld) when firewalld is active, else V(nftables) when the kernel supports it,
        else V(iptables) (legacy or nft-based, whichever works). V(none) manages only the kernel settings.
    type: str
    choices: [auto, nftables, iptables, firewalld, none]
    default: auto
  forwarding:
    description: Turn forwarding on (a gateway needs it) - IPv4, and IPv6 where a tunnel carries IPv6 subnets.
    type: bool
    default: true
  rp_filter:
    description: Reverse-path filter on all, default and the tunnels' interfaces; Libreswan recommends V(0); V(2) (loose) also works.
    type: int
    choices: [0, 1, 2]
    default: 0
  nat_exemption:
    description: Never source-NAT traffic between a tunnel's subnets.
    type: bool
    default: true
  allow_ike:
    description: Accept UDP 500/4500 and ESP from the peers.
    type: bool
    default: true
  leak_guard:
    description:
      - Drop forwarded traffic between a tunnel's subnets that is not IPsec-protected, so nothing goes out in
        clear while pluto is down (at boot, after a crash) or a tunnel is not up. The rules are installed before
        the network comes up at boot.
    type: bool
    default: true
  routes:
    description:
      - For a tunnel with IPv6 subnets, add a route toward a remote subnet that no route of the host carries
        (through the interface toward the peer), kept at boot by C(sitevpn-ipsec-routes.service). Policy-based
        IPsec only sees packets the kernel routed; Libreswan's C(_updown) adds no route when the subnet is
        unreachable. A subnet the host already routes (a default route, a routing daemon) is left alone.
      - Tunnels with IPv6 subnets also get IPv6 forwarding, and router advertisements stay accepted on the
        interfaces toward the peers (C(accept_ra=2)).
      - Route-based tunnels (C(mode=route)) get their XFRM interface C(ipsec<interface_id>) and the routes of their
        remote subnets into it whatever this says (without them nothing enters the tunnel); the same unit puts them
        back at boot, before ipsec.
    type: bool
    default: true
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details: The sysctl file and the rules script, before and after.
  idempotent:
    support: full
notes:
  - With nftables, accepting in our own table does not override a C(drop) in another table of the host; the
    module warns when it finds a base chain with C(policy drop) on the input or forward hook, whose rules then
    need to allow IKE, ESP and the tunnel traffic themselves.
"""

EXAMPLES = r"""
- name: Forwarding, redirects, IKE/ESP from the peers, NAT exemption
  sitevpn.ipsec.firewall:
    tunnels: "{{ sitevpn_tunnels | sitevpn.ipsec.host_tunnels(inventory_hostname, hostvars, require_keys=false) }}"
"""

RETURN = r"""
backend:
  description: The backend used.
  returned: always
  type: str
  sample: nftables
sysctl:
  description: The kernel settings wanted (key = value) and those that had to change.
  returned: always
  type: dict
routes:
  description: The routes this gateway keeps (subnet -> interface) into route-based tunnels and toward remote IPv6 subnets.
  returned: always
  type: dict
  sample: {"2001:db8:2::/64": "eth0", "10.0.0.0/24": "ipsec4711"}
interfaces:
  description: The XFRM interfaces of route-based tunnels (name -> if_id, the device they are bound to, MTU).
  returned: always
  type: dict
  sample: {"ipsec4711": {"if_id": 4711, "dev": "eth0", "mtu": 1438}}
mtu:
  description:
    - Per tunnel that clamps the TCP MSS, its MTU (given, or the WAN interface's MTU minus the ESP overhead) and the MSS
      forwarded TCP SYNs are lowered to, per inner address family.
  returned: always
  type: dict
  sample: {"net-to-net": {"mtu": 1438, "mss": {"ipv4": 1398, "ipv6": 1378}}}
rules_tag:
  description: Tag of the installed ruleset (a digest of the rules).
  returned: always
  type: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.sitevpn.ipsec.plugins.module_utils import _firewall_host
from ansible_collections.sitevpn.ipsec.plugins.module_utils._firewall_host import ARGUMENT_SPEC, Firewall, apply

# the module's code lives in _firewall_host, where another module can run it too; the unit tests patch its
# constants there (tests/unit/plugins/modules/helper.py) and use Firewall through this module
_IMPLEMENTATION = (_firewall_host,)
__all__ = ["Firewall", "main"]


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    module.exit_json(**apply(module))


if __name__ == "__main__":
    main()
