# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The preflight table: what ``_model.normalize`` refuses, and what it fills in.

``BAD`` below is data. Each row is one broken ``sitevpn_tunnels`` (and, where the
mistake lives in the inventory, the hostvars), the tunnel the problem must name,
the field (a substring of it) and a piece of the message. Adding a rule is adding
a row. Every row must raise ``ModelError`` - before any host is touched.

The good cases at the end show the normalisation: the defaults a tunnel gets, and
how inventory facts (``sitevpn_public_address``, ``ansible_host``, ``sitevpn_id``)
and an unmanaged peer's PEM key become what a ``conn`` needs.

The base tunnel is the seed HOWTO's ``net-to-net`` (Figure 35-1), with documentation
addresses: vpn1 198.51.100.10 guarding 172.16.1.0/24, vpn2 203.0.113.10 guarding
10.0.0.0/24.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import base64
import copy
import os
import re
import textwrap

import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from ansible.parsing.yaml.loader import AnsibleLoader

from ansible_collections.sitevpn.ipsec.plugins.plugin_utils import _model
from ansible_collections.sitevpn.ipsec.plugins.plugin_utils._model import ModelError, normalize

DROP = object()   # as a value in n2n(): remove the key

HOSTVARS = {
    'vpn1': {'sitevpn_public_address': '198.51.100.10'},
    'vpn2': {'sitevpn_public_address': '203.0.113.10'},
    'vpn3': {'sitevpn_public_address': '192.0.2.30'},
    'lan1': {'ansible_host': '172.16.1.100'},
    'lan2': {'ansible_host': '10.0.0.105'},
}

GOOD_PSK = 'q7Vd-3mXr9LpZt2Kw8YbNc4J'   # 24 bytes, random-looking


def n2n(**changes):
    """The seed's net-to-net tunnel, with ``changes`` applied (DROP removes a key)."""
    tunnel = {'name': 'net-to-net', 'left': 'vpn1', 'right': 'vpn2',
              'left_subnets': '172.16.1.0/24', 'right_subnets': '10.0.0.0/24'}
    for key, value in changes.items():
        if value is DROP:
            tunnel.pop(key, None)
        else:
            tunnel[key] = value
    return tunnel


def hostvars(**changes):
    """HOSTVARS with some hosts' variables replaced (a dict) or hosts removed (DROP)."""
    result = copy.deepcopy(HOSTVARS)
    for host, value in changes.items():
        if value is DROP:
            result.pop(host, None)
        else:
            result[host] = value
    return result


def _pem(private_key):
    return private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode('ascii')


# Keys are generated here, never embedded: only public halves leave this module.
RSA_1024_PEM = _pem(rsa.generate_private_key(public_exponent=65537, key_size=1024))
RSA_2048_PEM = _pem(rsa.generate_private_key(public_exponent=65537, key_size=2048))
EC_PEM = _pem(ec.generate_private_key(ec.SECP256R1()))

# An appliance we do not manage, on the right: the seed's "VPN device at the other end".
APPLIANCE = {'name': 'branch-router', 'address': '203.0.113.50'}


def peer(**changes):
    result = dict(APPLIANCE)
    result.update(changes)
    return result


def from_yaml(text):
    """``sitevpn_tunnels`` as Ansible's own YAML loader reads it from an inventory file."""
    return AnsibleLoader(textwrap.dedent(text)).get_single_data()['sitevpn_tunnels']


SEED_YAML = """
    sitevpn_tunnels:
      - name: net-to-net
        left: vpn1
        right: vpn2
        left_subnets: 172.16.1.0/24
        right_subnets: 10.0.0.0/24
"""


def yaml_n2n(*lines):
    """The seed tunnel written in YAML, with ``lines`` added to it (each at the tunnel's indentation)."""
    return from_yaml(SEED_YAML + "".join("        %s\n" % line for line in lines))


def case(case_id, tunnels, tunnel, field, message, hvars=None):
    return pytest.param(tunnels, hvars or HOSTVARS, tunnel, field, message, id=case_id)


# Two tunnels of the hub vpn1: to vpn2 (10.0.0.0/24) and to vpn3.
def hub(vpn3_remote, vpn3_local='172.16.1.0/24', vpn2_local='172.16.1.0/24'):
    return [
        n2n(name='vpn1-vpn2', left_subnets=vpn2_local),
        {'name': 'vpn1-vpn3', 'left': 'vpn1', 'right': 'vpn3',
         'left_subnets': vpn3_local, 'right_subnets': vpn3_remote},
    ]


