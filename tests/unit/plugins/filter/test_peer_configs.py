# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""peer_configs: the half of a tunnel its unmanaged peer's administrator gets, a PSK line that
Libreswan reads back as exactly the key."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import base64
import re

import pytest

from ansible_collections.sitevpn.ipsec.plugins.filter.peer_configs import peer_configs, secrets_psk

HOSTVARS = {'vpn1': {'sitevpn_public_address': '198.51.100.10'}}


def branch(psk):
    return [{'name': 'to-branch', 'left': 'vpn1', 'right': {'name': 'branch', 'address': '203.0.113.50'},
             'auth': 'psk', 'psk': psk, 'left_subnets': '172.16.1.0/24', 'right_subnets': '10.50.0.0/16'}]


def secrets_line(text):
    return [line for line in text.splitlines() if ' : PSK ' in line][0]


def test_a_plain_key_is_written_in_quotes_as_in_the_seed():
    text = peer_configs(branch('q7Vd-3mXr9LpZt2Kw8YbNc4J'), 'vpn1', HOSTVARS)[0]['text']
    assert secrets_line(text) == '@vpn1 203.0.113.50 : PSK "q7Vd-3mXr9LpZt2Kw8YbNc4J"'


@pytest.mark.parametrize('psk', ['q7Vd"3mXr9LpZt2Kw8YbNc4J', 'q7Vd\\3mXr9LpZt2Kw8YbNc4J', ' q7Vd-3mXr9LpZt2Kw8YbNc4J',
                                 'q7Vd-3mXr9LpZt2Kw8Yb{{Nc4J}}', 'q7Vd-3mXr9Lp\u00e9Zt2Kw8YbNc4J'])
def test_a_key_quotes_cannot_carry_is_written_in_base64(psk):
    line = secrets_line(peer_configs(branch(psk), 'vpn1', HOSTVARS)[0]['text'])
    encoded = re.search(r' : PSK (\S+)$', line).group(1)
    if encoded.startswith('0s'):
        assert base64.b64decode(encoded[2:]).decode('utf-8') == psk
    else:   # '{{' is harmless to ipsec.secrets
        assert encoded == '"%s"' % psk


def test_secrets_psk_never_lets_a_quote_end_the_string_early():
    assert secrets_psk('ab"cd') == '0s' + base64.b64encode(b'ab"cd').decode()


# -- strongSwan and appliances ------------------------------------------------------------------


def _pem_of_a_fresh_key():
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def test_a_strongswan_peer_gets_a_swanctl_conf_with_the_psk_in_its_secrets():
    item = peer_configs(branch('q7Vd-3mXr9LpZt2Kw8YbNc4J'), 'vpn1', HOSTVARS)[0]
    assert sorted(item['files']) == ['to-branch.swanctl.conf', 'to-branch.txt']
    conf = item['files']['to-branch.swanctl.conf']
    for line in ('version = 2', 'local_addrs = 203.0.113.50', 'remote_addrs = 198.51.100.10',
                 'proposals = aes256gcm16-prfsha512-prfsha256-ecp256-ecp384-curve25519-modp2048',
                 'id = 203.0.113.50', 'id = @vpn1', 'auth = psk', 'local_ts = 10.50.0.0/16',
                 'remote_ts = 172.16.1.0/24', 'esp_proposals = aes256gcm16-ecp256-ecp384-curve25519-modp2048',
                 'start_action = none', 'secret = "q7Vd-3mXr9LpZt2Kw8YbNc4J"'):
        assert '\n' + line in conf.replace('    ', ''), line
    assert conf.count('{') == conf.count('}')


def test_a_strongswan_peer_with_rsa_gets_both_public_keys_as_pem_files():
    pem = _pem_of_a_fresh_key()
    tunnels = [{'name': 'to-ss', 'left': 'vpn1', 'right': {'name': 'ss', 'address': '203.0.113.10', 'id': '@ss',
                                                           'pubkey': pem},
                'left_subnets': '172.16.1.0/24', 'right_subnets': '10.0.0.0/24'}]
    ours = _pem_of_a_fresh_key()
    from ansible_collections.sitevpn.ipsec.plugins.plugin_utils import _keys
    hostvars = {'vpn1': {'sitevpn_public_address': '198.51.100.10', 'sitevpn_hostkey': {'pubkey': _keys.to_rfc3110(ours)}}}
    files = peer_configs(tunnels, 'vpn1', hostvars)[0]['files']
    assert files['to-ss-vpn1.pem'] == ours and files['to-ss-ss.pem'] == pem
    conf = files['to-ss.swanctl.conf']
    assert 'auth = pubkey' in conf and 'pubkeys = to-ss-ss.pem' in conf and 'pubkeys = to-ss-vpn1.pem' in conf
    assert 'secrets' not in conf and 'id = @ss' in conf


