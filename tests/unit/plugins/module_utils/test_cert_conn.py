# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Certificate tunnels (auth: cert) from the inventory to the conn: what the model refuses, what each end writes.

Each end names its own certificate (``leftcert=`` on vpn1, ``rightcert=`` on vpn2: the NSS nickname
``sitevpn-<tunnel>``), sends it whole, and accepts from the peer only a certificate of the CA that issued
its own (``%same``). The serial in the header makes a renewed certificate a change of the conn.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

from ansible_collections.sitevpn.ipsec.plugins.filter.host_tunnels import resolve
from ansible_collections.sitevpn.ipsec.plugins.module_utils import _conn
from ansible_collections.sitevpn.ipsec.plugins.plugin_utils._model import ModelError, normalize

CA = 'CN=sitevpn CA 2026-12-05 98087d68'
CERTS = {'net-to-net': {'nickname': 'sitevpn-net-to-net', 'serial': '5975aa3a', 'not_after': '2027-12-05T07:09:27+00:00',
                        'ca_dn': CA}}
HOSTVARS = {
    'vpn1': {'sitevpn_public_address': '198.51.100.10', 'sitevpn_certs': CERTS},
    'vpn2': {'sitevpn_public_address': '203.0.113.10', 'sitevpn_certs': dict(CERTS, **{'net-to-net': dict(
        CERTS['net-to-net'], serial='2a04df3e')})},
}
TUNNEL = {'name': 'net-to-net', 'left': 'vpn1', 'right': 'vpn2', 'auth': 'cert',
          'left_subnets': '172.16.1.0/24', 'right_subnets': '10.0.0.0/24'}


def conn(host, hostvars=None, major=4, **changes):
    return _conn.render_conn(resolve([dict(TUNNEL, **changes)], host, hostvars or HOSTVARS)[0], major)


def test_each_end_names_its_own_certificate_and_trusts_the_peers_from_the_same_ca():
    vpn1, vpn2 = conn('vpn1'), conn('vpn2', major=5)
    assert '    leftcert=sitevpn-net-to-net\n    leftsendcert=always\n' in vpn1
    assert '    rightca="%s"\n' % CA in vpn1 and 'rightcert' not in vpn1
    assert '    rightcert=sitevpn-net-to-net\n    rightsendcert=always\n' in vpn2
    assert '    leftca="%s"\n' % CA in vpn2 and 'leftcert' not in vpn2
    for text in (vpn1, vpn2):
        assert '    authby=ecdsa\n' in text          # EC P-256 keys: 4.10 cannot sign them under rsasig
        assert 'rsasigkey' not in text and 'PRIVATE' not in text
    assert '# Certificate sitevpn-net-to-net: serial 5975aa3a, valid until 2027-12-05T07:09:27+00:00.' in vpn1
    assert 'serial 2a04df3e' in vpn2
    assert _conn.render_secrets(resolve([TUNNEL], 'vpn1', HOSTVARS)[0]) is None


def test_a_new_ca_changes_the_conn_itself_so_it_is_replaced_not_merely_reread():
    # pluto resolves the peer's CA when the conn is added: a conn only reread kept the old CA (5.2, measured)
    hostvars = dict(HOSTVARS, vpn1=dict(HOSTVARS['vpn1'], sitevpn_certs={'net-to-net': dict(
        CERTS['net-to-net'], serial='77', ca_dn='CN=sitevpn CA 2026-12-06 0badc0de')}))
    old, new = conn('vpn1'), conn('vpn1', hostvars)
    assert '    rightca="CN=sitevpn CA 2026-12-06 0badc0de"\n' in new
    assert not _conn.certificate_only(old, new)


def test_without_the_ca_in_the_fact_the_peer_is_held_to_our_ca_by_same():
    hostvars = dict(HOSTVARS, vpn1=dict(HOSTVARS['vpn1'], sitevpn_certs={'net-to-net': dict(
        CERTS['net-to-net'], ca_dn=None)}))
    assert '    rightca=%same\n' in conn('vpn1', hostvars)


def test_rsa_gateway_keys_sign_with_rsasig():
    hostvars = dict((host, dict(values, sitevpn_cert_key_type='rsa')) for host, values in HOSTVARS.items())
    assert '    authby=rsasig\n' in conn('vpn1', hostvars)


def test_a_renewed_certificate_changes_the_serial_line_alone():
    old = conn('vpn1')
    hostvars = dict(HOSTVARS, vpn1=dict(HOSTVARS['vpn1'], sitevpn_certs={'net-to-net': dict(
        CERTS['net-to-net'], serial='99')}))
    new = conn('vpn1', hostvars)
    assert old != new and _conn.certificate_only(old, new)
    assert not _conn.certificate_only(old, old)
    assert not _conn.certificate_only(old, conn('vpn1', right_subnets='10.9.0.0/24'))
    assert not _conn.certificate_only(None, new)