BAD = [
    # --- subnets: the seed's first guideline, "the two sites need different networks"
    case('ends-overlap', [n2n(right_subnets='172.16.0.0/16')],
         'net-to-net', 'right_subnets', 'overlaps 172.16.1.0/24 of the left end'),
    case('same-subnet-on-both-ends', [n2n(right_subnets='172.16.1.0/24')],
         'net-to-net', 'right_subnets', '172.16.1.0/24 is on both ends'),
    case('subnets-of-one-end-overlap', [n2n(left_subnets=['172.16.1.0/24', '172.16.0.0/16'])],
         'net-to-net', 'left_subnets', 'overlap'),
    case('no-subnet', [n2n(right_subnets=[])],
         'net-to-net', 'right_subnets', 'at least one subnet is required'),
    case('subnets-not-a-list', [n2n(right_subnets={'net': '10.0.0.0/24'})],
         'net-to-net', 'right_subnets', 'must be a CIDR or a list of CIDRs'),
    case('two-peers-announce-the-same-lan', hub(vpn3_remote='10.0.0.0/24'),
         'vpn1-vpn3', 'right_subnets', 'which vpn1 already reaches through tunnel vpn1-vpn2'),
    case('remote-overlaps-remote-of-another-tunnel', hub(vpn3_remote='10.0.0.0/16'),
         'vpn1-vpn3', 'right_subnets', '10.0.0.0/16 overlaps 10.0.0.0/24'),
    # a policy-based tunnel's remote LAN inside a route-based one's: the route and the policy would shadow
    case('policy-tunnel-shadowed-by-a-route-based-one',
         [dict(hub(vpn3_remote='10.0.0.0/16')[0], mode='route'), hub(vpn3_remote='10.0.0.0/16')[1]],
         'vpn1-vpn3', 'right_subnets', '10.0.0.0/16 overlaps 10.0.0.0/24, which vpn1 already reaches through '
                                       'tunnel vpn1-vpn2'),
    case('remote-overlaps-local-of-another-tunnel', hub(vpn3_remote='172.16.0.0/16'),
         'vpn1-vpn3', 'right_subnets', 'a local subnet of vpn1 in tunnel vpn1-vpn2'),
    case('local-overlaps-remote-of-another-tunnel', hub(vpn3_remote='10.0.3.0/24', vpn3_local='10.0.0.0/16'),
         'vpn1-vpn2', 'right_subnets', 'a local subnet of vpn1 in tunnel vpn1-vpn3'),
    # --- CIDR syntax
    case('prefix-too-long', [n2n(right_subnets='10.0.0.0/33')],
         'net-to-net', 'right_subnets', "'10.0.0.0/33' is not a valid CIDR"),
    case('octet-above-255', [n2n(right_subnets='300.1.1.0/24')],
         'net-to-net', 'right_subnets', "'300.1.1.0/24' is not a valid CIDR"),
    case('no-prefix-length', [n2n(right_subnets='10.0.0.0')],
         'net-to-net', 'right_subnets', 'no prefix length'),
    case('host-bits-set-with-hint', [n2n(right_subnets='10.0.0.1/24')],
         'net-to-net', 'right_subnets', 'has host bits set; did you mean 10.0.0.0/24?'),
    case('netmask-instead-of-prefix', [n2n(right_subnets='10.0.0.0/255.255.255.0')],
         'net-to-net', 'right_subnets', 'is not a valid CIDR'),
    # the seed itself prints "172.168.1.0 /24" (a typo and a space)
    case('seed-typo-with-space', [n2n(left_subnets='172.168.1.0 /24')],
         'net-to-net', 'left_subnets', 'is not a valid CIDR'),
    # --- gateway addresses
    case('loopback-public-address', [n2n()],
         'net-to-net', 'left (sitevpn_public_address of vpn1)', '127.0.0.1 cannot be a gateway address',
         hostvars(vpn1={'sitevpn_public_address': '127.0.0.1'})),
    case('multicast-public-address', [n2n()],
         'net-to-net', 'right (sitevpn_public_address of vpn2)', '224.0.0.5 cannot be a gateway address',
         hostvars(vpn2={'sitevpn_public_address': '224.0.0.5'})),
    case('unspecified-public-address', [n2n()],
         'net-to-net', 'right (sitevpn_public_address of vpn2)', 'cannot be a gateway address',
         hostvars(vpn2={'sitevpn_public_address': '0.0.0.0'})),
    case('garbage-public-address', [n2n()],
         'net-to-net', 'sitevpn_public_address of vpn1', "'vpn1.example.com' is not an IP address",
         hostvars(vpn1={'sitevpn_public_address': 'vpn1.example.com'})),
    case('dns-name-in-ansible_host-and-no-public-address', [n2n()],
         'net-to-net', 'sitevpn_public_address of vpn2', "'vpn2.example.net' is not an IP address",
         hostvars(vpn2={'ansible_host': 'vpn2.example.net'})),
    case('local-address-not-an-address', [n2n()],
         'net-to-net', 'sitevpn_local_address of vpn1', 'is not an IP address',
         hostvars(vpn1={'sitevpn_public_address': '198.51.100.10', 'sitevpn_local_address': 'eth0'})),
    # --- next hops go into the conn as they are: an address or Libreswan's word, nothing else
    case('nexthop-injects-a-keyword', [n2n()],
         'net-to-net', 'left (sitevpn_nexthop of vpn1)', 'is not a next hop',
         hostvars(vpn1={'sitevpn_public_address': '198.51.100.10',
                        'sitevpn_nexthop': '198.51.100.1\n    leftupdown=/tmp/evil'})),
    case('nexthop-a-hostname', [n2n(auth='psk', psk=GOOD_PSK, right={'address': '192.0.2.50',
                                                                     'nexthop': 'gw.example.net'})],
         'net-to-net', 'right.nexthop', "'gw.example.net' is not a next hop"),
    case('unmanaged-peer-without-address', [n2n(auth='psk', psk=GOOD_PSK, right={'name': 'router'})],
         'net-to-net', 'right.address', 'is not an IP address'),
    case('host-not-in-inventory', [n2n(right='vpn9')],
         'net-to-net', 'right', "host 'vpn9' is not in the inventory"),
    case('end-neither-host-nor-dict', [n2n(right=['vpn2'])],
         'net-to-net', 'right', 'must be an inventory hostname or a dict'),
    case('unknown-key-for-unmanaged-peer', [n2n(auth='psk', psk=GOOD_PSK, right=peer(adress='203.0.113.51'))],
         'net-to-net', 'right', 'unknown key(s) adress'),
    # --- conn names (pluto's `conn NAME`, also a file name)
    case('duplicate-name', [n2n(), n2n(left='vpn3')],
         'net-to-net', 'name', 'duplicate tunnel name (also tunnel #1)'),
    case('name-with-space', [n2n(name='net to net')],
         'net to net', 'name', 'is not a valid conn name'),
    case('name-with-leading-dash', [n2n(name='-net')],
         '-net', 'name', 'is not a valid conn name'),
    case('name-too-long', [n2n(name='n' * 49)],
         'n' * 49, 'name', 'at most 48'),
    case('name-empty', [n2n(name='')],
         '#1', 'name', 'is not a valid conn name'),
    case('name-missing-labels-by-position', [n2n(), n2n(name=DROP, left='vpn3')],
         '#2', 'name', 'is not a valid conn name'),
    # --- unknown keys: a typo must not silently mean "default"
    case('typo-left_subnet', [n2n(left_subnet='172.16.1.0/24')],
         'net-to-net', 'left_subnet', 'unknown key(s) left_subnet (did you mean left_subnets?)'),
    case('typo-dpd', [n2n(dpd=30)],
         'net-to-net', 'dpd', 'unknown key(s) dpd; known: allow_weak, auth'),
    # --- PSK: the seed's "make them long (over 20 bytes)"
    case('psk-shorter-than-20-bytes', [n2n(auth='psk', psk='Nonebutourselves')],
         'net-to-net', 'psk', 'is 16 bytes; use at least 20'),
    case('psk-one-repeated-char', [n2n(auth='psk', psk='x' * 32)],
         'net-to-net', 'psk', 'has only 1 distinct characters'),
    case('psk-repeated-pattern', [n2n(auth='psk', psk='Kx7mQ2vR' * 3)],
         'net-to-net', 'psk', 'one short pattern repeated'),
    case('psk-few-distinct-chars', [n2n(auth='psk', psk='abbaabbacddcabcdabcdabba')],
         'net-to-net', 'psk', 'has only 4 distinct characters'),
    case('psk-not-a-string', [n2n(auth='psk', psk=12345678901234567890123)],
         'net-to-net', 'psk', 'must be a string'),
    case('psk-given-with-rsasig', [n2n(psk=GOOD_PSK)],
         'net-to-net', 'psk', 'is set but auth is rsasig'),
    case('auth-unknown', [n2n(auth='secret')],
         'net-to-net', 'auth', "must be one of rsasig, psk, cert, not 'secret'"),
    # --- weak algorithms, refused unless allow_weak
    case('weak-ike-3des', [n2n(ike='3des-sha2_256-modp2048')],
         'net-to-net', 'ike', '3DES'),
    case('weak-esp-md5', [n2n(esp='aes128-md5')],
         'net-to-net', 'esp', 'MD5'),
    case('weak-esp-sha1', [n2n(esp='aes256-sha1')],
         'net-to-net', 'esp', 'SHA-1'),
    case('weak-ike-modp1024', [n2n(ike='aes256-sha2_256-modp1024')],
         'net-to-net', 'ike', 'DH group 2'),
    case('weak-ike-dh2', [n2n(ike='aes256-sha2_256-dh2')],
         'net-to-net', 'ike', 'DH group 2'),
    case('weak-ike-modp1536', [n2n(ike='aes256-sha2_256;modp1536')],
         'net-to-net', 'ike', 'DH group 5'),
    case('weak-ike-dh5', [n2n(ike='aes256-sha2_256-dh5')],
         'net-to-net', 'ike', 'DH group 5'),
    case('weak-esp-null', [n2n(esp='null-sha2_256')],
         'net-to-net', 'esp', 'no encryption'),
    case('proposal-with-spaces', [n2n(esp='aes256 sha2')],
         'net-to-net', 'esp', 'is not a Libreswan proposal string'),
    case('pfs-off', [n2n(pfs=False)],
         'net-to-net', 'pfs', 'disabling PFS is weak'),
    case('pfs-not-a-bool', [n2n(pfs='no')],
         'net-to-net', 'pfs', 'must be true or false'),
    case('ikev1-with-aes-gcm-ike', [n2n(ike_version=1, ike='aes_gcm256-sha2_256;modp2048')],
         'net-to-net', 'ike', 'IKEv1 cannot use AES-GCM'),
    # --- unmanaged peers
    case('unmanaged-rsasig-without-pubkey', [n2n(right=peer())],
         'net-to-net', 'right.pubkey', 'needs its RSA public key'),
    case('unmanaged-garbage-pubkey', [n2n(right=peer(pubkey='AAAAB3NzaC1yc2E'))],
         'net-to-net', 'right.pubkey', 'must start with 0s'),
    case('unmanaged-1024-bit-pubkey', [n2n(right=peer(pubkey=RSA_1024_PEM))],
         'net-to-net', 'right.pubkey', 'has 1024 bits; at least 2048'),
    case('unmanaged-ec-pubkey', [n2n(right=peer(pubkey=EC_PEM))],
         'net-to-net', 'right.pubkey', 'not an RSA key'),
    case('unmanaged-psk-without-psk', [n2n(auth='psk', right=peer())],
         'net-to-net', 'psk', 'needs its PSK given'),
    case('both-ends-unmanaged', [n2n(auth='psk', psk=GOOD_PSK, left=peer(address='198.51.100.50'), right=peer())],
         'net-to-net', 'left/right', 'at least one end must be a host of the inventory'),
    # --- the two ends must be two
    case('both-ends-same-host', [n2n(right='vpn1', right_subnets='10.0.0.0/24')],
         'net-to-net', 'right', 'both ends are vpn1'),
    case('both-ends-same-address', [n2n(right='vpn3')],
         'net-to-net', 'right', 'both ends have the address 198.51.100.10',
         hostvars(vpn3={'sitevpn_public_address': '198.51.100.10'})),
    case('both-ends-same-id', [n2n()],
         'net-to-net', 'right id', 'both ends have the ID @gw',
         hostvars(vpn1={'sitevpn_public_address': '198.51.100.10', 'sitevpn_id': '@gw'},
                  vpn2={'sitevpn_public_address': '203.0.113.10', 'sitevpn_id': '@gw'})),
    # the seed: "names that don't resolve correctly cause the VPN initialization to fail" - use @name
    case('id-without-at-sign', [n2n()],
         'net-to-net', 'right id', "'vpn2.another-site.com' is not a usable IKE ID",
         hostvars(vpn2={'sitevpn_public_address': '203.0.113.10', 'sitevpn_id': 'vpn2.another-site.com'})),
    case('unmanaged-id-with-space', [n2n(auth='psk', psk=GOOD_PSK, right=peer(id='@branch router'))],
         'net-to-net', 'right id', 'is not a usable IKE ID'),
    # --- enumerations and numbers
    case('auto-unknown', [n2n(auto='always')],
         'net-to-net', 'auto', "must be one of start, add, ondemand, not 'always'"),
    case('ike_version-3', [n2n(ike_version=3)],
         'net-to-net', 'ike_version', 'must be 1 or 2, not 3'),
    case('state-unknown', [n2n(state='deleted')],
         'net-to-net', 'state', "must be present or absent, not 'deleted'"),
    case('initiator-unknown', [n2n(initiator='both')],
         'net-to-net', 'initiator', 'must be left or right'),
    case('dpd_action-unknown', [n2n(dpd_action='poke')],
         'net-to-net', 'dpd_action', 'must be one of restart, clear, hold'),
    # --- MTU and MSS clamping: a tunnel MTU the IP family cannot have
    case('mtu-below-ipv4-minimum', [n2n(mtu=500)],
         'net-to-net', 'mtu', '500 is not between 576 and 9216'),
    case('mtu-above-jumbo', [n2n(mtu=65000)],
         'net-to-net', 'mtu', '65000 is not between 576 and 9216'),
    case('mtu-below-ipv6-minimum', [n2n(left_subnets='2001:db8:1::/64', right_subnets='2001:db8:2::/64', mtu=1200)],
         'net-to-net', 'mtu', 'IPv6 subnets need 1280, RFC 8200'),
    case('mtu-not-a-number', [n2n(mtu='auto')],
         'net-to-net', 'mtu', "'auto' is not a whole number"),
    case('mss_clamping-quoted', [n2n(mss_clamping='no')],
         'net-to-net', 'mss_clamping', 'must be true or false'),
    # --- route-based tunnels: an interface of their own, IKEv2, no _updown work
    case('mode-unknown', [n2n(mode='vti')],
         'net-to-net', 'mode', "must be policy or route, not 'vti'"),
    case('interface_id-without-route-mode', [n2n(interface_id=5)],
         'net-to-net', 'interface_id', 'only a tunnel with mode: route has an interface'),
    case('interface_id-of-libreswans-test-device', [n2n(mode='route', interface_id=1)],
         'net-to-net', 'interface_id', "1 is not between 2 and 65535 (ipsec1 is Libreswan's own test device)"),
    case('interface_id-not-a-number', [n2n(mode='route', interface_id='ipsec5')],
         'net-to-net', 'interface_id', "'ipsec5' is not a whole number"),
    case('route-mode-with-ikev1', [n2n(mode='route', ike_version=1, auth='psk', psk='x' * 40)],
         'net-to-net', 'mode', 'route-based tunnels need IKEv2'),
    case('route-mode-to-an-unmanaged-peer',
         [n2n(mode='route', right={'address': '203.0.113.50'}, auth='psk', psk='x' * 40)],
         'net-to-net', 'mode', 'route-based tunnels need both ends in the inventory for now'),
    # an end that is not in the inventory is said, not a crash of the selectors' defaults
    case('route-mode-with-an-end-not-in-the-inventory', [n2n(mode='route', right='vpn9')],
         'net-to-net', 'right', "host 'vpn9' is not in the inventory"),
    case('route-mode-with-updown-options', [n2n(mode='route', options={'vti-interface': 'vti0', 'metric': '5'})],
         'net-to-net', 'options', 'metric, vti-interface cannot be set on a route-based tunnel'),
    case('route-mode-with-libreswans-updown', [n2n(mode='route', updown='libreswan')],
         'net-to-net', 'updown', "a route-based tunnel runs without Libreswan's _updown"),
    case('two-route-tunnels-on-one-interface',
         [n2n(mode='route', interface_id=7),
          {'name': 'voice', 'left': 'vpn1', 'right': 'vpn3', 'left_subnets': '172.16.9.0/24',
           'right_subnets': '10.3.0.0/24', 'mode': 'route', 'interface_id': 7}],
         'voice', 'interface_id', "ipsec7 on vpn1 is already tunnel net-to-net's; give one of them another "
                                  "interface_id"),
    case('two-route-based-tunnels-of-one-family-on-a-gateway',
         [n2n(mode='route'),
          {'name': 'voice', 'left': 'vpn1', 'right': 'vpn3', 'left_subnets': '172.16.9.0/24',
           'right_subnets': '10.3.0.0/24', 'mode': 'route'}],
         'voice', 'mode', 'vpn1 already has the route-based tunnel net-to-net with the selectors 0.0.0.0/0 <-> '
                          '0.0.0.0/0, and Libreswan keeps one Child SA per pair of selectors'),
    case('route-based-tunnels-whose-given-selectors-still-collide',
         [n2n(mode='route', right_selectors='10.0.0.0/16'),
          {'name': 'voice', 'left': 'vpn1', 'right': 'vpn3', 'left_subnets': '172.16.9.0/24',
           'right_subnets': '10.0.5.0/24', 'mode': 'route', 'right_selectors': ['10.0.0.0/16']}],
         'voice', 'mode', 'vpn1 already has the route-based tunnel net-to-net with the selectors 0.0.0.0/0 <-> '
                          '10.0.0.0/16'),
    case('selectors-without-route-mode', [n2n(right_selectors='10.0.0.0/16')],
         'net-to-net', 'right_selectors', "only a tunnel with mode: route has right_selectors (a policy-based "
                                          "tunnel's selectors are its subnets)"),
    case('selectors-that-leave-a-subnet-out', [n2n(mode='route', right_subnets=['10.0.0.0/24', '10.9.0.0/24'],
                                                   right_selectors='10.0.0.0/16')],
         'net-to-net', 'right_selectors', '10.9.0.0/24 lies outside 10.0.0.0/16: its traffic would meet no IPsec '
                                          'policy'),
    case('selectors-of-the-other-family', [n2n(mode='route', left_selectors='2001:db8::/32')],
         'net-to-net', 'left_selectors', 'must be IPv4 networks like the tunnel'),
    case('selectors-not-a-network', [n2n(mode='route', left_selectors='172.16.1.7/24')],
         'net-to-net', 'left_selectors', '172.16.1.7/24 has host bits set'),
    case('dpd_timeout-equal-to-delay', [n2n(dpd_delay=30, dpd_timeout=30)],
         'net-to-net', 'dpd_timeout', 'must be longer than dpd_delay (30)'),
    case('dpd_timeout-below-delay', [n2n(dpd_delay=30, dpd_timeout=10)],
         'net-to-net', 'dpd_timeout', 'must be longer than dpd_delay'),
    case('dpd_delay-not-a-number', [n2n(dpd_delay='10s')],
         'net-to-net', 'dpd_delay', "'10s' is not a whole number"),
    case('dpd_delay-negative', [n2n(dpd_delay=-1)],
         'net-to-net', 'dpd_delay', 'must be at least 0'),
    # --- options: extra conn keys, but not the model's own, and one line each
    case('options-reserved-authby', [n2n(options={'authby': 'secret'})],
         'net-to-net', 'options', 'authby is set by the model'),
    case('options-reserved-leftsubnet', [n2n(options={'leftsubnet': '0.0.0.0/0'})],
         'net-to-net', 'options', 'leftsubnet is set by the model'),
    case('options-newline-in-value', [n2n(options={'mtu': '1400\n    authby=never'})],
         'net-to-net', 'options', 'value of mtu contains a line break'),
    case('options-bad-keyword', [n2n(options={'Left Id': '@x'})],
         'net-to-net', 'options', "'Left Id' is not a conn keyword"),
    case('options-not-a-dict', [n2n(options=['mtu=1400'])],
         'net-to-net', 'options', 'must be a dict'),
    # --- probes: the seed's "simple ping from one private network to the other"
    case('probe-without-to', [n2n(probe={'from': 'lan1'})],
         'net-to-net', 'probe', 'must be a dict with `from`'),
    case('probe-from-unknown-host', [n2n(probe={'from': 'lan9', 'to': 'lan2'})],
         'net-to-net', 'probe.from', "host 'lan9' is not in the inventory"),
    # --- addresses inside subnets
    case('subnet-contains-own-public-address', [n2n(left_subnets='198.51.100.0/24')],
         'net-to-net', 'left_subnets', "contains the gateway's own public address 198.51.100.10"),
    case('sourceip-outside-subnets', [n2n(left_sourceip='10.9.9.9')],
         'net-to-net', 'left_sourceip', '10.9.9.9 is not inside 172.16.1.0/24'),
    case('sourceip-not-an-address', [n2n(right_sourceip='10.0.0.0/24')],
         'net-to-net', 'right_sourceip', 'is not an IP address'),
    # --- strict types: a value of the wrong type is refused, never coerced
    case('name-a-number', [n2n(name=8)],
         '8', 'name', 'is not a string'),
    case('name-all-digits', [n2n(name='010')],
         '010', 'name', 'is all digits'),
    case('name-trailing-newline', [n2n(name='net-to-net\n')],
         "'net-to-net\\n'", 'name', 'is not a valid conn name'),
    case('dpd_delay-a-boolean', [n2n(dpd_delay=True)],
         'net-to-net', 'dpd_delay', 'True is not a whole number (a boolean)'),
    case('dpd_timeout-a-fraction', [n2n(dpd_timeout=45.5)],
         'net-to-net', 'dpd_timeout', '45.5 is not a whole number (a fraction)'),
    case('allow_weak-not-a-bool', [n2n(allow_weak='maybe')],
         'net-to-net', 'allow_weak', 'must be true or false'),
    case('own_ike_sa-not-a-bool', [n2n(own_ike_sa='sometimes')],
         'net-to-net', 'own_ike_sa', 'must be true or false'),
    case('updown-a-script-path', [n2n(updown='/usr/local/bin/up.sh')],
         'net-to-net', 'updown', 'must be one of auto, libreswan'),
    case('ike-not-a-string', [n2n(ike=['aes256-sha2'])],
         'net-to-net', 'ike', 'is not a Libreswan proposal string'),
    case('psk-a-list', [n2n(auth='psk', psk=[GOOD_PSK])],
         'net-to-net', 'psk', 'must be a string'),
    case('left_sourceip-not-an-address', [n2n(left_sourceip='gateway')],
         'net-to-net', 'left_sourceip', 'is not an IP address'),
    case('unmanaged-peer-name-two-lines', [n2n(auth='psk', psk=GOOD_PSK, right=peer(name='branch\nrouter'))],
         'net-to-net', 'right.name', 'one line'),
    case('unmanaged-peer-pubkey-not-a-string', [n2n(right=peer(pubkey=12345))],
         'net-to-net', 'right.pubkey', 'must be a string'),
    case('unmanaged-peer-local-address-garbage', [n2n(auth='psk', psk=GOOD_PSK, right=peer(local_address='lan'))],
         'net-to-net', 'right.local_address', 'is not an IP address'),
    # --- address families: a subnet pairs only with one of its own family
    case('ipv4-gateway-with-ipv6-gateway', [n2n()],
         'net-to-net', 'right', 'are of two address families',
         hostvars(vpn2={'sitevpn_public_address': '2001:db8:ff::2'})),
    case('ipv4-lan-to-ipv6-lan', [n2n(right_subnets='2001:db8:2::/64')],
         'net-to-net', 'left_subnets/right_subnets', 'mixes IPv4 and IPv6 subnets'),
    case('dual-stack-in-one-tunnel', [n2n(left_subnets=['172.16.1.0/24', '2001:db8:1::/64'],
                                          right_subnets=['10.0.0.0/24', '2001:db8:2::/64'])],
         'net-to-net', 'left_subnets/right_subnets', 'give each address family a tunnel of its own'),
    # --- options: each value must survive a conn file as one value
    case('options-value-with-double-quote', [n2n(options={'leftupdown': '/bin/up "x"'})],
         'net-to-net', 'options', "value of leftupdown must be printable text without '\"'"),
    case('options-value-a-list', [n2n(options={'mtu': [1400]})],
         'net-to-net', 'options', 'value of mtu must be a string, a whole number or true/false, not list'),
    case('options-value-a-fraction', [n2n(options={'mtu': 1400.5})],
         'net-to-net', 'options', 'not float'),
    case('options-weak-phase2alg', [n2n(options={'phase2alg': 'aes128-sha1'})],
         'net-to-net', 'options', 'phase2alg=aes128-sha1 uses weak algorithms (SHA-1)'),
    case('options-ah-instead-of-esp', [n2n(options={'phase2': 'ah'})],
         'net-to-net', 'options', 'phase2=ah uses weak algorithms (AH (no encryption))'),
    case('options-key-a-boolean', [n2n(options={True: 'yes'})],
         'net-to-net', 'options', 'True is not a conn keyword'),
    # --- probes
    case('probe-to-unknown-host', [n2n(probe={'from': 'lan1', 'to': 'lan9'})],
         'net-to-net', 'probe.to', "'lan9' is neither a host of the inventory nor an IP address"),
    case('probe-unknown-key', [n2n(probe={'from': 'lan1', 'to': 'lan2', 'count': 3})],
         'net-to-net', 'probe', 'unknown key(s) count'),
    # --- YAML surprises, read by Ansible's own loader
    case('yaml-octal-name', yaml_n2n('name: 010'),   # the later key wins: YAML 1.1 reads 010 as 8
         '8', 'name', 'YAML reads an unquoted name of digits as a number'),
    case('yaml-boolean-key', yaml_n2n('on: start'),   # meant auto: start; YAML 1.1 reads the key `on` as True
         'net-to-net', 'True', 'is not a string: YAML reads unquoted on/off/yes/no'),
    case('yaml-boolean-value', yaml_n2n('auth: psk', 'psk: yes'),
         'net-to-net', 'psk', 'must be a string'),
    case('yaml-block-scalar-keeps-the-newline', yaml_n2n('auth: psk', 'psk: |', '  q7Vd-3mXr9LpZt2Kw8YbNc4J'),
         'net-to-net', 'psk', 'contains a line break'),
    case('yaml-alias-same-lan-on-both-ends', from_yaml("""
        sitevpn_tunnels:
          - name: net-to-net
            left: vpn1
            right: vpn2
            left_subnets: &lan 172.16.1.0/24
            right_subnets: *lan
        """), 'net-to-net', 'right_subnets', '172.16.1.0/24 is on both ends'),
    case('yaml-merge-key-brings-a-typo', from_yaml("""
        common: &common
          dpd_dealy: 30
        sitevpn_tunnels:
          - <<: *common
            name: net-to-net
            left: vpn1
            right: vpn2
            left_subnets: 172.16.1.0/24
            right_subnets: 10.0.0.0/24
        """), 'net-to-net', 'dpd_dealy', 'did you mean dpd_delay?'),
    # --- the shape of the list itself
    case('tunnels-not-a-list', {'net-to-net': n2n()},
         '-', 'sitevpn_tunnels', 'must be a list of tunnels, not dict'),
    case('tunnels-a-string', 'net-to-net',
         '-', 'sitevpn_tunnels', 'must be a list of tunnels, not str'),
    case('tunnel-not-a-dict', [n2n(), 'vpn1-vpn3'],
         '#2', '-', 'each tunnel must be a dict, not str'),
]