def test_an_appliance_administrator_gets_every_field_by_its_registry_name():
    text = peer_configs(branch('q7Vd-3mXr9LpZt2Kw8YbNc4J'), 'vpn1', HOSTVARS)[0]['text']
    table = text.split('field by field')[1]
    for expected in ('IKEv2', 'IPv4 address (ID_IPV4_ADDR): 203.0.113.50', 'FQDN (ID_FQDN): vpn1',
                     'ENCR_AES_GCM_16 256-bit key', 'PRF_HMAC_SHA2_512', '19 (256-bit random ECP (NIST P-256))',
                     'IKE SA lifetime', '28800 s', 'PFS', '10.50.0.0/16', 'every 10 s, peer dead after 60 s',
                     'NAT traversal', 'pre-shared key'):
        assert expected in table, expected


# -- certificate peers ---------------------------------------------------------------------------

def _cert_world(with_csr):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    from ansible_collections.sitevpn.ipsec.plugins.plugin_utils import _ca
    key, ours = _ca.new_ca('sitevpn CA 2026-12-05 0badc0de')
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, 'branch')]))
           .sign(ec.generate_private_key(ec.SECP256R1()), hashes.SHA256())).public_bytes(serialization.Encoding.PEM)
    peer = {'name': 'branch', 'address': '203.0.113.50', 'id': '@branch'}
    if with_csr:
        peer['csr'] = csr.decode('ascii')
        signed = _ca.cert_pem(_ca.sign_csr(key, ours, csr, ids=['@branch'])).decode('ascii')
    else:
        peer['ca_cert'] = _ca.cert_pem(_ca.new_ca('Branch CA')[1]).decode('ascii')
        signed = None
    tunnels = [{'name': 'to-branch', 'left': 'vpn1', 'right': peer, 'auth': 'cert', 'left_subnets': '172.16.1.0/24',
                'right_subnets': '10.50.0.0/16'}]
    hostvars = {'vpn1': {'sitevpn_public_address': '198.51.100.10',
                         'sitevpn_certs': {'to-branch': {'nickname': 'sitevpn-to-branch', 'serial': '1a',
                                                         'not_after': '2027-12-05T00:00:00+00:00',
                                                         'ca_dn': 'CN=sitevpn CA 2026-12-05 0badc0de'}},
                         'sitevpn_peer_certs': {'to-branch': {'cert': signed,
                                                              'ca_cert': _ca.cert_pem(ours).decode('ascii')}}}}
    return tunnels, hostvars, signed


@pytest.mark.parametrize('with_csr', [True, False], ids=['our-ca-signs-its-request', 'its-own-ca'])
def test_a_certificate_peer_gets_our_ca_and_its_certificate_and_no_private_key(with_csr):
    tunnels, hostvars, signed = _cert_world(with_csr)
    half = peer_configs(tunnels, 'vpn1', hostvars)[0]
    files = half['files']
    assert files['to-branch-ca.crt'].startswith('-----BEGIN CERTIFICATE-----')
    assert ('to-branch-peer.crt' in files) is with_csr
    if with_csr:
        assert files['to-branch-peer.crt'] == signed
    conf = files['to-branch.swanctl.conf']
    assert 'cacerts = to-branch-ca.crt' in conf
    assert ('certs = to-branch-peer.crt' in conf) is with_csr
    text = half['text']
    assert 'X.509 certificates, ECDSA P-256 signatures' in text
    # the Libreswan conn for the peer: its own certificate, ours held to our CA by name
    assert '    rightcert=sitevpn-to-branch\n' in text and '    leftca="CN=sitevpn CA 2026-12-05 0badc0de"\n' in text
    assert 'PRIVATE KEY' not in ''.join(files.values())
