# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: psk_owned_by
short_description: The resolved PSK tunnels whose generated key a gateway keeps
version_added: 0.1.0
description:
  - A generated PSK lives on one end of its tunnel, the left one (the right one when left is an unmanaged
    peer); every run reads it back from there, so both ends agree on every later run.
  - Libreswan picks a PSK by the pair of IKE IDs, so tunnels between the same two IDs share one key, kept
    under the name of the first of them; only that tunnel is returned for the pair.
positional: host
options:
  _input:
    description: Resolved tunnels (output of P(sitevpn.ipsec.host_tunnels#filter)).
    type: list
    elements: dict
    required: true
  host:
    description: The gateway.
    type: str
    required: true
"""

EXAMPLES = r"""
- name: Tunnels whose PSK this host generates
  ansible.builtin.debug:
    msg: "{{ tunnels | sitevpn.ipsec.psk_owned_by(inventory_hostname) | map(attribute='name') }}"
"""

RETURN = r"""
_value:
  description: The tunnels owned by O(host).
  type: list
  elements: dict
"""

from ansible_collections.sitevpn.ipsec.plugins.plugin_utils._model import psk_owner, psk_representatives


def psk_owned_by(tunnels, host):
    return [t for t in psk_representatives(tunnels).values() if psk_owner(t) == host]


class FilterModule(object):
    def filters(self):
        return {"psk_owned_by": psk_owned_by}