@pytest.mark.parametrize('tunnels, hvars, tunnel, field, message', BAD)
def test_preflight_refuses(tunnels, hvars, tunnel, field, message):
    """Each bad input raises ModelError with a problem naming that tunnel and that field."""
    with pytest.raises(ModelError) as caught:
        normalize(tunnels, hvars)
    problems = caught.value.problems
    matching = [p for p in problems if p[0] == tunnel and field in p[1] and message in p[2]]
    assert matching, 'no problem (%r, ~%r, ~%r) in:\n%s' % (tunnel, field, message, caught.value.message)
    # the user reads it as one line per problem
    t, f, text = matching[0]
    assert '  - tunnel %s, field %s: %s' % (t, f, text) in str(caught.value).splitlines()


def test_the_table_is_big_enough():
    """The brief for this table: at least 40 bad inputs."""
    assert len(BAD) >= 40


def test_every_field_of_a_tunnel_has_a_refusal_case():
    """The table grows by categories: each field of the model is refused at least once."""
    fields = set(row.values[3] for row in BAD)
    missing = [key for key in sorted(_model.TUNNEL_KEYS) if not any(key in field for field in fields)]
    assert not missing, 'no BAD row names the field(s) %s' % ', '.join(missing)


@pytest.mark.parametrize('variable', ['sitevpn_public_address', 'ansible_host', 'sitevpn_local_address',
                                      'sitevpn_id', 'sitevpn_nexthop'])
