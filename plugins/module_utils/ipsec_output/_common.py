# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Helpers every ``ipsec`` output parser shares: line splitting, the never-raise safety net,
pluto log line parsing and failure classification (:func:`detect_error`)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import functools
import re
import sys


#: Error kinds reported by :func:`parse_auto_up`, most decisive first.  When several
#: failure lines are printed, the kind that comes first in this tuple wins: e.g. the
#: Openswan "max number of retransmissions ... Possible authentication failure" pair
#: is an authentication failure, and a NO_PROPOSAL_CHOSEN followed by the retransmit
#: timeout is a proposal mismatch.
ERROR_KINDS = ('not_loaded', 'no_connection', 'auth_failed', 'ts_unacceptable', 'config', 'no_proposal', 'timeout',
               'other')

_KIND_RANK = dict((kind, rank) for rank, kind in enumerate(ERROR_KINDS))


# ---------------------------------------------------------------------------
# Line handling shared by every parser
# ---------------------------------------------------------------------------

# 4.x whack prefixes each relayed line with a 3-digit status code and one space
# ("002 ", "000 " ...); a lone code ("000") is a blank status line once trailing
# blanks are stripped.  Exactly three digits followed by a space or the end: content
# such as '#2: "x"', '"x" #1:' or '192.0.2.1 ...' never matches.
_CODE_RE = re.compile(r'^(\d{3})(?: |$)')

# Terminal colour escapes (ipsec verify colours its verdicts on a terminal).
_ANSI_RE = re.compile(r'\x1b\[[0-9;?]*[A-Za-z]')


def _to_text(text):
    """Return *text* as a ``str``: ``None`` -> '', bytes decoded leniently, lists joined."""
    if text is None:
        return ''
    if isinstance(text, bytes):
        return text.decode('utf-8', 'replace')
    if isinstance(text, (list, tuple)):
        return '\n'.join(_to_text(item) for item in text)
    if not isinstance(text, str):
        return str(text)
    return text


def split_output(text):
    """Split command output into ``(code, line)`` pairs.

    *code* is the 3-digit 4.x status code as a string (``'004'``) or ``None``;
    *line* is the text without the code and without trailing blanks.  CRLF and lone
    CR line ends are accepted, ANSI colour escapes removed, and a final empty line
    produced by a trailing newline dropped.
    """
    text = _to_text(text).replace('\r\n', '\n').replace('\r', '\n')
    raw_lines = text.split('\n')
    if raw_lines and raw_lines[-1] == '':
        raw_lines.pop()
    result = []
    for raw in raw_lines:
        line = _ANSI_RE.sub('', raw).rstrip()
        code = None
        match = _CODE_RE.match(line)
        if match:
            code = match.group(1)
            line = line[match.end():]
        result.append((code, line))
    return result


def _strict():
    """The package's ``_STRICT``, read when a parser fails: set where the tests set it,
    ``ipsec_output._STRICT = True``, it takes effect in every submodule."""
    return bool(getattr(sys.modules.get(__package__ or ''), '_STRICT', False))


def _never_raise(default_factory):
    """Decorator: a parser bug returns ``default_factory(text)`` (+ ``parse_error``)."""
    def decorator(func):
        @functools.wraps(func)
        def wrapper(text=None, *args, **kwargs):
            try:
                return func(text, *args, **kwargs)
            except Exception as exc:  # pylint: disable=broad-except
                if _strict():
                    raise
                result = default_factory(text)
                if isinstance(result, dict):
                    result['parse_error'] = '%s: %s' % (type(exc).__name__, exc)
                return result
        return wrapper
    return decorator


def _safe_lines(text):
    """Lines for a fallback result; must not raise either."""
    try:
        return [line for _code, line in split_output(text)]
    except Exception:  # pylint: disable=broad-except
        return []


