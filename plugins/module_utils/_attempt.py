# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private: why one attempt to bring a connection up failed, from what pluto said about it.

``ipsec up`` shows only what pluto tells whack, and nothing once ``timeout`` has stopped it; pluto's log
(its own logfile, else the journal of ipsec.service, else syslog) holds the whole exchange. Both carry
the same messages, so one reader serves the ``conns``/``tunnel`` modules right after a failed ``up``
and ``diagnose_info`` for a tunnel that is down. The causes told apart here are the ones a line-by-line
match cannot tell: a peer that answers IKE_SA_INIT with INVALID_KE_PAYLOAD again and again (it cannot do
the DH group), a peer that answered IKE_SA_INIT but never IKE_AUTH (the path eats the big message), and a
peer that has an IKE SA with us but leaves the request for a Child SA on it unanswered.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

#: Libreswan's names of the key exchange methods (DH groups) and their IANA numbers (RFC 7296 and
#: successors), for remedies that an administrator of another implementation can act on.
DH_GROUPS = {
    "MODP768": 1, "MODP1024": 2, "MODP1536": 5, "MODP2048": 14, "MODP3072": 15, "MODP4096": 16,
    "MODP6144": 17, "MODP8192": 18, "DH19": 19, "DH20": 20, "DH21": 21, "DH31": 31, "CURVE25519": 31,
    "ECP_256": 19, "ECP_384": 20, "ECP_521": 21, "DH22": 22, "DH23": 23, "DH24": 24,
}

# 5.x: 'received unauthenticated INVALID_KE_PAYLOAD response to Key Exchange Method (DH) DH19; resending
# with suggested MODP2048'; 4.x: '... INVALID_KE_PAYLOAD response to DH DH19; resending with suggested DH
# MODP2048' (the issue's foreign peer).
INVALID_KE_RE = re.compile(
    r"INVALID_KE_PAYLOAD response to (?:Key Exchange Method \(DH\)|DH) (?P<sent>\w+);"
    r" resending with suggested (?:DH )?(?P<suggested>\w+)", re.I)

# IKE_AUTH went out (the peer had answered IKE_SA_INIT): 5.x 'sent IKE_AUTH request to A:UDP/500 with
# shared-key-mac and FQDN '@west'; Child SA #2 ...', 4.x 'sent IKE_AUTH request {...}' and
# 'STATE_PARENT_I2: sent v2I2, expected v2R2'.
# ('deleting IKE SA (sent IKE_AUTH request)' names the state being deleted, not a request going out)
IKE_AUTH_SENT_RE = re.compile(r"(?<!\()\bsent IKE_AUTH request\b|\bsent v2I2\b|\binitiating IKE_AUTH\b", re.I)
# the peer answered IKE_SA_INIT with its KE (5.x 'processed IKE_SA_INIT response from ...', 4.x 'STATE_PARENT_I1:
# received v2R1' ...)
IKE_SA_INIT_ANSWERED_RE = re.compile(r"\bprocessed IKE_SA_INIT response\b|\binitiating IKE_AUTH\b|\bsent v2I2\b"
                                     r"|(?<!\()\bsent IKE_AUTH request\b", re.I)
# ... and something came back for it
IKE_AUTH_ANSWERED_RE = re.compile(
    r"\bIKE_AUTH response\b|\bauthentication request rejected\b|\bestablished IKE SA\b|\bv2R2\b.*\breceived\b"
    r"|\bAUTHENTICATION_FAILED\b|\bIKE SA established\b", re.I)
# still waiting for an answer: retransmits and the final timeout, with the state that was waiting
RETRANSMIT_RE = re.compile(r"\bretransmission; will wait\b|\bretransmitting request\b|\btimeout exceeded\b"
                           r"|\bretransmit so timing out\b"
                           r"|\bNo response \(or no acceptable response\)", re.I)