def test_every_host_variable_the_model_reads_has_a_refusal_case(variable):
    rows = [row for row in BAD if any(variable in (row.values[1].get(host) or {}) and
                                      row.values[1][host] != HOSTVARS.get(host) for host in row.values[1])]
    assert rows, 'no BAD row sets a wrong %s' % variable


@pytest.mark.parametrize('surprise', ['octal', 'boolean-key', 'boolean-value', 'block-scalar', 'alias', 'merge-key'])
def test_every_yaml_surprise_has_a_refusal_case(surprise):
    assert any(row.id.startswith('yaml-%s' % surprise) for row in BAD)


# --- how problems are reported -------------------------------------------------------

def test_every_problem_is_reported_at_once():
    """Three broken tunnels give (at least) three problems in one error, not one per run."""
    tunnels = [
        n2n(name='a', right_subnets='10.0.0.1/24'),
        n2n(name='b', left='vpn3', auto='always'),
        n2n(name='c', right='vpn9', left_subnets='172.16.5.0/24'),
    ]
    with pytest.raises(ModelError) as caught:
        normalize(tunnels, HOSTVARS)
    named = set(t for t, _f, _m in caught.value.problems)
    assert len(caught.value.problems) >= 3
    assert {'a', 'b', 'c'} <= named


def test_message_format_counts_problems_and_says_nothing_was_touched():
    """The message is a header, then one "tunnel X, field Y: ..." line per problem."""
    with pytest.raises(ModelError) as caught:
        normalize([n2n(auto='always', ike_version=3)], HOSTVARS)
    assert caught.value.message == str(caught.value)
    assert str(caught.value).splitlines() == [
        '2 problems in sitevpn_tunnels (no host was touched):',
        "  - tunnel net-to-net, field auto: must be one of start, add, ondemand, not 'always'",
        '  - tunnel net-to-net, field ike_version: must be 1 or 2, not 3',
    ]


