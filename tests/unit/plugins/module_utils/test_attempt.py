# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Why an attempt to bring a tunnel up failed, read from everything pluto said about it.

`ipsec up` may print only retransmissions before `timeout` stops it; the whole exchange is in pluto's
log. These tests feed the reader real lines - the Libreswan test suite's transcripts (5.x/6.x) from
../shared/fixtures and lines of Libreswan 4.10 captured in the lab - and check the cause it names and
the remedy a user then reads.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os

import pytest

from ansible_collections.sitevpn.ipsec.plugins.module_utils import _attempt
from ansible_collections.sitevpn.ipsec.plugins.module_utils._remedy import remedy_for, up_error

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.normpath(os.path.join(HERE, '..', '..', '..', '..'))
FIXTURES_DIR = os.path.join(os.path.dirname(REPO_ROOT), 'shared', 'fixtures', 'libreswan-testsuite')
needs_fixtures = pytest.mark.skipif(
    not os.path.isdir(FIXTURES_DIR), reason='upstream transcripts not found at %s' % FIXTURES_DIR)

TUNNEL = {"name": "to-ss", "local": "left", "ike": "aes_gcm256-sha2;dh19",
          "left": {"address": "198.51.100.10", "id": "@vpn1", "subnets": ["172.16.1.0/24"]},
          "right": {"address": "203.0.113.10", "id": "@ss", "subnets": ["10.0.0.0/24"]}}


def fixture_lines(name):
    with open(os.path.join(FIXTURES_DIR, 'up', name), encoding='utf-8', errors='replace') as handle:
        return handle.read().splitlines()[1:]


# The foreign peer, as Libreswan 4.10 logged it in the lab (tests/lab/test_50_interop.py, a responder
# that asks for DH19 whatever it gets: 969 of these in 12 s).
JOURNAL_410_INVALID_KE_LOOP = ['2026-12-02T18:29:0%d+0000 vpn1 pluto[591]: "to-ss" #1: %s' % (i, text) for i, text in (
    (0, "initiating IKEv2 connection"),
    (0, "sent IKE_SA_INIT request to 203.0.113.10:500"),
    (1, "Received unauthenticated INVALID_KE_PAYLOAD response to DH DH19; resending with suggested DH DH19"),
    (1, "Received unauthenticated INVALID_KE_PAYLOAD response to DH DH19; resending with suggested DH DH19"),
    (2, "Received unauthenticated INVALID_KE_PAYLOAD response to DH DH19; resending with suggested DH DH19"),
)]

# IKE_AUTH dropped by a router on the way (the lab's nft rule on exchange type 35), Libreswan 4.10's journal
JOURNAL_410_IKE_AUTH_DROPPED = ['2026-12-02T18:33:%s+0000 vpn1 pluto[591]: "to-ss" #5: %s' % (s, text) for s, text in (
    ("47", "initiating IKEv2 connection"),
    ("47", "sent IKE_SA_INIT request to 203.0.113.10:500"),
    ("47", "sent IKE_AUTH request {cipher=AES_GCM_16_256 integ=n/a prf=HMAC_SHA2_256 group=DH19}"),
    ("47", "STATE_V2_PARENT_I2: retransmission; will wait 0.5 seconds for response"),
    ("48", "STATE_V2_PARENT_I2: retransmission; will wait 1 seconds for response"),
    ("49", "STATE_V2_PARENT_I2: retransmission; will wait 2 seconds for response"),
    ("51", "STATE_V2_PARENT_I2: retransmission; will wait 4 seconds for response"),
    ("55", "STATE_V2_PARENT_I2: retransmission; will wait 8 seconds for response"),
)]

# Both ends changed net-to-net (one subnet -> two) in the same run and brought it up at once: vpn2 set up
# IKE SA #77 and the Child SA of /1x0, vpn1 asked for /2x0's on #77 and vpn2 never answered (Libreswan 4.10,
# lab CI log of 2026-12-04, test_60).
JOURNAL_410_CHILD_UNANSWERED = ['2026-12-04T17:21:%s+0000 vpn1 pluto[603]: "net-to-net/%s" #%s: %s' % line for line in (
    ("10", "2x0", "77", "responder established IKE SA; authenticated peer '3072-bit RSASSA-PSS with SHA2_512' "
                        "digital signature using preloaded certificate '@net-to-net.vpn2'"),
    ("10", "1x0", "78", "responder established Child SA using #77; IPsec tunnel [172.16.1.0-172.16.1.255:0-65535 0] "
                        "-> [10.0.0.0-10.0.0.255:0-65535 0] {ESP/ESN=>0x8bee4829 <0x2a93e3e0 xfrm=AES_GCM_16_256-NONE "
                        "DPD=active}"),
    ("11", "2x0", "79", "initiating Child SA using IKE SA #77"),
    ("11", "1x0", "80", "initiating Child SA using IKE SA #77"),
    ("11", "2x0", "79", "sent CREATE_CHILD_SA request for new IPsec SA"),
    ("11", "2x0", "77", "STATE_V2_ESTABLISHED_IKE_SA: retransmission; will wait 0.5 seconds for response"),
    ("12", "2x0", "77", "STATE_V2_ESTABLISHED_IKE_SA: retransmission; will wait 1 seconds for response"),
    ("13", "2x0", "77", "STATE_V2_ESTABLISHED_IKE_SA: retransmission; will wait 2 seconds for response"),
    ("15", "2x0", "77", "STATE_V2_ESTABLISHED_IKE_SA: retransmission; will wait 4 seconds for response"),
)]