# a request for one more Child SA on an IKE SA that is up: 4.10 'sent CREATE_CHILD_SA request for new IPsec SA',
# 5.x 'sent CREATE_CHILD_SA request to create Child SA using IKE SA #1 {...}'
CHILD_REQUEST_SENT_RE = re.compile(r"\bsent CREATE_CHILD_SA request\b", re.I)
# a Child SA came of it (or the peer said why not)
CHILD_ANSWERED_RE = re.compile(r"\bestablished Child SA\b|\bCREATE_CHILD_SA response\b|\bIPsec SA established\b",
                               re.I)
# the state of an IKE SA that is up and waits for the answer to its request: 4.10 STATE_V2_ESTABLISHED_IKE_SA,
# 5.x ESTABLISHED_IKE_SA
WAITING_ON_IKE_SA_RE = re.compile(r"\b(?:STATE_V2_)?ESTABLISHED_IKE_SA\b")
# the state names that wait for the IKE_AUTH answer: 5.x IKE_AUTH_I, 4.10 STATE_V2_PARENT_I2, older PARENT_I2
WAITING_FOR_IKE_AUTH_RE = re.compile(r"\b(?:IKE_AUTH_I|(?:STATE_(?:V2_)?)?PARENT_I2)\b")
# our ID as sent in IKE_AUTH ('... with shared-key-mac and FQDN '@west'; Child SA ...')
OUR_ID_RE = re.compile(r"\bsent IKE_AUTH request\b.*?\band (?:ID_)?[A-Z0-9_]+ '(?P<id>[^']*)'")
# the ID the peer sent, where pluto quotes it
PEER_ID_RE = re.compile(
    r"(?:\bPeer ID|\bpeer ID is \w+:|\bpeer ID \w+|\bauthenticated peer using [^']*?\b[A-Z0-9_]+)\s*'(?P<id>[^']+)'",
    re.I)

#: Where pluto logs when neither ipsec.conf nor the journal say (Debian, RHEL, old syslog setups).
LOG_FILES = ("/var/log/pluto.log", "/var/log/auth.log", "/var/log/secure", "/var/log/messages")

CONN_RE = re.compile(r'"(?P<conn>[^"]+)"(?:\[[^\]]*\])*(?: [^\s#:"]+)?(?: #(?P<serial>\d+))?:')


def conn_base(name):
    """'net-to-net/1x0' -> 'net-to-net' (the sub-connections of a conn with several subnets)."""
    return re.sub(r"/\d+x\d+$", "", name)


def group_number(name):
    """IANA number of a DH group as Libreswan names it ('MODP2048' -> 14), or None."""
    return DH_GROUPS.get((name or "").upper())


def messages_of(lines, name):
    """The messages about conn *name* (and its sub-connections) in *lines* - pluto log lines or whack output
    alike - from the conn's quoted name on."""
    result = []
    for raw in lines or []:
        line = raw.rstrip()
        match = CONN_RE.search(line)
        if match:
            if conn_base(match.group("conn")) == name:
                result.append(line[match.start():])
    return result


# the start of a negotiation: what follows it is one attempt
_INITIATING_RE = re.compile(r"\binitiating (?:IKEv\d|Main Mode|Aggressive Mode|v2 parent|IKEv2 connection)", re.I)


def last_attempt(messages):
    """The messages from the last 'initiating ...' on (all of them when there is none)."""
    for index in range(len(messages) - 1, -1, -1):
        if _INITIATING_RE.search(messages[index]):
            return messages[index:]
    return messages