def test_one_problem_is_singular():
    """"1 problem", not "1 problems"."""
    with pytest.raises(ModelError) as caught:
        normalize([n2n(auto='always')], HOSTVARS)
    assert str(caught.value).startswith('1 problem in sitevpn_tunnels')


# --- what passes -----------------------------------------------------------------------

def test_hub_transit_is_allowed():
    """A hub announces one spoke's LAN to the other: the same subnet is local in one
    tunnel and remote in another. That is transit, not an overlap."""
    tunnels = [
        n2n(name='vpn1-vpn2', left_subnets=['172.16.1.0/24', '10.0.3.0/24'], right_subnets='10.0.0.0/24'),
        {'name': 'vpn1-vpn3', 'left': 'vpn1', 'right': 'vpn3',
         'left_subnets': ['172.16.1.0/24', '10.0.0.0/24'], 'right_subnets': '10.0.3.0/24'},
    ]
    normalized, warnings = normalize(tunnels, HOSTVARS)
    assert [t['name'] for t in normalized] == ['vpn1-vpn2', 'vpn1-vpn3']
    assert warnings == []


def test_an_absent_tunnel_does_not_collide_with_its_replacement():
    """Tunnels being removed (state absent) take no part in the overlap check across tunnels."""
    tunnels = [n2n(name='old', state='absent'), n2n(name='new', left='vpn3')]
    normalized, _warnings = normalize(tunnels, HOSTVARS)
    assert [(t['name'], t['state']) for t in normalized] == [('old', 'absent'), ('new', 'present')]


def test_none_is_an_empty_tunnel_list():
    """An inventory without sitevpn_tunnels is not an error: nothing to do."""
    assert normalize(None, HOSTVARS) == ([], [])


@pytest.mark.parametrize('tunnel', [
    n2n(ike='3des-md5;modp1024'),
    n2n(esp='aes128-sha1'),
], ids=['weak-ike', 'weak-esp'])
def test_allow_weak_turns_refusal_into_warning(tunnel):
    """With allow_weak (global or per tunnel) the weak proposal passes, and says so."""
    for normalized, warnings in (normalize([tunnel], HOSTVARS, allow_weak=True),
                                 normalize([dict(tunnel, allow_weak=True)], HOSTVARS)):
        assert len(normalized) == 1
        assert len(warnings) == 1
        assert 'tunnel net-to-net: ' in warnings[0] and 'uses weak algorithms' in warnings[0]
        assert 'allowed by allow_weak' in warnings[0]


def test_allow_weak_lets_pfs_be_turned_off_with_a_warning():
    """pfs: false passes with allow_weak, and like weak algorithms it is said out loud."""
    normalized, warnings = normalize([n2n(pfs=False, allow_weak=True)], HOSTVARS)
    assert normalized[0]['pfs'] is False
    assert any('PFS is off' in w for w in warnings)


