# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The controller-side filters: ``host_tunnels`` (resolve one gateway's tunnels),
``host_probes`` (the seed's "ping from one private network to the other") and
``proof`` (were the pings answered, and did they cross the SA?).

hostvars are plain dicts, as the filters only call ``hostvars[host].get(key)``.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import copy

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.sitevpn.ipsec.plugins.filter import host_probes as host_probes_mod
from ansible_collections.sitevpn.ipsec.plugins.filter import host_tunnels as host_tunnels_mod
from ansible_collections.sitevpn.ipsec.plugins.filter import proof as proof_mod
from ansible_collections.sitevpn.ipsec.plugins.filter.host_probes import host_probes
from ansible_collections.sitevpn.ipsec.plugins.filter.host_tunnels import PSK_RESULT_VAR, host_tunnels, resolve
from ansible_collections.sitevpn.ipsec.plugins.filter.proof import proof
from ansible_collections.sitevpn.ipsec.plugins.plugin_utils._model import ModelError

GENERATED_PSK = 'xJ4vQ9sL2mR7tW1zK8bN5cF3'

HOSTVARS = {
    'vpn1': {'sitevpn_public_address': '198.51.100.10', 'sitevpn_hostkey': {'pubkey': '0sAwEAAVPN1'},
             PSK_RESULT_VAR: {'psks': {'vpn1-vpn3': GENERATED_PSK}}},
    'vpn2': {'sitevpn_public_address': '203.0.113.10', 'sitevpn_hostkey': {'pubkey': '0sAwEAAVPN2'},
             PSK_RESULT_VAR: {'psks': {'vpn1-vpn3': 'not-this-one-it-is-on-vpn2'}}},
    'vpn3': {'sitevpn_public_address': '192.0.2.30', 'sitevpn_hostkey': {'pubkey': '0sAwEAAVPN3'}},
    'lan1': {'ansible_host': '192.168.122.11', 'sitevpn_probe_address': '172.16.1.100'},
    'lan2': {'ansible_host': '10.0.0.105'},
    'lan3': {'ansible_host': '10.0.3.7'},
}

TUNNELS = [
    {'name': 'net-to-net', 'left': 'vpn1', 'right': 'vpn2',
     'left_subnets': '172.16.1.0/24', 'right_subnets': '10.0.0.0/24', 'probe': {'from': 'lan1', 'to': 'lan2'}},
    {'name': 'vpn1-vpn3', 'left': 'vpn1', 'right': 'vpn3', 'auth': 'psk',
     'left_subnets': '172.16.1.0/24', 'right_subnets': '10.0.3.0/24', 'probe': {'from': 'lan1', 'to': 'lan3'}},
    {'name': 'vpn2-vpn3', 'left': 'vpn2', 'right': 'vpn3',
     'left_subnets': '10.0.0.0/24', 'right_subnets': '10.0.3.0/24'},
]


def without(hostvars, host, key):
    result = copy.deepcopy(hostvars)
    del result[host][key]
    return result


# --- host_tunnels -----------------------------------------------------------------------------

def test_only_the_hosts_tunnels_with_local_set():
    """vpn2 gets the two tunnels it is an end of, each saying which side it is."""
    resolved = resolve(TUNNELS, 'vpn2', HOSTVARS)
    assert [(t['name'], t['local']) for t in resolved] == [('net-to-net', 'right'), ('vpn2-vpn3', 'left')]


def test_a_host_with_no_tunnel_gets_none():
    """A gateway not named in any tunnel resolves to an empty list."""
    assert resolve(TUNNELS, 'lan1', HOSTVARS) == []


def test_public_keys_come_from_the_peers_hostkey_facts():
    """Both ends' rsasigkeys are the sitevpn_hostkey facts the keys role published."""
    tunnel = resolve(TUNNELS, 'vpn1', HOSTVARS)[0]
    assert tunnel['left']['pubkey'] == '0sAwEAAVPN1'
    assert tunnel['right']['pubkey'] == '0sAwEAAVPN2'
    assert 'probe' not in tunnel


def test_missing_peer_key_names_tunnel_and_field():
    """Before the keys role ran on vpn2, resolving fails with the tunnel and `right.pubkey`."""
    hv = without(HOSTVARS, 'vpn2', 'sitevpn_hostkey')
    with pytest.raises(ModelError) as caught:
        resolve(TUNNELS, 'vpn1', hv)
    assert caught.value.problems == [
        ('net-to-net', 'right.pubkey', 'no RSA public key of vpn2 yet: run the keys role on it (sitevpn_hostkey fact)')]


def test_missing_key_is_fine_when_keys_are_not_required():
    """require_keys=false (before the keys role): the tunnel resolves with pubkey None."""
    hv = without(HOSTVARS, 'vpn2', 'sitevpn_hostkey')
    tunnel = resolve(TUNNELS, 'vpn1', hv, require_keys=False)[0]
    assert tunnel['right']['pubkey'] is None
    assert tunnel['left']['pubkey'] == '0sAwEAAVPN1'


def test_absent_tunnel_needs_no_key():
    """A tunnel being removed is resolved without keys: only its name matters then."""
    tunnels = [dict(TUNNELS[0], state='absent')]
    hv = without(HOSTVARS, 'vpn2', 'sitevpn_hostkey')
    assert resolve(tunnels, 'vpn1', hv)[0]['state'] == 'absent'


@pytest.mark.parametrize('host', ['vpn1', 'vpn3'])
def test_generated_psk_is_read_from_the_left_hosts_result(host):
    """Both ends read the PSK vpn1 (the left end, its owner) registered; vpn2's result is ignored."""
    tunnel = [t for t in resolve(TUNNELS, host, HOSTVARS) if t['name'] == 'vpn1-vpn3'][0]
    assert tunnel['psk'] == GENERATED_PSK


def test_missing_generated_psk_names_the_owner():
    """No PSK given and none registered yet on vpn1: fail, saying where it should come from."""
    hv = without(HOSTVARS, 'vpn1', PSK_RESULT_VAR)
    with pytest.raises(ModelError) as caught:
        resolve(TUNNELS, 'vpn3', hv)
    assert caught.value.problems == [('vpn1-vpn3', 'psk', 'no PSK given and none generated on vpn1 yet (keys role)')]
    assert resolve(TUNNELS, 'vpn3', hv, require_keys=False)[0]['psk'] is None


def test_without_secrets_the_tunnels_carry_no_psk_but_still_say_where_it_comes_from():
    """For module arguments, which Ansible logs on the gateway before the module can hide anything."""
    tunnels = copy.deepcopy(TUNNELS)
    tunnels[1]['psk'] = 'Nonebutourselvescanfreeourminds'
    public = host_tunnels(tunnels, 'vpn3', HOSTVARS, secrets=False)
    assert [t['psk'] for t in public] == [None] * len(public) and len(public) == 2
    assert [t['psk_source'] for t in public if t['auth'] == 'psk'] == ['given']
    assert 'Nonebutourselvescanfreeourminds' not in repr(public)
    assert host_tunnels(tunnels, 'vpn3', HOSTVARS)[0]['psk'] == 'Nonebutourselvescanfreeourminds'


def test_given_psk_wins_over_a_generated_one():
    """A PSK written in the tunnel (vaulted) is used as is."""
    tunnels = copy.deepcopy(TUNNELS)
    tunnels[1]['psk'] = 'Nonebutourselvescanfreeourminds'
    assert resolve(tunnels, 'vpn3', HOSTVARS)[0]['psk'] == 'Nonebutourselvescanfreeourminds'


def test_psk_tunnels_between_the_same_two_ids_share_the_first_tunnels_generated_key():
    """Libreswan picks a PSK by the pair of IKE IDs: with shared IKE SAs (own_ike_sa: false), a second
    PSK tunnel vpn1<->vpn3 (another subnet) has the same IDs and so uses the key generated for the
    first one (by name), and only that one is generated."""
    from ansible_collections.sitevpn.ipsec.plugins.filter.psk_owned_by import psk_owned_by
    tunnels = [dict(t, own_ike_sa=False) for t in copy.deepcopy(TUNNELS)] + [{
        'name': 'vpn1-vpn3-voice', 'left': 'vpn1', 'right': 'vpn3', 'auth': 'psk', 'own_ike_sa': False,
        'left_subnets': '172.16.2.0/24', 'right_subnets': '10.0.4.0/24'}]
    resolved = dict((t['name'], t) for t in resolve(tunnels, 'vpn3', HOSTVARS))
    assert resolved['vpn1-vpn3']['psk'] == resolved['vpn1-vpn3-voice']['psk'] == GENERATED_PSK
    owned = psk_owned_by(resolve(tunnels, 'vpn1', HOSTVARS, require_keys=False), 'vpn1')
    assert [t['name'] for t in owned] == ['vpn1-vpn3']


def test_psk_tunnels_between_the_same_two_ids_cannot_have_different_given_keys():
    tunnels = [dict(t, own_ike_sa=False) for t in copy.deepcopy(TUNNELS)] + [{
        'name': 'vpn1-vpn3-voice', 'left': 'vpn1', 'right': 'vpn3', 'auth': 'psk', 'own_ike_sa': False,
        'psk': 'A-different-key-for-voice-0123456789', 'left_subnets': '172.16.2.0/24',
        'right_subnets': '10.0.4.0/24'}]
    with pytest.raises(ModelError) as caught:
        resolve(tunnels, 'vpn1', HOSTVARS)
    assert caught.value.problems[0][:2] == ('vpn1-vpn3-voice', 'psk')
    assert 'one PSK per pair of IDs' in caught.value.problems[0][2]


def test_with_an_ike_sa_per_tunnel_each_psk_tunnel_has_its_own_key():
    """The default: IDs per tunnel, so each PSK tunnel gets its own generated key."""
    from ansible_collections.sitevpn.ipsec.plugins.filter.psk_owned_by import psk_owned_by
    tunnels = copy.deepcopy(TUNNELS) + [{
        'name': 'vpn1-vpn3-voice', 'left': 'vpn1', 'right': 'vpn3', 'auth': 'psk',
        'left_subnets': '172.16.2.0/24', 'right_subnets': '10.0.4.0/24'}]
    owned = psk_owned_by(resolve(tunnels, 'vpn1', HOSTVARS, require_keys=False), 'vpn1')
    assert sorted(t['name'] for t in owned) == ['vpn1-vpn3', 'vpn1-vpn3-voice']


def test_resolved_tunnels_do_not_share_state_with_each_other():
    """Each host gets its own copy: filling vpn1's view must not change vpn2's."""
    on_vpn1 = resolve(TUNNELS, 'vpn1', HOSTVARS)[0]
    on_vpn1['left']['pubkey'] = 'changed'
    assert resolve(TUNNELS, 'vpn2', HOSTVARS)[0]['left']['pubkey'] == '0sAwEAAVPN1'


def test_filter_turns_model_errors_into_filter_errors():
    """In a play the filter fails with the readable message (tunnel, field) of every problem."""
    with pytest.raises(AnsibleFilterError) as caught:
        host_tunnels([dict(TUNNELS[0], auto='always')], 'vpn1', HOSTVARS)
    assert "tunnel net-to-net, field auto: must be one of start, add, ondemand, not 'always'" in str(caught.value)


def test_filter_reads_the_hosts_allow_weak_crypto():
    """sitevpn_allow_weak_crypto of the host lets a weak proposal through the filter."""
    weak = [dict(TUNNELS[0], esp='aes128-sha1')]
    with pytest.raises(AnsibleFilterError):
        host_tunnels(weak, 'vpn1', HOSTVARS)
    hv = copy.deepcopy(HOSTVARS)
    hv['vpn1']['sitevpn_allow_weak_crypto'] = True
    assert host_tunnels(weak, 'vpn1', hv)[0]['esp'] == 'aes128-sha1'


def test_allow_weak_crypto_false_as_a_string_does_not_allow_weak():
    """`-e sitevpn_allow_weak_crypto=false` arrives as the string "false": weak crypto must stay refused."""
    hv = copy.deepcopy(HOSTVARS)
    hv['vpn1']['sitevpn_allow_weak_crypto'] = 'false'
    with pytest.raises(AnsibleFilterError):
        host_tunnels([dict(TUNNELS[0], esp='aes128-sha1')], 'vpn1', hv)


def test_filter_plugins_are_registered():
    """The FilterModule classes expose the names used in the roles."""
    assert host_tunnels_mod.FilterModule().filters() == {'host_tunnels': host_tunnels}
    assert host_probes_mod.FilterModule().filters() == {'host_probes': host_probes}
    assert proof_mod.FilterModule().filters() == {'proof': proof}


# --- host_probes --------------------------------------------------------------------------------

def test_probes_only_on_the_initiating_end():
    """The left end initiates, so vpn1 pings for both its tunnels; vpn2 and vpn3 ping nothing."""
    assert host_probes(TUNNELS, 'vpn1', HOSTVARS) == [
        {'tunnel': 'net-to-net', 'from': 'lan1', 'address': '10.0.0.105', 'size': 1410},
        {'tunnel': 'vpn1-vpn3', 'from': 'lan1', 'address': '10.0.3.7', 'size': 1410},
    ]
    assert host_probes(TUNNELS, 'vpn2', HOSTVARS) == []
    assert host_probes(TUNNELS, 'vpn3', HOSTVARS) == []


def test_probe_moves_with_the_initiator():
    """initiator: right makes vpn2 the end that proves the tunnel."""
    tunnels = [dict(TUNNELS[0], initiator='right', probe={'from': 'lan2', 'to': 'lan1'})]
    assert host_probes(tunnels, 'vpn1', HOSTVARS) == []
    assert host_probes(tunnels, 'vpn2', HOSTVARS) == [
        {'tunnel': 'net-to-net', 'from': 'lan2', 'address': '172.16.1.100', 'size': 1410}]


def test_probe_address_prefers_sitevpn_probe_address():
    """lan1 is reached by Ansible on 192.168.122.11, but its LAN address is sitevpn_probe_address."""
    tunnels = [dict(TUNNELS[0], initiator='right', probe={'from': 'lan2', 'to': 'lan1'})]
    assert host_probes(tunnels, 'vpn2', HOSTVARS)[0]['address'] == '172.16.1.100'


def test_a_probe_knows_the_size_of_a_ping_as_big_as_its_tunnels_mtu():
    """1438 bytes fit a 1500-byte WAN with the default ESP (AES-GCM, NAT-T counted): 1410 bytes of ICMP payload
    over IPv4, 1390 over IPv6; a tunnel's own mtu wins."""
    tunnels = [dict(TUNNELS[0], probe={'from': 'lan1', 'to': '10.0.0.105'})]
    assert host_probes(tunnels, 'vpn1', HOSTVARS)[0]['size'] == 1438 - 28
    assert host_probes([dict(tunnels[0], mtu=1300)], 'vpn1', HOSTVARS)[0]['size'] == 1300 - 28
    six = dict(tunnels[0], left_subnets='2001:db8:1::/64', right_subnets='2001:db8:2::/64',
               probe={'from': 'lan1', 'to': '2001:db8:2::105'})
    assert host_probes([six], 'vpn1', HOSTVARS)[0]['size'] == 1438 - 48


def test_probe_to_may_be_a_literal_address():
    """The seed's Windows server 10.0.0.105 is not in the inventory: give its address."""
    tunnels = [dict(TUNNELS[0], probe={'from': 'lan1', 'to': '10.0.0.105'})]
    assert host_probes(tunnels, 'vpn1', HOSTVARS) == [{'tunnel': 'net-to-net', 'from': 'lan1', 'address': '10.0.0.105', 'size': 1410}]


def test_probe_to_unknown_name_fails_with_tunnel_and_field():
    """A `to` that is neither an address nor a host of the inventory is an error naming probe.to."""
    tunnels = [dict(TUNNELS[0], probe={'from': 'lan1', 'to': 'winserver'})]
    with pytest.raises(AnsibleFilterError, match="tunnel net-to-net, field probe.to: 'winserver' is neither"):
        host_probes(tunnels, 'vpn1', HOSTVARS)


def test_absent_tunnels_and_tunnels_without_probe_are_not_probed():
    """Only present tunnels with a probe are pinged."""
    tunnels = [dict(TUNNELS[0], state='absent'), TUNNELS[2]]
    assert host_probes(tunnels, 'vpn1', HOSTVARS) == []
    assert host_probes(tunnels, 'vpn2', HOSTVARS) == []


# --- proof ---------------------------------------------------------------------------------------

PROBES = [{'tunnel': 'net-to-net', 'from': 'lan1', 'address': '10.0.0.105', 'size': 1410}]


def ping(stdout, host='lan1', rc=0):
    """One result of the ping task (looped over probes grouped by `from`)."""
    return {'item': [host, PROBES], 'stdout': stdout, 'rc': rc}


def before(in_bytes, out_bytes):
    return {'net-to-net': {'child_sas': [{'serial': 2, 'in_bytes': in_bytes, 'out_bytes': out_bytes}]}}


def after(in_bytes, out_bytes, name='net-to-net'):
    return [{'serial': 2, 'name': name, 'in_bytes': in_bytes, 'out_bytes': out_bytes}]


def test_answered_and_counters_rose_is_proof():
    """Pings answered and the SA's bytes rose: the traffic crossed the tunnel encrypted."""
    result = proof(PROBES, [ping('reached 10.0.0.105\n')], before(84, 84), after(336, 336))
    assert result['failures'] == []
    assert result['summary'] == ['tunnel net-to-net: lan1 -> 10.0.0.105 answered, ESP bytes 168 -> 672']
    assert result['tunnels'] == {'net-to-net': {'ping': True, 'bytes_before': 168, 'bytes_after': 672}}
    assert result['failed_tunnels'] == []


def test_lost_ping_is_a_failure_naming_the_tunnel():
    """A LOST line from the ping loop fails the tunnel it probes, with what to check."""
    result = proof(PROBES, [ping('LOST 10.0.0.105\n')], before(84, 84), after(84, 84))
    assert len(result['failures']) == 1
    assert result['failures'][0].startswith('tunnel net-to-net: lan1 could not ping 10.0.0.105 across it')
    assert result['tunnels']['net-to-net']['ping'] is False
    assert result['failed_tunnels'] == ['net-to-net']     # what the tunnel role rolls back


def test_answered_but_counters_equal_means_in_clear():
    """The ping was answered but the SA saw no bytes: it went around the tunnel, in clear."""
    result = proof(PROBES, [ping('reached 10.0.0.105\n')], before(84, 84), after(84, 84))
    assert result['failures'] == ['tunnel net-to-net: lan1 reached 10.0.0.105 but the SA counters did not rise '
                                  '(168 -> 168 bytes): the traffic went around the tunnel, in clear']
    assert result['failed_tunnels'] == ['net-to-net']


def test_counters_of_sub_connections_are_summed():
    """Several subnets: pluto names the SAs NAME/1x1 ...; they count for the tunnel (base_name)."""
    sas = [{'name': 'net-to-net/1x1', 'base_name': 'net-to-net', 'in_bytes': 100, 'out_bytes': 100},
           {'name': 'net-to-net/1x2', 'base_name': 'net-to-net', 'in_bytes': 0, 'out_bytes': 0},
           {'name': 'other', 'in_bytes': 9999, 'out_bytes': 9999}]
    result = proof(PROBES, [ping('reached 10.0.0.105\n')], {}, sas)
    assert result['tunnels']['net-to-net']['bytes_after'] == 200
    assert result['failures'] == []


def raw_trafficstatus(stdout, rc=0):
    """What the tunnel role registers: ``ipsec trafficstatus`` run by ansible.builtin.raw."""
    return {'rc': rc, 'stdout': stdout, 'stdout_lines': stdout.splitlines(), 'changed': False}


def test_counters_from_raw_trafficstatus_are_parsed_on_the_controller():
    """The role reads the counters with raw (no Python in the guest); the filter parses the text,
    4.x (006 prefix) and 5.x lines alike, and the CRLF a terminal adds."""
    text = ("006 #2: \"net-to-net\", type=ESP, add_time=1764945600, inBytes=336, outBytes=336, id='@vpn2'\r\n"
            "#4: \"other\", type=ESP, add_time=1764945600, inBytes=9999, outBytes=9999, maxBytes=2^63B, id='@vpn3'\r\n")
    result = proof(PROBES, [ping('reached 10.0.0.105\n')], before(84, 84), raw_trafficstatus(text))
    assert result['tunnels'] == {'net-to-net': {'ping': True, 'bytes_before': 168, 'bytes_after': 672}}
    assert result['failures'] == []


def test_pluto_not_answering_the_counter_read_fails_the_proof():
    """The raw read does not fail the task; its error text has no SA, so the tunnel is not proven."""
    result = proof(PROBES, [ping('reached 10.0.0.105\n')], before(84, 84),
                   raw_trafficstatus('connect(pluto_ctl) failed: No such file or directory\n', rc=1))
    assert result['failed_tunnels'] == ['net-to-net']
    assert '(168 -> 0 bytes)' in result['failures'][0]


def test_a_status_info_result_is_still_taken_whole_or_by_its_sas():
    result = proof(PROBES, [ping('reached 10.0.0.105\n')], before(84, 84), {'sas': after(336, 336)})
    assert result['failures'] == []


def test_failed_probe_host_fails_its_tunnels():
    """If the ping task itself failed on lan1 (rc != 0 or unreachable), its tunnels are not proven."""
    result = proof(PROBES, [ping('', rc=1)], before(0, 0), after(84, 84))
    assert result['tunnels']['net-to-net']['ping'] is False
    assert len(result['failures']) == 1


def test_failure_of_another_probe_host_with_a_longer_name_is_not_ours():
    """lan10 failing says nothing about lan1's tunnel: it must not be failed (nor rolled back)."""
    probes = PROBES + [{'tunnel': 'vpn1-vpn3', 'from': 'lan10', 'address': '10.0.3.7'}]
    pings = [ping('reached 10.0.0.105\n'), {'item': ['lan10', probes[1:]], 'stdout': '', 'unreachable': True}]
    result = proof(probes, pings, before(84, 84), after(336, 336))
    assert result['tunnels']['net-to-net']['ping'] is True
    assert [f for f in result['failures'] if f.startswith('tunnel net-to-net')] == []
    assert result['failed_tunnels'] == ['vpn1-vpn3']


# --- tunnel_failures: what the tunnel role rolls back ---------------------------------------------

def test_a_load_failure_blames_the_tunnel_it_names():
    from ansible_collections.sitevpn.ipsec.plugins.filter.tunnel_failures import tunnel_failures
    loaded = {'failure': {'msg': 'tunnel voice: Libreswan rejects it', 'tunnel': 'voice'},
              'changed_tunnels': ['voice', 'backup']}
    assert tunnel_failures([loaded, {}, {}], 'vpn1') == [
        {'tunnel': 'voice', 'stage': 'load', 'message': 'vpn1: tunnel voice: Libreswan rejects it'}]


def test_a_load_failure_without_a_tunnel_blames_every_changed_tunnel():
    from ansible_collections.sitevpn.ipsec.plugins.filter.tunnel_failures import tunnel_failures
    loaded = {'failure': {'msg': 'pluto is not running'}, 'changed_tunnels': ['voice', 'backup']}
    assert [f['tunnel'] for f in tunnel_failures([loaded, {}, {}], 'vpn1')] == ['voice', 'backup']


def test_establish_and_proof_failures_are_listed_per_tunnel_and_success_is_empty():
    from ansible_collections.sitevpn.ipsec.plugins.filter.tunnel_failures import tunnel_failures
    established = {'failure': {'msg': '...'}, 'failed_tunnels': {
        'ghost': {'kind': 'timeout', 'line': 'no Child SA within 10 s', 'remedy': 'check UDP 500/4500'}}}
    proof_result = {'failed_tunnels': ['net-to-net'],
                    'failures': ['tunnel net-to-net: server1 could not ping 10.0.0.105 across it']}
    found = tunnel_failures([{}, established, proof_result], 'vpn1')
    assert [(f['tunnel'], f['stage']) for f in found] == [('ghost', 'establish'), ('net-to-net', 'proof')]
    assert 'did not come up: timeout' in found[0]['message']
    assert tunnel_failures([{'changed_tunnels': ['x']}, {'tunnels': {}}, {'failed_tunnels': []}], 'vpn1') == []
