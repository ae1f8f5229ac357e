#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: preflight
short_description: Check the tunnel definitions before any host is touched
version_added: 0.1.0
description:
  - Runs on the controller only. Checks every tunnel of C(sitevpn_tunnels) against the inventory with netaddr
    and cryptography - names, hosts, addresses, CIDRs, overlapping subnets between the two ends and across the
    tunnels of a gateway, PSK strength, weak algorithms, public keys of unmanaged peers - and fails with one
    message listing every problem, each naming the tunnel and the field.
author:
  - sitevpn maintainers (@sitevpn)
extends_documentation_fragment:
  - sitevpn.ipsec.attributes
  - sitevpn.ipsec.attributes.action
options:
  tunnels:
    description: The tunnels; defaults to C(sitevpn_tunnels).
    type: list
    elements: dict
  topologies:
    description: Hub-and-spoke and mesh topologies, expanded into tunnels; defaults to C(sitevpn_topologies).
    type: list
    elements: dict
  gateways:
    description: Hosts of the play; every managed end of a tunnel must be one of them.
    type: list
    elements: str
  allow_weak:
    description: Accept weak algorithms everywhere (each tunnel can also set C(allow_weak)). Defaults to C(sitevpn_allow_weak_crypto).
    type: bool
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  idempotent:
    support: full
  action:
    support: full
"""

EXAMPLES = r"""
- name: Check the tunnels
  sitevpn.ipsec.preflight:
    gateways: "{{ ansible_play_hosts_all }}"
  run_once: true
"""

RETURN = r"""
tunnels:
  description: Names of the checked tunnels.
  returned: success
  type: list
  elements: str
gateways:
  description: For each gateway, the tunnels it is an end of.
  returned: success
  type: dict
problems:
  description: Every problem, as C({tunnel, field, problem}).
  returned: failure
  type: list
  elements: dict
"""