def test_a_tunnel_can_refuse_weak_crypto_the_inventory_allows():
    """allow_weak: false on the tunnel wins over the global allow_weak."""
    with pytest.raises(ModelError):
        normalize([n2n(ike='3des-md5', allow_weak=False)], HOSTVARS, allow_weak=True)


def test_defaults_are_filled_in():
    """A bare tunnel gets rsasig, auto=start, IKEv2, PFS, DPD 10/60/restart, left initiates, updown auto, MSS clamping on with the MTU left to the gateway."""
    normalized, warnings = normalize([n2n()], HOSTVARS)
    assert warnings == []
    tunnel = normalized[0]
    assert tunnel == {
        'name': 'net-to-net', 'state': 'present',
        'left': {'host': 'vpn1', 'managed': True, 'address': '198.51.100.10', 'local_address': None,
                 'id': '@net-to-net.vpn1', 'nexthop': '%defaultroute', 'pubkey': None, 'subnets': ['172.16.1.0/24']},
        'right': {'host': 'vpn2', 'managed': True, 'address': '203.0.113.10', 'local_address': None,
                  'id': '@net-to-net.vpn2', 'nexthop': '%defaultroute', 'pubkey': None, 'subnets': ['10.0.0.0/24']},
        'auth': 'rsasig', 'psk': None, 'auto': 'start', 'ike_version': 2, 'ike': None, 'esp': None,
        'pfs': True, 'dpd': {'delay': 10, 'timeout': 60, 'action': 'restart'}, 'initiator': 'left',
        'options': {}, 'probe': None, 'updown': 'auto', 'mtu': None, 'mss_clamping': True,
        'mode': 'policy', 'interface_id': None,
    }


def test_a_route_based_tunnel_gets_an_interface_number_from_its_name_that_other_tunnels_do_not_move():
    """ipsec1000 ... ipsec9999 from the name: the same on every run, whatever tunnels are added before it."""
    alone = normalize([n2n(mode='route')], HOSTVARS)[0][0]
    assert alone['mode'] == 'route' and 1000 <= alone['interface_id'] <= 9999
    assert alone['interface_id'] == _model.default_interface_id('net-to-net')
    with_another = normalize([n2n(name='aaa', mode='route', left_subnets='2001:db8:7::/64',
                                  right_subnets='2001:db8:8::/64'), n2n(mode='route')], HOSTVARS)[0]
    assert with_another[1]['interface_id'] == alone['interface_id']
    assert normalize([n2n(mode='route', interface_id=42)], HOSTVARS)[0][0]['interface_id'] == 42


def test_a_route_based_tunnel_offers_0_0_on_both_sides_unless_selectors_are_given():
    wide = normalize([n2n(mode='route')], HOSTVARS)[0][0]
    assert wide['selectors'] == {'left': ['0.0.0.0/0'], 'right': ['0.0.0.0/0']}
    six = normalize([n2n(mode='route', left_subnets='2001:db8:1::/64', right_subnets='2001:db8:2::/64')],
                    HOSTVARS)[0][0]
    assert six['selectors'] == {'left': ['::/0'], 'right': ['::/0']}
    narrow = normalize([n2n(mode='route', right_selectors=['10.0.0.0/16'])], HOSTVARS)[0][0]
    assert narrow['selectors'] == {'left': ['0.0.0.0/0'], 'right': ['10.0.0.0/16']}
    assert 'selectors' not in normalize([n2n()], HOSTVARS)[0][0]          # policy-based: the subnets are the selectors


def test_updown_is_auto_or_libreswan_and_names_the_field():
    """Any other value is refused with the tunnel and field named; a script of one's own goes in options."""
    with pytest.raises(ModelError) as caught:
        normalize([n2n(updown='/usr/local/bin/my-updown')], HOSTVARS)
    assert 'net-to-net' in str(caught.value) and 'updown' in str(caught.value)
    assert normalize([n2n(updown='libreswan')], HOSTVARS)[0][0]['updown'] == 'libreswan'


@pytest.mark.parametrize('option', ['leftupdown', 'mtu', 'vti-interface', 'nflog-group', 'modecfgdns'])
def test_options_that_give_the_updown_script_work_keep_it(option):
    """An own updown script, or a key Libreswan's _updown acts on, turns `auto` into `libreswan`."""
    normalized, dummy = normalize([n2n(options={option: 'x'})], HOSTVARS)
    assert normalized[0]['updown'] == 'libreswan'


def test_subnet_string_becomes_a_list_and_is_canonical():
    """One CIDR as a string is a list of one; IPv6 is written in its short form."""
    normalized, dummy = normalize([n2n(left_subnets='172.16.1.0/24'),
                                   n2n(name='ipv6', left='vpn3', left_subnets='2001:db8:3::/64',
                                       right_subnets='2001:DB8:0:0::/64')], HOSTVARS)
    assert normalized[0]['left']['subnets'] == ['172.16.1.0/24']
    assert normalized[1]['right']['subnets'] == ['2001:db8::/64']


def test_public_address_falls_back_to_ansible_host():
    """Without sitevpn_public_address, the gateway's ansible_host is its public address."""
    hv = hostvars(vpn2={'ansible_host': '203.0.113.99'})
    normalized, dummy = normalize([n2n()], hv)
    assert normalized[0]['right']['address'] == '203.0.113.99'


def test_public_address_wins_over_ansible_host():
    """sitevpn_public_address is for when Ansible reaches the gateway another way (VPN, bastion)."""
    hv = hostvars(vpn2={'ansible_host': '192.168.122.5', 'sitevpn_public_address': '203.0.113.10'})
    normalized, dummy = normalize([n2n()], hv)
    assert normalized[0]['right']['address'] == '203.0.113.10'


def test_id_defaults_to_at_hostname_and_can_be_set():
    """leftid defaults to @inventory_hostname (the seed's "@" form); sitevpn_id overrides it."""
    hv = hostvars(vpn2={'sitevpn_public_address': '203.0.113.10', 'sitevpn_id': '@vpn2.another-site.com'})
    normalized, dummy = normalize([n2n()], hv, own_ike_sa=False)
    assert normalized[0]['left']['id'] == '@vpn1'
    assert normalized[0]['right']['id'] == '@vpn2.another-site.com'


def test_each_tunnel_between_managed_gateways_gets_ids_of_its_own_for_an_ike_sa_of_its_own():
    """Libreswan puts the Child SAs of every conn with the same addresses and IDs under one IKE SA, and
    replacing one conn takes the others down with it; prefixing the tunnel name keeps them apart."""
    hv = hostvars(vpn2={'sitevpn_public_address': '203.0.113.10', 'sitevpn_id': '@vpn2.another-site.com'})
    normalized, dummy = normalize([n2n()], hv)
    assert normalized[0]['left']['id'] == '@net-to-net.vpn1'
    assert normalized[0]['right']['id'] == '@net-to-net.vpn2.another-site.com'
    shared, dummy = normalize([n2n(own_ike_sa=False)], hv)
    assert shared[0]['left']['id'] == '@vpn1'


def test_an_unmanaged_peer_keeps_the_ids_its_administrator_configured():
    peer = {'address': '203.0.113.77', 'id': '@branch-fw', 'pubkey': None}
    normalized, dummy = normalize([n2n(right=peer, auth='psk', psk='a-given-pre-shared-key-1234567')], hostvars())
    assert (normalized[0]['left']['id'], normalized[0]['right']['id']) == ('@vpn1', '@branch-fw')


def test_nat_gateway_may_have_its_public_address_inside_its_subnet():
    """Behind NAT (sitevpn_local_address set) the public address is not on the box, so no conflict."""
    hv = hostvars(vpn1={'sitevpn_public_address': '198.51.100.10', 'sitevpn_local_address': '192.168.0.10'})
    normalized, dummy = normalize([n2n(left_subnets='198.51.100.0/24')], hv)
    assert normalized[0]['left']['local_address'] == '192.168.0.10'