def test_a_peer_asking_again_and_again_for_the_group_it_was_sent_cannot_do_that_group():
    attempt = _attempt.analyse(JOURNAL_410_INVALID_KE_LOOP, "to-ss")
    assert attempt["kind"] == "dh_group"
    assert attempt["facts"]["suggested"] == "DH19" and attempt["facts"]["number"] == 19
    assert attempt["facts"]["count"] == 3 and attempt["facts"]["loop"]
    remedy = remedy_for("dh_group", TUNNEL, attempt["facts"])
    assert "3 times" in remedy and "DH19 (DH group 19)" in remedy and "it cannot do that group" in remedy
    assert "ike=aes_gcm256-sha2;dh19" in remedy and "`ike:" in remedy


def test_the_attempts_cause_replaces_the_timeout_that_ipsec_up_alone_would_report():
    """The issue's run said 'No answer from the peer' although the peer answered every packet."""
    parsed = {"established": False, "error": None, "lines": []}
    error = up_error(parsed, 124, 30, _attempt.analyse(JOURNAL_410_INVALID_KE_LOOP, "to-ss"))
    assert error["kind"] == "dh_group" and "INVALID_KE_PAYLOAD" in error["line"]
    assert up_error(parsed, 124, 30, None)["kind"] == "timeout"


@needs_fixtures
def test_one_invalid_ke_that_the_exchange_got_over_is_no_cause():
    """RFC 7296 1.2: the initiator retries with the group the responder asks for - that is normal."""
    lines = fixture_lines('ikev2-invalid-ke-02-wrong-modp--6e17032684.txt')
    assert any("INVALID_KE_PAYLOAD" in line for line in lines)
    attempt = _attempt.analyse(lines, "westnet-eastnet-ipv4-psk-ikev2")
    assert attempt["kind"] is None
    assert attempt["facts"] == {"our_id": "@west", "peer_id": "@east"}


def test_ike_auth_retransmitted_by_libreswan_4_is_a_path_problem_not_a_silent_peer():
    attempt = _attempt.analyse(JOURNAL_410_IKE_AUTH_DROPPED, "to-ss")
    assert attempt["kind"] == "no_ike_auth" and attempt["facts"]["retransmits"] == 5
    assert "STATE_V2_PARENT_I2: retransmission" in attempt["line"]


def test_a_child_sa_request_unanswered_on_a_live_ike_sa_is_not_called_no_answer_from_the_peer():
    """The peer answers this IKE SA (it set it up a second ago) but not the request for one more Child SA."""
    attempt = _attempt.analyse(JOURNAL_410_CHILD_UNANSWERED, "net-to-net")
    assert attempt["kind"] == "child_unanswered" and attempt["facts"]["retransmits"] == 4
    assert "STATE_V2_ESTABLISHED_IKE_SA: retransmission" in attempt["line"]
    error = up_error({"established": False, "error": None, "lines": []}, 124, 30, attempt)
    assert error["kind"] == "child_unanswered"
    remedy = remedy_for("child_unanswered", TUNNEL, dict(attempt["facts"], retried=True))
    assert "has an IKE SA with this gateway" in remedy and "4 retransmits" in remedy
    assert "again on a fresh IKE SA" in remedy and "No answer" not in remedy


def test_a_child_sa_request_that_got_its_child_sa_is_no_cause():
    answered = JOURNAL_410_CHILD_UNANSWERED + [
        '2026-12-04T17:21:16+0000 vpn1 pluto[603]: "net-to-net/2x0" #79: initiator established Child SA using #77; '
        'IPsec tunnel [172.16.2.0-172.16.2.255:0-65535 0] -> [10.0.0.0-10.0.0.255:0-65535 0]']
    assert _attempt.analyse(answered, "net-to-net") is None


@needs_fixtures
def test_ike_auth_sent_and_never_answered_is_not_called_no_answer_from_the_peer():
    lines = fixture_lines('ikev2-07-invalid-xchg--8f64df6644.txt')
    attempt = _attempt.analyse(lines, "westnet-eastnet-ipv4-psk-ikev2")
    assert attempt["kind"] == "no_ike_auth"
    remedy = remedy_for("no_ike_auth", TUNNEL, attempt["facts"])
    assert "answered IKE_SA_INIT but never IKE_AUTH" in remedy and "fragmentation" in remedy and "4500" in remedy


