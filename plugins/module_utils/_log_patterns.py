# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private: the failure kinds of pluto's log lines, for the diagnose's reading of the journal.

Not a public API: names may change without notice.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.sitevpn.ipsec.plugins.module_utils import _attempt

#: NSS's verdict on a peer's certificate, as pluto logs it (4.10 and 5.2):
#: '"hq-vpn3" #2: NSS: ERROR: IPsec certificate CN=sitevpn CA invalid: SEC_ERROR_REVOKED_CERTIFICATE: Peer's
#: Certificate has been revoked.'
CERT_ERROR_RE = re.compile(r"\bNSS: ERROR: IPsec certificate .*? invalid: (?P<code>SEC_ERROR_\w+)")


#: Failure lines of pluto, most decisive first (a line gets the first kind that matches). The seed's
#: Openswan pair "max number of retransmissions (2) reached ... Possible authentication failure: no
#: acceptable response to our first encrypted message" is a wrong key, not a timeout.
LOG_PATTERNS = (
    # a certificate tunnel: the peer's certificate refused (revoked, expired, another CA), or its ID not in it
    ("cert_invalid", re.compile(CERT_ERROR_RE.pattern + r"|X509: CERT payload does not match connection ID"
                                r"|\bno certificate matched\b", re.I)),
    ("auth_failed", re.compile(
        r"AUTHENTICATION_FAILED|INVALID_(?:KEY|HASH|ID)_INFORMATION|\bauthentication failed\b"
        r"|Possible authentication failure|no acceptable response to our first encrypted message"
        r"|signature verification failed|computed hash does not match|\bno (?:PSK|RSA public key|public key)s? "
        r"(?:found|known)\b|\bcan't find the private key\b|\bunable to locate my private key\b", re.I)),
    ("no_proposal", re.compile(
        r"NO_PROPOSAL_CHOSEN|\bno acceptable\b.{0,80}?\b(?:proposal|transform|Oakley)s?\b|peer likes no proposal",
        re.I)),
    # the peer asks for another DH group (INVALID_KE_PAYLOAD): harmless once, a cause when it is all there is
    ("dh_group", _attempt.INVALID_KE_RE),
    ("ts_unacceptable", re.compile(r"TS_UNACCEPTABLE|\btraffic selectors?\b.{0,60}\b(?:unacceptable|mismatch)",
                                   re.I)),
    ("timeout", re.compile(
        r"\btimeout exceeded\b|\bmax(?:imum)? number of retransmissions\b"
        r"|No response \(or no acceptable response\)|\bretransmit so timing out\b", re.I)),
    # waiting for the answer to IKE_AUTH: the peer answered IKE_SA_INIT, so it is up and reachable
    ("no_ike_auth", re.compile(
        _attempt.WAITING_FOR_IKE_AUTH_RE.pattern + r".*(?:\bretransmission; will wait\b|\btimeout exceeded\b)", re.I)),
    # the initiator waiting for an answer ("retransmitting response" is the responder answering a
    # duplicate request: the peer retransmitted, nothing failed here)
    ("retransmit", re.compile(r"\bretransmission; will wait\b|\bretransmitting request\b", re.I)),
)
LOG_KINDS = tuple(kind for kind, _regex in LOG_PATTERNS)