def test_unmanaged_peer_pem_key_becomes_0s():
    """An appliance's PEM public key is converted to the RFC 3110 0s... form a conn needs."""
    normalized, dummy = normalize([n2n(right=peer(pubkey=RSA_2048_PEM, id='@branch'))], HOSTVARS)
    right = normalized[0]['right']
    assert right['managed'] is False and right['host'] is None
    assert right['name'] == 'branch-router' and right['id'] == '@branch'
    assert right['pubkey'].startswith('0s')
    record = base64.b64decode(right['pubkey'][2:])
    assert record[:4] == b'\x03\x01\x00\x01'     # exponent length 3, exponent 65537


def test_unmanaged_peer_id_defaults_to_its_address():
    """A peer given without id is identified by its address, as Libreswan does by default."""
    normalized, dummy = normalize([n2n(auth='psk', psk=GOOD_PSK, right=peer())], HOSTVARS)
    assert normalized[0]['right']['id'] == '203.0.113.50'
    assert normalized[0]['right']['name'] == 'branch-router'


def test_initiator_switches_to_the_managed_end():
    """When the initiating end is an appliance we do not run, our end initiates instead."""
    tunnel = n2n(auth='psk', psk=GOOD_PSK, left=peer(address='198.51.100.50'), right='vpn2',
                 left_subnets='172.16.9.0/24')
    normalized, dummy = normalize([tunnel], HOSTVARS)
    assert normalized[0]['initiator'] == 'right'
    assert _model.psk_owner(normalized[0]) == 'vpn2'


def test_ikev1_is_accepted_with_a_warning():
    """IKEv1 (the seed's era) still works, with a deprecation warning; ike_version may be a string."""
    normalized, warnings = normalize([n2n(ike_version='1', ike='aes256-sha2_256;modp2048')], HOSTVARS)
    assert normalized[0]['ike_version'] == 1
    assert len(warnings) == 1 and 'IKEv1 is deprecated' in warnings[0] and 'net-to-net' in warnings[0]


def test_options_are_strings_and_booleans_become_yes_no():
    """Extra conn keys pass through as text; YAML booleans become Libreswan's yes/no."""
    normalized, dummy = normalize([n2n(options={'mtu': 1400, 'fragmentation': True, 'mobike': False})], HOSTVARS)
    assert normalized[0]['options'] == {'mtu': '1400', 'fragmentation': 'yes', 'mobike': 'no'}


def test_an_option_value_with_spaces_is_quoted_as_one_value():
    """Libreswan reads `key=a b` as the value `a` and a stray word; in quotes it is one value."""
    normalized, dummy = normalize([n2n(options={'leftupdown': '/usr/local/sbin/up --quiet'})], HOSTVARS)
    assert normalized[0]['options'] == {'leftupdown': '"/usr/local/sbin/up --quiet"'}


def test_a_weak_option_is_a_warning_with_allow_weak():
    normalized, warnings = normalize([n2n(allow_weak=True, options={'phase2alg': 'aes128-sha1'})], HOSTVARS)
    assert normalized[0]['options'] == {'phase2alg': 'aes128-sha1'}
    assert warnings == ['tunnel net-to-net: phase2alg=aes128-sha1 uses weak algorithms (SHA-1), allowed by allow_weak']


@pytest.mark.parametrize('variable', ['own_ike_sa', 'allow_weak'])
def test_a_variable_that_is_not_a_boolean_is_refused(variable):
    with pytest.raises(ModelError) as caught:
        normalize([n2n()], HOSTVARS, **{variable: 'perhaps'})
    assert caught.value.problems[0][1].startswith('sitevpn_')
    assert "must be true or false, not 'perhaps'" in caught.value.problems[0][2]


def test_an_unmanaged_peer_behind_nat_keeps_its_own_address_for_its_conn():
    normalized, dummy = normalize([n2n(auth='psk', psk=GOOD_PSK, right=peer(local_address='10.0.0.1'))], HOSTVARS)
    assert normalized[0]['right']['local_address'] == '10.0.0.1'


def test_good_psk_is_kept():
    """A long random PSK passes the strength checks unchanged."""
    normalized, dummy = normalize([n2n(auth='psk', psk=GOOD_PSK)], HOSTVARS)
    assert normalized[0]['psk'] == GOOD_PSK
    assert _model.psk_problem('Nonebutourselvescanfreeourminds') is None   # the seed's example is fine


def test_weak_algorithms_are_named_in_words():
    """The warning says what is weak, once per algorithm."""
    assert _model.weak_algorithms('3des-sha1;modp1024,3des-md5') == [
        '3DES (64-bit block)', 'SHA-1', 'DH group 2', 'MD5']
    assert _model.weak_algorithms('aes_gcm256-sha2_512+sha2_256-dh19+dh20+dh31+dh14') == []
    assert _model.weak_algorithms(None) == []


# --- bugs found while writing this table (see the report) ---------------------------

def test_allow_weak_as_a_string_false_does_not_allow_weak_crypto():
    """allow_weak: "false" (a string, e.g. from a template or -e) must not allow weak algorithms."""
    with pytest.raises(ModelError) as caught:
        normalize([n2n(ike='3des-md5;modp1024', allow_weak='false')], HOSTVARS)
    assert any(f in ('allow_weak', 'ike') for _t, f, _m in caught.value.problems)


@pytest.mark.parametrize('key, proposal', [('esp', 'aes256-sha1_96'), ('ike', 'aes256-hmac_sha1-modp2048')])
def test_every_libreswan_spelling_of_sha1_is_weak(key, proposal):
    """Libreswan's own aliases of HMAC-SHA1 (lib/libswan/ike_alg_sha1.c) are as weak as 'sha1'."""
    with pytest.raises(ModelError) as caught:
        normalize([n2n(**{key: proposal})], HOSTVARS)
    assert any(f == key and 'SHA-1' in m for _t, f, m in caught.value.problems)


@pytest.mark.parametrize('bad_id', ['198.51.100.256', 'cafe'])
def test_an_id_that_is_not_at_name_must_be_an_ip_address(bad_id):
    """Without '@' Libreswan takes the ID as an address (or resolves it); a bad one fails at load."""
    hv = hostvars(vpn2={'sitevpn_public_address': '203.0.113.10', 'sitevpn_id': bad_id})
    with pytest.raises(ModelError) as caught:
        normalize([n2n()], hv)
    assert any(f == 'right id' for _t, f, _m in caught.value.problems)


def test_options_cannot_set_sourceip_the_model_renders():
    """options.leftsourceip next to left_sourceip writes the key twice; Libreswan refuses the conn."""
    with pytest.raises(ModelError) as caught:
        normalize([n2n(left_sourceip='172.16.1.1', options={'leftsourceip': '172.16.1.2'})], HOSTVARS)
    assert any(f == 'options' and 'leftsourceip' in m for _t, f, m in caught.value.problems)


# --- topologies: hub-and-spoke and mesh, expanded into tunnels -----------------------------------

TOPO_HOSTVARS = {
    'hq': {'sitevpn_public_address': '198.51.100.10', 'sitevpn_subnets': ['172.16.1.0/24'],
           'sitevpn_probe_host': 'hq-lan'},
    'br1': {'sitevpn_public_address': '203.0.113.10', 'sitevpn_subnets': '10.0.0.0/24', 'sitevpn_probe_host': 'lan1'},
    'br2': {'sitevpn_public_address': '203.0.113.138', 'sitevpn_subnets': ['172.16.3.0/24']},
    'hq-lan': {}, 'lan1': {},
}