def analyse(lines, name):
    """What the messages about conn *name* show, as ``{kind, line, facts}``, or None.

    Kinds: ``dh_group`` (INVALID_KE_PAYLOAD that the exchange never got over; the group the peer asks
    for in facts), ``no_ike_auth`` (IKE_SA_INIT answered, IKE_AUTH retransmitted or timed out),
    ``child_unanswered`` (an IKE SA with the peer is up, the CREATE_CHILD_SA request on it retransmitted
    without an answer: seen when both ends bring the tunnel up in the same second); None
    when the messages show neither. facts carry ``our_id`` and ``peer_id`` where pluto named them (5.x
    does, 4.10 does not), for the remedies of the line kinds (wrong key, ...).
    """
    messages = last_attempt(messages_of(lines, name))
    facts = {"our_id": None, "peer_id": None}
    invalid_ke = []
    auth_sent = auth_answered = False
    waiting_auth = []
    retransmits = []
    child_sent = child_answered = False
    waiting_child = []
    for message in messages:
        our = OUR_ID_RE.search(message)
        if our:
            facts["our_id"] = our.group("id")
        peer = PEER_ID_RE.search(message)
        if peer:
            facts["peer_id"] = peer.group("id")
        ke = INVALID_KE_RE.search(message)
        if ke:
            invalid_ke.append((message, ke.group("sent"), ke.group("suggested")))
            continue
        if IKE_SA_INIT_ANSWERED_RE.search(message):
            invalid_ke = []     # the peer took the group it asked for: the exchange went on
        if IKE_AUTH_SENT_RE.search(message):
            auth_sent, auth_answered = True, False
        elif IKE_AUTH_ANSWERED_RE.search(message):
            auth_answered = True
        if CHILD_REQUEST_SENT_RE.search(message):
            child_sent, child_answered, waiting_child = True, False, []
        elif CHILD_ANSWERED_RE.search(message):
            child_answered = True
        if RETRANSMIT_RE.search(message):
            retransmits.append(message)
            if WAITING_FOR_IKE_AUTH_RE.search(message):
                waiting_auth.append(message)
            elif WAITING_ON_IKE_SA_RE.search(message):
                waiting_child.append(message)
    if invalid_ke:
        line, sent, suggested = invalid_ke[-1]
        facts.update(sent=sent, suggested=suggested, number=group_number(suggested), count=len(invalid_ke),
                     loop=sum(1 for _l, _s, again in invalid_ke if again == suggested) > 1)
        return {"kind": "dh_group", "line": line, "facts": facts}
    if auth_sent and not auth_answered and (waiting_auth or retransmits):
        facts.update(retransmits=len(waiting_auth or retransmits))
        return {"kind": "no_ike_auth", "line": (waiting_auth or retransmits)[-1], "facts": facts}
    if child_sent and not child_answered and waiting_child:
        facts.update(retransmits=len(waiting_child))
        return {"kind": "child_unanswered", "line": waiting_child[-1], "facts": facts}
    if any(facts.values()):
        return {"kind": None, "line": None, "facts": facts}
    return None


def read_log(runner, read, since, tail_bytes=2 * 1024 * 1024):
    """(source, lines) of pluto's log: its own logfile when ipsec.conf sets one, else the journal of
    ipsec.service since *since* (a ``journalctl --since`` value; empty is a valid answer: a quiet pluto),
    else the syslog files.

    *runner* is an ``IpsecRunner`` (its read-only commands are recorded), *read(path, tail)* returns a
    file's text or None.
    """
    conf = read("/etc/ipsec.conf") or ""
    match = re.search(r"^\s*logfile\s*=\s*(\S+)", conf, re.M)
    if match:
        text = read(match.group(1), tail_bytes)
        if text is not None:
            return match.group(1), text.splitlines()
    journal = runner.optional_command("journalctl", ["-u", "ipsec", "--since", since, "--no-pager", "-q",
                                                     "-o", "short-iso", "-n", "20000"])
    if journal is not None and journal.rc == 0:
        lines = [line for line in journal.out.splitlines() if line.strip() and not line.startswith("-- ")]
        return "journalctl -u ipsec --since %s" % since, lines
    for path in LOG_FILES:
        text = read(path, tail_bytes)
        if text is None:
            continue
        lines = text.splitlines()
        if path != "/var/log/pluto.log":
            lines = [line for line in lines if "pluto[" in line or "pluto:" in line]
        if lines:
            return path, lines
    return None, []