def _int_or_none(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


# A pluto log line as whack relays it:
#   "name" #2: message                    (4.x, 5.x, Openswan)
#   "name"[1] 192.1.2.23 #2: message      (instance of a template; peer address follows)
#   "name": message                        (connection-level, no state)
#   IMPAIR: "name" #2: message             (5.x log-level tag before the name)
# The peer address may be IPv6 (colons, never followed by a blank), so it is matched
# lazily up to " #N: " or ": ".
_PLUTO_LINE_RE = re.compile(
    r'^(?:(?P<tag>[A-Z][A-Z_]+(?: [A-Z][A-Z_]+)?): )?'
    r'"(?P<name>[^"]*)"'
    r'(?P<inst>(?:\[[^\]]*\])*)'
    r'(?: (?P<addr>[^\s#"][^\s"]*?))?'
    r'(?: #(?P<serial>\d+))?'
    r':(?: (?P<msg>.*))?$'
)

# "[1]" or "[1][2]" -> "1" / "1][2" (the text between the outer brackets, as printed).
_INST_RE = re.compile(r'^\[(.*)\]$')


def _instance_text(inst):
    if not inst:
        return None
    match = _INST_RE.match(inst)
    return match.group(1) if match else inst


def _parse_pluto_line(line):
    """Split a pluto log line into its parts, or return ``None`` if it is not one."""
    match = _PLUTO_LINE_RE.match(line)
    if not match:
        return None
    return {
        'tag': match.group('tag'),
        'name': match.group('name'),
        'instance': _instance_text(match.group('inst')),
        'instance_address': match.group('addr'),
        'serial': _int_or_none(match.group('serial')),
        'message': match.group('msg') or '',
    }


# ---------------------------------------------------------------------------
# Failure classification (shared by up / add / down / trafficstatus callers)
# ---------------------------------------------------------------------------

# Each entry: (kind, regex).  A line gets the kind of the first entry that matches,
# entries being ordered like ERROR_KINDS; the comment says which output taught it.
_ERROR_PATTERNS = (
    # pluto is down: 4.10 stderr "whack: Pluto is not running", 5.x "ipsec whack: ERROR:
    # Pluto is not running (no "/run/pluto/pluto.ctl")", older "connect(pluto_ctl) failed".
    ('not_loaded', re.compile(r'Pluto is not running|connect\(pluto_ctl\) failed', re.I)),
    # the conn is loaded but neither end is one of our addresses (4.10 code 022).
    ('not_loaded', re.compile(r'cannot identify ourselves with either end', re.I)),
    # unknown name: 4.10 '021 no connection named "x"', 5.x 'no connection or alias named "x"',
    # 5.x add/up 'conn X: not found (tried aliases)'.
    ('no_connection', re.compile(r'\bno connection (?:or alias )?named\b|\bnot found \(tried aliases\)', re.I)),
    # IKEv2 peer refused our AUTH ("IKE SA authentication request rejected by peer:
    # AUTHENTICATION_FAILED") or we sent it; IKEv1 "Possible authentication failure: no
    # acceptable response to our first encrypted message" (wrong PSK); "authentication
    # failed: no PSK found", "X509: authentication failed; ...".
    ('auth_failed', re.compile(r'AUTHENTICATION_FAILED|\bauthentication fail(?:ed|ure)\b', re.I)),
    # IKEv1 notifications that mean "your key/hash/ID did not check out" (seed transcript:
    # "ignoring informational payload, type INVALID_KEY_INFORMATION").
    ('auth_failed', re.compile(r'INVALID_(?:KEY|HASH|ID)_INFORMATION')),
    # local key/certificate problems seen in the test-suite transcripts.
    ('auth_failed', re.compile(
        r'\bsignature verification failed\b|Hash Payload does not match'
        r"|\bunable to locate my private key\b|can't find the private key"
        r'|\bno (?:PSK|RSA public key|public key)s? (?:found|known)\b'
        r'|\bcertificate (?:payload )?rejected\b|\bCERT payload bogus\b'
        r'|SEC_ERROR_\w*(?:CERT|ISSUER|REVOKED|EXPIRED|SIGNATURE|KEY_USAGE)\w*'
        r'|\brequires PPK\b|\bauthentication method \S+ not supported\b'
        r'|\bpeer supports nothing else\b|\bprivate key matching certificate\b.{0,200}?\bbut\b', re.I)),
    # traffic selectors / local policy mismatch: "IKE_AUTH response rejected Child SA with
    # TS_UNACCEPTABLE" (4.10 exits 0 on it!), "CREATE_CHILD_SA failed with error
    # notification TS_UNACCEPTABLE", transport/tunnel mode mismatch, IKE version refused.
    ('ts_unacceptable', re.compile(r'TS_UNACCEPTABLE|\btraffic selectors?\b.{0,60}\b(?:unacceptable|mismatch)', re.I)),
    ('config', re.compile(r'\bpolicy dictates \w+ Mode, but peer requested\b|INVALID_MAJOR_VERSION', re.I)),
    # configuration that cannot work: add/replace failures, unresolvable peers, two conns
    # fighting for one kernel policy, keywords refused by addconn / ikev1-policy.
    ('config', re.compile(
        r'failed to add (?:[\w-]+ )?connection|did not load properly|cannot initiate connection without resolved'
        r'|cannot install kernel policy|\bconnection must use authby\b|\bunrecognized keyword\b'
        r'|\bsyntax error\b|\bikev1-policy\b.{0,60}\b(?:drop|reject|refus|not allow)'
        r'|\bIKEv1 (?:is )?(?:not (?:supported|allowed)|disabled)\b', re.I)),
    # proposal mismatch: the NO_PROPOSAL_CHOSEN notify in any position, Openswan "no
    # acceptable Oakley Transform"/"... proposal", IKEv1 Quick Mode "perhaps peer likes no proposal".
    ('no_proposal', re.compile(
        r'NO_PROPOSAL_CHOSEN|\bno acceptable\b.{0,80}?\b(?:proposal|transform)s?\b'
        r'|\bpeer likes no proposal\b', re.I)),
    # nobody answered: 4.x/5.x "timeout exceeded after N retransmits.  No response (or no
    # acceptable response) to our first IKEv2 message", Openswan "max number of
    # retransmissions (2) reached", the test suite's "IMPAIR: retransmit so timing out SA".
    ('timeout', re.compile(
        r'\btimeout exceeded\b|\bmax(?:imum)? number of retransmissions\b'
        r'|No response \(or no acceptable response\)|\bretransmit so timing out\b'
        r'|\bNo acceptable response to our first\b', re.I)),
    # anything else that ends a negotiation.  Kept last: these lines usually follow the
    # real cause printed above them.
    ('other', re.compile(
        r'\bencountered fatal error\b|\bstate transition\b.{0,80}\bfailed\b'
        r'|\b(?:CHILD|IPsec) SA failed\b|\brejected Child SA\b|\bredirects to new gateway\b'
        r'|\bomitt(?:ed|ing) CHILD SA payloads\b|\bnot attempting to setup CHILD SA\b'
        r'|INVALID_SYNTAX|INVALID_COOKIE|INVALID_SPI|TEMPORARY_FAILURE|INTERNAL_ADDRESS_FAILURE'
        r'|FAILED_CP_REQUIRED|UNSUPPORTED_CRITICAL_PAYLOAD|zero IKE SA Responder SPI'
        r'|^deleting (?:IKE SA|ISAKMP SA|IPsec SA|Child SA|state)\b|\brevival attempt \d+ scheduled\b'
        r'|\breleasing whack\b|\bFATAL ERROR\b|\bASSERTION FAILED\b|^NSS: .*\bfailed\b|\bKE payload is \d+ bytes', re.I)),
)

# updown script chatter ('"c" #2: command "up" output: ...') is the script's, not pluto's:
# whatever words it contains must not decide whether the tunnel came up.
_SCRIPT_OUTPUT_RE = re.compile(r'^command "[^"]*"(?: output)?:')

# Connection names are free text ("west-east-delete1" exists upstream): the story is read
# with every double-quoted string blanked out.
_QUOTED_RE = re.compile(r'"[^"]*"')


def _story(text):
    """*text* with double-quoted strings (connection names) replaced by ``""``."""
    return _QUOTED_RE.sub('""', text)


def _classify_message(message, tag=None):
    """Return the error kind a single message expresses, or ``None``."""
    if not message or _SCRIPT_OUTPUT_RE.match(message):
        return None
    story = _story(message)
    for kind, regex in _ERROR_PATTERNS:
        if regex.search(story):
            return kind
    if tag == 'ERROR':
        return 'other'
    return None


def _message_of(line):
    """(parsed pluto line or None, message text to classify) for one output line."""
    parsed = _parse_pluto_line(line)
    if parsed is not None:
        return parsed, parsed['message']
    return None, line.strip()


def _pick_error(errors):
    """The most decisive error of a list of ``{kind, line}`` dicts (first one on ties)."""
    best = None
    for err in errors:
        if best is None or _KIND_RANK[err['kind']] < _KIND_RANK[best['kind']]:
            best = err
    return best


@_never_raise(lambda text: None)
def detect_error(text):
    """Most decisive failure stated anywhere in *text*, as ``{kind, line}``, else ``None``.

    Useful for commands without a dedicated parser (``ipsec trafficstatus`` when pluto
    is down, ``ipsec rereadsecrets`` ...).  Kinds are those of :data:`ERROR_KINDS`.
    """
    errors = []
    for _code, line in split_output(text):
        parsed, message = _message_of(line)
        kind = _classify_message(message, parsed and parsed['tag'])
        if kind:
            errors.append({'kind': kind, 'line': line})
    return _pick_error(errors)