def test_without_its_certificate_fact_the_tunnel_cannot_be_written():
    hostvars = dict(HOSTVARS, vpn1={'sitevpn_public_address': '198.51.100.10'})
    with pytest.raises(ModelError) as caught:
        resolve([TUNNEL], 'vpn1', hostvars)
    assert caught.value.problems == [('net-to-net', 'left.cert', 'no certificate of vpn1 for this tunnel yet: run the '
                                      'keys role on it (sitevpn_certs fact)')]
    assert resolve([TUNNEL], 'vpn1', hostvars, require_keys=False)[0]['left'].get('cert') is None


def problems_of(tunnel, hostvars=None):
    with pytest.raises(ModelError) as caught:
        normalize([tunnel], hostvars or HOSTVARS)
    return caught.value.problems


def _peer_ca():
    from ansible_collections.sitevpn.ipsec.plugins.plugin_utils import _ca
    key, cert = _ca.new_ca("Branch Appliances CA")
    return key, cert, _ca.cert_pem(cert).decode("ascii")


def _peer_csr():
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "appliance")]))
           .sign(ec.generate_private_key(ec.SECP256R1()), hashes.SHA256()))
    return csr.public_bytes(serialization.Encoding.PEM).decode("ascii")


APPLIANCE = {'name': 'appliance', 'address': '192.0.2.99', 'id': '@appliance'}


def test_an_unmanaged_certificate_peer_brings_its_ca_or_a_request():
    found = problems_of(dict(TUNNEL, right=APPLIANCE))
    assert found == [('net-to-net', 'right', 'an unmanaged peer with auth cert needs one of ca_cert (the PEM '
                      'certificate of the CA that issued its certificate) or csr (its PEM certificate request, for '
                      'the collection\'s CA to sign)')]
    both = problems_of(dict(TUNNEL, right=dict(APPLIANCE, ca_cert=_peer_ca()[2], csr=_peer_csr())))
    assert both[0][2].endswith(", not both")


def test_a_peer_with_a_ca_of_its_own_is_held_to_that_ca():
    pem = _peer_ca()[2]
    text = conn('vpn1', right=dict(APPLIANCE, ca_cert=pem))
    assert '    rightca="CN=Branch Appliances CA"\n' in text and '    rightid=@appliance\n' in text
    assert '    leftcert=sitevpn-net-to-net\n' in text


def test_a_peer_whose_request_our_ca_signs_is_held_to_our_ca():
    text = conn('vpn1', right=dict(APPLIANCE, csr=_peer_csr()))
    assert '    rightca="%s"\n' % CA in text


def test_a_peer_ca_that_is_no_ca_or_a_broken_request_is_refused():
    from ansible_collections.sitevpn.ipsec.plugins.plugin_utils import _ca
    key, ca = _ca.new_ca("x")[0], _ca.new_ca("x")[1]
    leaf = _ca.sign_csr(key, ca, _peer_csr(), ids=["@appliance"])
    found = problems_of(dict(TUNNEL, right=dict(APPLIANCE, ca_cert=_ca.cert_pem(leaf).decode("ascii"))))
    assert found[0][:2] == ('net-to-net', 'right.ca_cert') and "is not a CA certificate" in found[0][2]
    found = problems_of(dict(TUNNEL, right=dict(APPLIANCE, csr="-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n")))
    assert found[0][:2] == ('net-to-net', 'right.csr') and "not a PEM CSR" in found[0][2]


def test_both_ends_must_sign_the_same_way():
    hostvars = dict(HOSTVARS, vpn2=dict(HOSTVARS['vpn2'], sitevpn_cert_key_type='rsa'))
    found = problems_of(TUNNEL, hostvars)
    assert [(t, f) for t, f, _p in found] == [('net-to-net', 'right (sitevpn_cert_key_type of vpn2)')]
    assert 'rsa keys on vpn2 but ec keys on vpn1' in found[0][2]
    hostvars = dict(HOSTVARS, vpn2=dict(HOSTVARS['vpn2'], sitevpn_cert_key_type='dsa'))
    assert "must be one of ec, rsa, not 'dsa'" in problems_of(TUNNEL, hostvars)[0][2]


def test_a_certificate_tunnel_takes_no_psk_and_no_cert_keywords_through_options():
    found = problems_of(dict(TUNNEL, psk='x' * 32, options={'leftcert': 'other'}))
    fields = [f for _t, f, _p in found]
    assert 'psk' in fields and any(f.startswith('options') for f in fields)


def test_a_revoked_gateway_keeps_no_tunnel():
    hostvars = dict((host, dict(values, sitevpn_revoked_gateways=['vpn2'])) for host, values in HOSTVARS.items())
    assert problems_of(TUNNEL, hostvars) == [('net-to-net', 'right', 'vpn2 is revoked (sitevpn_revoked_gateways): '
                                              'remove its tunnels or set them state: absent')]
    assert normalize([dict(TUNNEL, state='absent')], hostvars)[0][0]['state'] == 'absent'


def test_a_refused_certificate_gets_a_certificate_remedy_not_the_rsa_one():
    from ansible_collections.sitevpn.ipsec.plugins.module_utils._remedy import remedy_for
    text = remedy_for("auth_failed", resolve([TUNNEL], 'vpn1', HOSTVARS)[0], {})
    assert "certificate" in text and "sitevpn_ca_dir" in text and "rsasigkey" not in text
    assert text.endswith("In this attempt this end sent ID '@net-to-net.vpn1'.")