@needs_fixtures
def test_a_rejected_authentication_names_the_id_this_end_sent():
    lines = fixture_lines('cve-2026-50722-truncate-signed-hash-ikev2--5f42378c4f.txt')
    attempt = _attempt.analyse(lines, "westnet-eastnet")
    # the peer answered IKE_AUTH (with AUTHENTICATION_FAILED): not a path problem
    assert attempt["kind"] is None and attempt["facts"]["our_id"] == "@west"
    assert "In this attempt this end sent ID '@west'." in remedy_for("auth_failed", TUNNEL, attempt["facts"])
    # 4.10 does not log the ID it sends: it is the conn's own
    assert "In this attempt this end sent ID '@vpn1'." in remedy_for("auth_failed", TUNNEL, {})
    parsed = {"established": False, "error": {"kind": "auth_failed", "line": lines[5]}}
    error = up_error(parsed, 1, 30, attempt)
    assert error["kind"] == "auth_failed" and error["facts"]["our_id"] == "@west"


def test_only_the_last_attempt_of_the_tunnel_counts():
    earlier = ['"to-ss" #1: initiating IKEv2 connection'] + [
        '"to-ss" #1: received unauthenticated INVALID_KE_PAYLOAD response to DH DH19; resending with suggested DH DH19']
    now = ['"to-ss" #4: initiating IKEv2 connection', '"to-ss" #4: sent IKE_SA_INIT request',
           '"to-ss" #4: IKE_SA_INIT_I: 30 second timeout exceeded after 5 retransmits.  No response (or no '
           'acceptable response) to our first IKEv2 message']
    assert _attempt.analyse(earlier + now, "to-ss") is None
    assert _attempt.analyse(earlier, "to-ss")["kind"] == "dh_group"


def test_lines_of_other_tunnels_and_sub_connections():
    lines = ['"other" #1: received unauthenticated INVALID_KE_PAYLOAD response to DH DH19; resending with '
             'suggested DH MODP2048',
             '"to-ss/1x0" #2: sent IKE_AUTH request to 203.0.113.10:UDP/500 with shared-key-mac and FQDN \'@vpn1\'; '
             'Child SA #3']
    assert _attempt.messages_of(lines, "to-ss") == [lines[1]]
    assert _attempt.analyse(lines, "to-ss")["facts"]["our_id"] == "@vpn1"


@pytest.mark.parametrize("name, number", [("MODP2048", 14), ("modp3072", 15), ("DH19", 19), ("DH20", 20),
                                          ("DH31", 31), ("MODP1024", 2), ("DHX", None), (None, None)])
def test_dh_groups_by_their_iana_numbers(name, number):
    assert _attempt.group_number(name) == number


def test_the_log_is_pluto_s_own_file_when_ipsec_conf_names_one(tmp_path):
    files = {"/etc/ipsec.conf": "config setup\n    logfile=/var/log/pluto.log\n",
             "/var/log/pluto.log": '"a" #1: one\n"a" #1: two\n'}

    class NoRunner(object):
        def optional_command(self, program, args):
            raise AssertionError("the journal is not read when pluto has a logfile")

    source, lines = _attempt.read_log(NoRunner(), lambda path, tail=None: files.get(path), "@0")
    assert source == "/var/log/pluto.log" and lines == ['"a" #1: one', '"a" #1: two']


def test_the_log_is_the_journal_since_the_attempt_otherwise():
    calls = []

    class Result(object):
        rc, out = 0, "-- No entries --\n2026-12-02T10:00:00+00:00 vpn1 pluto[1]: \"a\" #1: x\n"

    class Runner(object):
        def optional_command(self, program, args):
            calls.append([program] + args)
            return Result()

    source, lines = _attempt.read_log(Runner(), lambda path, tail=None: None, "@1764669600")
    assert calls[0][:5] == ["journalctl", "-u", "ipsec", "--since", "@1764669600"]
    assert source == "journalctl -u ipsec --since @1764669600" and len(lines) == 1


def test_refused_selectors_of_a_route_based_tunnel_name_what_it_offers_and_the_eroute_it_may_collide_with():
    """A route-based tunnel offers 0.0.0.0/0, not its subnets; the hub of two route-based spokes on 4.10
    refused the second one with TS_UNACCEPTABLE ("cannot install eroute -- it is in use" in its log)."""
    routed = dict(TUNNEL, mode="route", interface_id=42)
    remedy = remedy_for("ts_unacceptable", routed, {})
    assert "(0.0.0.0/0 <-> 0.0.0.0/0)" in remedy
    assert "the peer needs a route-based conn too" in remedy and "cannot install eroute" in remedy
    assert "route-based" not in remedy_for("ts_unacceptable", TUNNEL, {})