def test_a_hub_and_its_spokes_become_one_tunnel_per_spoke_with_stable_names():
    """hq + [br1, br2] -> hq-br1 and hq-br2, hub on the left, each spoke initiating."""
    topologies = [{'name': 'hq', 'hub': 'hq', 'spokes': ['br1', 'br2'], 'defaults': {'auth': 'psk'}}]
    normalized, dummy = normalize([], TOPO_HOSTVARS, topologies=topologies)
    by_name = dict((t['name'], t) for t in normalized)
    assert sorted(by_name) == ['hq-br1', 'hq-br2']
    assert by_name['hq-br1']['left']['host'] == 'hq' and by_name['hq-br1']['initiator'] == 'right'
    assert by_name['hq-br1']['left']['subnets'] == ['172.16.1.0/24']
    assert by_name['hq-br1']['auth'] == 'psk'
    # probes where both gateways name their LAN host
    assert by_name['hq-br1']['probe'] == {'from': 'lan1', 'to': 'hq-lan'}
    assert by_name['hq-br2']['probe'] is None


def test_spoke_to_spoke_adds_the_other_spokes_lans_to_each_hub_side():
    """With spoke_to_spoke, br1 reaches br2's LAN through the hub: the hub side of hq-br1 carries it,
    and the hub's transit (one subnet local in one tunnel, remote in another) is not an overlap."""
    topologies = [{'name': 'hq', 'hub': 'hq', 'spokes': ['br1', 'br2'], 'spoke_to_spoke': True}]
    normalized, dummy = normalize([], TOPO_HOSTVARS, topologies=topologies)
    hq_br1 = [t for t in normalized if t['name'] == 'hq-br1'][0]
    assert hq_br1['left']['subnets'] == ['172.16.1.0/24', '172.16.3.0/24']


def test_a_route_based_hub_narrows_each_spokes_selectors_to_its_lans():
    """Libreswan keeps one Child SA per pair of selectors on the hub: hq-br1 and hq-br2 cannot both offer
    0/0 <-> 0/0. The spoke's side is its own LAN; the hub's side stays 0/0, so the hub's LANs and (with
    spoke_to_spoke) the other spokes' are routes into the spoke's interface."""
    topologies = [{'name': 'hq', 'hub': 'hq', 'spokes': ['br1', 'br2'], 'spoke_to_spoke': True,
                   'defaults': {'mode': 'route'}}]
    normalized, dummy = normalize([], TOPO_HOSTVARS, topologies=topologies)
    by_name = dict((t['name'], t) for t in normalized)
    assert by_name['hq-br1']['selectors'] == {'left': ['0.0.0.0/0'], 'right': ['10.0.0.0/24']}
    assert by_name['hq-br2']['selectors'] == {'left': ['0.0.0.0/0'], 'right': ['172.16.3.0/24']}
    assert by_name['hq-br1']['interface_id'] != by_name['hq-br2']['interface_id']


def test_a_mesh_connects_every_pair_once():
    normalized, dummy = normalize([], TOPO_HOSTVARS, topologies=[{'name': 'core', 'mesh': ['br2', 'hq', 'br1']}])
    assert sorted(t['name'] for t in normalized) == ['core-br1-br2', 'core-br1-hq', 'core-br2-hq']


@pytest.mark.parametrize('topology, field', [
    ({'name': 'hq', 'hub': 'hq'}, 'spokes'),
    ({'name': 'hq', 'hub': 'hq', 'spokes': ['nowhere']}, 'hub/spokes/mesh'),
    ({'name': 'hq', 'mesh': ['hq']}, 'mesh'),
    ({'name': 'hq', 'hub': 'hq', 'mesh': ['br1'], 'spokes': ['br1']}, 'hub/mesh'),
    ({'name': 'bad name', 'mesh': ['hq', 'br1']}, 'name'),
    ({'name': 'hq', 'hub': 'hq', 'spokes': ['br1'], 'spokez': 1}, 'spokez'),
    ({'name': 'hq', 'hub': 'hq', 'spokes': ['lan1']}, 'sitevpn_subnets of lan1'),
    # strict types and keys, as for tunnels
    ({'name': 'hq', 'hub': 'hq', 'spokes': ['br1'], 'spoke_to_spoke': 'false'}, 'spoke_to_spoke'),   # a string
    ({'name': 'hq', 'hub': 'hq', 'spokes': 'br1'}, 'spokes'),
    ({'name': 'hq', 'mesh': 'hq,br1'}, 'mesh'),
    ({'name': 'hq', 'hub': 'hq', 'spokes': [{'host': 'br1'}]}, 'hub/spokes/mesh'),
    ({'name': 'hq', 'hub': 'hq', 'spokes': ['br1'], True: 1}, 'True'),
    # subnets come from the members' sitevpn_subnets: in defaults they would be silently overridden
    ({'name': 'hq', 'hub': 'hq', 'spokes': ['br1'], 'defaults': {'left_subnets': '10.9.0.0/16'}}, 'defaults'),
    ({'name': 'hq', 'hub': 'hq', 'spokes': ['br1'], 'defaults': {'dpd_dealy': 30}}, 'defaults'),
])
def test_a_broken_topology_names_itself_and_the_field(topology, field):
    with pytest.raises(ModelError) as caught:
        normalize([], TOPO_HOSTVARS, topologies=[topology])
    assert any(t.startswith('topology') and field in f for t, f, _m in caught.value.problems), caught.value.problems


def test_the_gateway_behind_nat_initiates_by_default():
    """Only the NATed end can open the way through its NAT box."""
    hostvars = dict(TOPO_HOSTVARS, br1=dict(TOPO_HOSTVARS['br1'], sitevpn_local_address='192.168.0.10'))
    tunnel = {'name': 'n', 'left': 'hq', 'right': 'br1', 'left_subnets': '172.16.1.0/24',
              'right_subnets': '10.0.0.0/24'}
    normalized, dummy = normalize([tunnel], hostvars)
    assert normalized[0]['initiator'] == 'right'
    assert normalized[0]['right']['local_address'] == '192.168.0.10'


def test_the_tunnel_role_documents_exactly_the_fields_the_model_reads():
    """roles/tunnel/meta/argument_specs.yml and the model describe one tunnel: a field added to one of them
    and not to the other fails here (ansible-core checks the role spec; the model checks everything else)."""
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, '..', '..', '..', '..', 'roles', 'tunnel', 'meta', 'argument_specs.yml')) as handle:
        spec = yaml.safe_load(handle)
    tunnels = spec['argument_specs']['main']['options']['sitevpn_tunnels']
    assert set(tunnels['options']) == _model.TUNNEL_KEYS
    probe = tunnels['options']['probe']
    assert set(probe.get('options') or _model.PROBE_KEYS) == _model.PROBE_KEYS


def test_the_route_based_guides_examples_pass_the_preflight():
    """Every inventory block of docs/route-based.md, on a lab-like inventory: what the guide shows works."""
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, '..', '..', '..', '..', 'docs', 'route-based.md')) as handle:
        blocks = re.findall(r'```yaml title="inventory/group_vars/all.yml"\n(.*?)```', handle.read(), re.S)
    hostvars = {'vpn1': {'sitevpn_public_address': '198.51.100.10', 'sitevpn_subnets': ['172.16.1.0/24']},
                'vpn2': {'sitevpn_public_address': '203.0.113.10', 'sitevpn_subnets': ['10.0.0.0/24']},
                'vpn3': {'sitevpn_public_address': '203.0.113.138', 'sitevpn_subnets': ['172.16.3.0/24']},
                'server1': {'ansible_host': '172.16.1.100'}, 'server2': {'ansible_host': '10.0.0.105'}}
    assert len(blocks) == 2
    names = []
    for block in blocks:
        inventory = yaml.safe_load(block)
        tunnels, dummy = normalize(inventory.get('sitevpn_tunnels', []), hostvars,
                                   topologies=inventory.get('sitevpn_topologies'))
        assert all(t['mode'] == 'route' for t in tunnels)
        names += [t['name'] for t in tunnels]
    assert names == ['net-to-net', 'hq-vpn2', 'hq-vpn3']
