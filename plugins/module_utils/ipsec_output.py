# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Pure parsers for the text printed by Libreswan's (and Openswan's) ``ipsec`` command.

Nothing here runs a command or imports Ansible: every function takes the text a
command printed (``str``, ``bytes``, a list of lines or ``None``) and returns plain
dicts and lists, so modules, action plugins and unit tests can share them.

Forms accepted
--------------
* **Libreswan 4.x live output** (Debian 12 ships 4.10): every line pluto relays through
  ``whack`` starts with a three digit status code and a space (``002 ``, ``004 ``,
  ``000 ``, ``006 ``, ``021 ``, ``031 `` ...).  The code is stripped from the text and
  kept beside it (``codes``), because 4.x derives its exit status from it.
* **Libreswan 5.x / 6.x output** and the upstream test-suite transcripts: the same
  sentences without the code; log-level tags such as ``IMPAIR:`` or ``ERROR:`` may
  precede the connection name.
* **Openswan 2.x** (the seed HOWTO): ``STATE_MAIN_I4: ISAKMP SA established``,
  ``STATE_QUICK_I2: sent QI2, IPsec SA established {ESP=>0x... <0x...}``,
  ``000 #4: "c" STATE_QUICK_R2 (IPsec SA established); ...`` and ``ipsec verify``
  with ``[N/A]``.
* Windows/CRLF line ends, lone CRs, ANSI colour escapes, ``bytes`` with invalid UTF-8.

Rules every parser follows
--------------------------
* Decide from the *story text* that pluto prints (``established Child SA``,
  ``IPsec SA established``, ``AUTHENTICATION_FAILED`` ...), never from ``STATE_*``
  names alone: those names changed in 5.1 and vanished in 5.4.
* Unknown lines are kept in ``lines`` and otherwise ignored; they never make a parse
  fail.  No parser raises on any input: a bug in a parser is turned into a safe
  "nothing recognised" result carrying a ``parse_error`` key (set ``_STRICT = True``
  to let the exception through, as the unit tests do).

Public functions
----------------
``parse_auto_up``, ``parse_trafficstatus``, ``parse_status`` (+ ``established_children``),
``parse_showhostkey`` / ``parse_showhostkey_list``, ``parse_verify`` (+ ``verify_remedy``,
``VERIFY_REMEDIES``), ``parse_version``, ``parse_add``, ``parse_down``, and the helpers
``split_output`` and ``detect_error``.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import functools
import re


# When True, a bug inside a parser raises instead of being turned into a safe result.
# The unit tests switch it on so that the "never raises" safety net cannot hide bugs.
_STRICT = False

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


def _never_raise(default_factory):
    """Decorator: a parser bug returns ``default_factory(text)`` (+ ``parse_error``)."""
    def decorator(func):
        @functools.wraps(func)
        def wrapper(text=None, *args, **kwargs):
            try:
                return func(text, *args, **kwargs)
            except Exception as exc:  # pylint: disable=broad-except
                if _STRICT:
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


# ---------------------------------------------------------------------------
# ipsec auto --up / ipsec up
# ---------------------------------------------------------------------------

# A Child SA came up.  IKEv2 (4.x-6.x): "initiator established Child SA using #1; IPsec
# tunnel [...]"; IKEv1 and Openswan: "IPsec SA established tunnel mode {ESP=>...}" and
# "STATE_QUICK_I2: sent QI2, IPsec SA established {ESP=>...}".  The down path prints "sent
# INFORMATIONAL request to delete established Child SA": a delete word before the match
# disqualifies it.
_CHILD_UP_RE = re.compile(r'\b(?:(?:initiator|responder) )?established Child SA\b|\bIPsec SA established\b')
_DELETE_WORD_RE = re.compile(r'\bdelet(?:e|es|ed|ing)\b', re.I)

# An IKE SA (phase 1) came up: IKEv2 "initiator established IKE SA", IKEv1 "ISAKMP SA
# established {auth=...}", 5.x IKEv1 "IKE SA established {auth=...}", Openswan
# "STATE_MAIN_I4: ISAKMP SA established", old IKEv2 "PARENT SA established".
_IKE_UP_RE = re.compile(r'\b(?:initiator|responder) established IKE SA\b|\b(?:ISAKMP|IKE|PARENT) SA established\b')

# The SA block of a Child SA line: "{ESP/ESN=>0x92ef1705 <0x8b2bade2 xfrm=AES_GCM_16_256-NONE
# DPD=passive}", "{ESPinUDP=>0x... <0x... xfrm=... NATD=192.1.2.23:4500 DPD=passive}",
# "{AH=>0x... <0x...}", Openswan "{ESP=>0xe0bdd0e9 <0x13ac7645}".  SPIs may be normalised
# by the test suite ("0xESPESP", "0xAHAH"), hence [0-9A-Za-z].
_CHILD_SA_BLOCK_RE = re.compile(
    r'\{(?P<encap>[A-Za-z]+)(?P<flags>(?:/[A-Za-z]+)*)=>(?P<out>0x[0-9A-Za-z]+) <(?P<in>0x[0-9A-Za-z]+)(?P<rest>[^{}]*)\}')

# Compression inside the same block: "IPCOMP=>0xCPI <0xCPI".
_IPCOMP_RE = re.compile(r'\bIPCOMP=>(0x[0-9A-Za-z]+) <(0x[0-9A-Za-z]+)')

# Mode: IKEv2 "IPsec tunnel [...]" / "IPsec transport [...]", IKEv1 "tunnel mode {".
_CHILD_MODE_RE = re.compile(r'\bIPsec (tunnel|transport)\b|\b(tunnel|transport) mode\b')

# Traffic selectors as printed: 5.x "[192.0.1.0/24===192.0.2.0/24]", 4.10
# "[10.1.0.0-10.1.0.255:0-65535 0] -> [10.2.0.0-10.2.0.255:0-65535 0]".
_CHILD_TS_RE = re.compile(r'\bIPsec (?:tunnel|transport) (?P<ts>\[.*?\])(?= \{)')

# "using #1" names the IKE SA that carries an IKEv2 Child SA.
_USING_SERIAL_RE = re.compile(r'\busing #(\d+)')

# A braces block describing IKE algorithms: "{auth=RSA_SIG cipher=AES_CBC_256
# integ=HMAC_SHA2_256 group=MODP2048}" (IKEv1) or "{cipher=AES_GCM_16_256 integ=n/a
# prf=HMAC_SHA2_512 ke=DH19}" (IKEv2 IKE_SA_INIT response).  Child blocks contain "=>".
_ALGO_BLOCK_RE = re.compile(r'\{([^{}=]*=[^{}]*)\}')
# 'key=value' tokens inside such a block (values never hold blanks there).
_KV_RE = re.compile(r'([A-Za-z][\w-]*)=(\S*)')

# Which IKE version the story is told in (first line that says so wins).
_V2_HINT_RE = re.compile(
    r'\bIKEv2\b|\bIKE_SA_INIT\b|\bIKE_AUTH\b|\bCREATE_CHILD_SA\b|\bestablished (?:IKE|Child) SA\b'
    r'|\bSTATE_V2_|\bSTATE_PARENT_|\bPARENT SA\b')
_V1_HINT_RE = re.compile(
    r'\bIKEv1\b|\b(?:Main|Aggressive|Quick) Mode\b|\bISAKMP SA\b|\bSTATE_(?:MAIN|AGGR|QUICK)_'
    r'|\bIPsec SA established\b')

# Child SA going away after it was reported up (same serial): IKEv1 "deleting IPsec SA
# (QUICK_I2) ...", IKEv2 "deleting Child SA ...", 4.x "deleting state (STATE_QUICK_I2) ...".
_CHILD_DELETED_RE = re.compile(r'^deleting (?:IPsec SA|Child SA|state)\b')

# Lines that only say "still negotiating" (an --asynchronous up stops after them).
_PROGRESS_RE = re.compile(
    r'^(?:STATE_\w+: )?(?:initiat|sent |sending |processed |processing |queue|queuing |received '
    r'|Child SA initiating|I am sending|Peer ID is|authenticated |initiator established IKE SA'
    r'|ISAKMP SA established|IKE SA established|scheduling retry)')


def _kv_dict(text):
    return dict((key, value) for key, value in _KV_RE.findall(text or ''))


def _parse_child_line(parsed, message, line):
    """Details of one "Child SA established" line."""
    child = {
        'serial': parsed['serial'] if parsed else None,
        'name': parsed['name'] if parsed else None,
        'ike_serial': None,
        'spi_out': None,
        'spi_in': None,
        'mode': None,
        'encap': None,
        'flags': [],
        'algorithms': None,
        'ipcomp': False,
        'nat': None,
        'dpd': None,
        'traffic_selectors': None,
        'deleted': False,
        'line': line,
    }
    using = _USING_SERIAL_RE.search(message)
    if using:
        child['ike_serial'] = int(using.group(1))
    mode = _CHILD_MODE_RE.search(message)
    if mode:
        child['mode'] = mode.group(1) or mode.group(2)
    ts = _CHILD_TS_RE.search(message)
    if ts:
        child['traffic_selectors'] = ts.group('ts')
    block = None
    for block in _CHILD_SA_BLOCK_RE.finditer(message):
        pass  # the last block is the one describing the SA
    if block:
        child['encap'] = block.group('encap')
        child['flags'] = [flag for flag in block.group('flags').split('/') if flag]
        child['spi_out'] = block.group('out')
        child['spi_in'] = block.group('in')
        rest = block.group('rest')
        fields = _kv_dict(rest)
        child['algorithms'] = fields.get('xfrm')
        child['nat'] = fields.get('NATD')
        child['dpd'] = fields.get('DPD')
        ipcomp = _IPCOMP_RE.search(rest)
        if ipcomp:
            child['ipcomp'] = True
            child['ipcomp_cpi_out'] = ipcomp.group(1)
            child['ipcomp_cpi_in'] = ipcomp.group(2)
    return child


def _empty_up_result(text=None):
    return {
        'established': False,
        'ike_version': None,
        'ike_sa': None,
        'child_sas': [],
        'error': None,
        'errors': [],
        'connection': None,
        'connections': [],
        'exit_hint': 'no_output',
        'lines': _safe_lines(text) if text is not None else [],
        'codes': [],
    }


def _note_up_name(names, parsed, line):
    """Remember the connection a line names: pluto lines by their prefix, other text by 'named "X"'."""
    if parsed is not None:
        if parsed['name'] not in names and parsed['tag'] is None:
            names.append(parsed['name'])
    else:
        quoted = re.search(r'named "([^"]*)"', line)
        if quoted and quoted.group(1) not in names:
            names.append(quoted.group(1))


def _ike_version_hint(story):
    """1 or 2 when *story* tells which IKE version is spoken, else None."""
    if _V2_HINT_RE.search(story):
        return 2
    if _V1_HINT_RE.search(story):
        return 1
    return None


def _note_up_child(children, parsed, message, story, line):
    """Record a Child SA this line reports established, or mark those with its serial deleted."""
    serial = parsed['serial'] if parsed else None
    child_match = _CHILD_UP_RE.search(story)
    if child_match and not _DELETE_WORD_RE.search(story[:child_match.start()]):
        children.append(_parse_child_line(parsed, message, line))
    elif serial is not None and _CHILD_DELETED_RE.match(story):
        for child in children:
            if child['serial'] == serial:
                child['deleted'] = True


def _note_up_ike(scan, serial, message, story, line):
    """Record an IKE SA this line reports established and any IKE algorithm block it prints."""
    if _IKE_UP_RE.search(story) and not _DELETE_WORD_RE.search(story):
        scan['ike_established'].append((serial, line))
    for block in _ALGO_BLOCK_RE.findall(message):
        if '=>' not in block and 'cipher=' in block:
            scan['ike_algos'][serial] = (_kv_dict(block), block.strip())


def _scan_up_lines(pairs):
    """First phase of :func:`parse_auto_up`: collect what every output line tells."""
    scan = {
        'ike_version': None,
        'children': [],
        'ike_algos': {},        # serial -> (dict, raw)
        'ike_established': [],  # [(serial, line)]
        'errors': [],
        'last_pluto': None,     # (message, line) of the last line that is a pluto log line
        'names': [],
    }
    for _code, line in pairs:
        if not line.strip():
            continue
        parsed, message = _message_of(line)
        _note_up_name(scan['names'], parsed, line)
        if parsed is not None:
            scan['last_pluto'] = (message, line)

        story = _story(message)
        if scan['ike_version'] is None:
            scan['ike_version'] = _ike_version_hint(story)

        _note_up_child(scan['children'], parsed, message, story, line)
        _note_up_ike(scan, parsed['serial'] if parsed else None, message, story, line)

        kind = _classify_message(message, parsed and parsed['tag'])
        if kind:
            scan['errors'].append({'kind': kind, 'line': line})
    return scan


def _chosen_ike_sa(children, ike_established, ike_algos):
    """The ``ike_sa`` entry: the IKE SA carrying the last live Child SA, else the last one up."""
    wanted = None
    for child in children:
        if child['ike_serial'] is not None and not child['deleted']:
            wanted = child['ike_serial']
    chosen = ike_established[-1]
    for serial, line in ike_established:
        if wanted is not None and serial == wanted:
            chosen = (serial, line)
    algos, raw = ike_algos.get(chosen[0], ({}, None))
    algos = dict(algos)
    if 'group' not in algos and 'ke' in algos:
        algos['group'] = algos['ke']
    return {'serial': chosen[0], 'algorithms': algos, 'algorithms_raw': raw, 'line': chosen[1]}


def _set_up_failure(result, errors, last_pluto):
    """Fill ``error`` and ``exit_hint`` of a :func:`parse_auto_up` result that is not established."""
    error = _pick_error(errors)
    if error is None and last_pluto is not None:
        message, line = last_pluto
        if not _PROGRESS_RE.match(message):
            error = {'kind': 'other', 'line': line}
    if error is None and last_pluto is None:
        # Nothing pluto-shaped at all (e.g. a usage message): report the first line.
        for line in result['lines']:
            if line.strip():
                error = {'kind': 'other', 'line': line}
                break
    result['error'] = error
    if error is not None:
        result['exit_hint'] = 'failed'
    elif last_pluto is not None:
        result['exit_hint'] = 'in_progress'


@_never_raise(_empty_up_result)
def parse_auto_up(text):
    """Parse ``ipsec auto --up NAME`` / ``ipsec up NAME`` (also Openswan ``ipsec auto --up``).

    Returns a dict:

    ``established``
        True when at least one Child (IPsec) SA was reported established and not
        deleted again later in the same output.  This is the only success signal:
        an IKE SA alone is not a tunnel.
    ``ike_version``
        1, 2 or None (from the first line that tells: ``IKEv2``, ``IKE_AUTH``,
        ``Main Mode``, ``STATE_QUICK_`` ...).
    ``ike_sa``
        None or ``{serial, algorithms (dict, e.g. auth/cipher/integ/prf/group), algorithms_raw,
        line}`` for the IKE SA that carries the tunnel (the last one established).
        ``group`` mirrors 5.x's ``ke=`` when only that is printed.
    ``child_sas``
        Every Child SA reported established: ``{serial, name, ike_serial, spi_out, spi_in,
        mode ('tunnel'|'transport'|None), encap ('ESP', 'ESPinUDP', 'ESPinTCP', 'AH'),
        flags (e.g. ['ESN']), algorithms (the ``xfrm=`` text, e.g. 'AES_GCM_16_256-NONE'),
        ipcomp (bool), nat, dpd, traffic_selectors, deleted (bool), line}``.
    ``error``
        None when established; otherwise ``{kind, line}`` with *kind* one of
        :data:`ERROR_KINDS`, the most decisive failure printed.  When nothing says why,
        the last pluto line is reported as ``other`` - unless it only shows negotiation
        still in progress (``--asynchronous``), in which case error stays None.
    ``errors``
        Every line that looked like a failure (also when established, e.g. one conn of
        an alias failed), for diagnostics.
    ``connection`` / ``connections``
        The first / every connection name mentioned.
    ``exit_hint``
        'established', 'failed', 'in_progress' (negotiation started, no verdict yet) or
        'no_output' (nothing recognisable was printed - 4.x under a non-terminal, say).
    ``lines`` / ``codes``
        The output lines without 4.x status codes, and the codes (None where absent).
    """
    pairs = split_output(text)
    result = _empty_up_result()
    result['lines'] = [line for _code, line in pairs]
    result['codes'] = [code for code, _line in pairs]

    scan = _scan_up_lines(pairs)
    children = scan['children']
    names = scan['names']
    result['ike_version'] = scan['ike_version']
    result['child_sas'] = children
    result['errors'] = scan['errors']
    result['connections'] = names
    result['connection'] = names[0] if names else None
    result['established'] = any(not child['deleted'] for child in children)

    if scan['ike_established']:
        result['ike_sa'] = _chosen_ike_sa(children, scan['ike_established'], scan['ike_algos'])

    if result['established']:
        result['exit_hint'] = 'established'
        return result

    _set_up_failure(result, scan['errors'], scan['last_pluto'])
    return result


# ---------------------------------------------------------------------------
# ipsec trafficstatus / ipsec whack --trafficstatus
# ---------------------------------------------------------------------------

# '#2: "name", type=ESP, ...' and instances '#2: "rw"[1] 192.1.2.23, type=ESP, ...';
# the part between the instance and the first comma is the peer as printed (may hold
# blanks: '10.0.10.1/32=== ...192.1.2.23').
_TRAFFIC_LINE_RE = re.compile(
    r'^#(?P<serial>\d+): "(?P<name>[^"]*)"(?P<inst>(?:\[[^\]]*\])*)(?: (?P<addr>[^,]*))?,\s*(?P<rest>.*)$')

# Fields are "key=value" separated by ", ".  Values may be quoted ('C=CA, O=X' DNs hold
# ", key=" sequences) and unquoted ones may hold bare commas (lease=a/32,b/128).
_FIELD_KEY_RE = re.compile(r'\s*([A-Za-z_][\w.-]*)=')
_QUOTE_END_RE = re.compile(r"'(?=\s*,|\s*$)")
_NEXT_FIELD_RE = re.compile(r',\s*(?=[A-Za-z_][\w.-]*=)')
_FIELD_SEP_RE = re.compile(r'\s*,\s*')


def _split_fields(rest):
    """``"a=1, id='C=CA, O=X', b=2"`` -> ``[('a', '1'), ('id', 'C=CA, O=X'), ('b', '2')]``."""
    fields = []
    pos = 0
    size = len(rest)
    while pos < size:
        key_match = _FIELD_KEY_RE.match(rest, pos)
        if not key_match:
            break
        key = key_match.group(1)
        pos = key_match.end()
        if pos < size and rest[pos] == "'":
            end = _QUOTE_END_RE.search(rest, pos + 1)
            if end:
                value = rest[pos + 1:end.start()]
                pos = end.end()
            else:
                value = rest[pos + 1:]
                pos = size
        else:
            nxt = _NEXT_FIELD_RE.search(rest, pos)
            if nxt:
                value = rest[pos:nxt.start()]
                pos = nxt.start()
            else:
                value = rest[pos:]
                pos = size
        fields.append((key, value.strip()))
        sep = _FIELD_SEP_RE.match(rest, pos)
        if sep and sep.end() > pos:
            pos = sep.end()
        elif pos < size and not _FIELD_KEY_RE.match(rest, pos):
            break
    return fields


def _base_name(name):
    """The conn a (sub-)connection comes from: 'road/0x1' -> 'road' (5.x names the connections it
    spawns from one with subnets= so), 'net-to-net/1x2' -> 'net-to-net' (leftsubnets=/rightsubnets=
    give one connection per pair of subnets)."""
    return re.sub(r'/(0x[0-9a-fA-F]+|\d+x\d+)$', '', name)


@_never_raise(lambda text: [])
def parse_trafficstatus(text):
    """Parse ``ipsec trafficstatus`` / ``ipsec whack --trafficstatus``.

    One dict per SA line (``006 `` prefix in 4.x, none in 5.x)::

        {serial: 2, name: 'rw', base_name: 'rw', instance: '1', instance_address: '192.1.2.23',
         type: 'ESP', in_bytes: 84, out_bytes: 84, id: '@east' (quotes removed),
         add_time: '1234567890', maxBytes: '2^63B', ..., line: <the line>}

    Every other ``key=value`` field is kept under its own key as printed (``username``,
    ``lease`` ...), values unquoted.  ``in_bytes``/``out_bytes`` are ints (None if
    absent or unreadable).  No SAs, or any other text (pluto down), gives ``[]``; use
    :func:`detect_error` to tell those apart.
    """
    sas = []
    for _code, line in split_output(text):
        match = _TRAFFIC_LINE_RE.match(line)
        if not match:
            continue
        entry = {}
        for key, value in _split_fields(match.group('rest')):
            entry[key] = value
        entry.update({
            'serial': int(match.group('serial')),
            'name': match.group('name'),
            'base_name': _base_name(match.group('name')),
            'instance': _instance_text(match.group('inst')),
            'instance_address': (match.group('addr') or '').strip() or None,
            'type': entry.get('type'),
            'in_bytes': _int_or_none(entry.pop('inBytes', None)),
            'out_bytes': _int_or_none(entry.pop('outBytes', None)),
            'id': entry.get('id'),
            'line': line,
        })
        sas.append(entry)
    return sas


# ---------------------------------------------------------------------------
# ipsec status / ipsec auto --status / ipsec whack --status
# ---------------------------------------------------------------------------

# State lines: '#2: "c":500 STATE_V2_ESTABLISHED_CHILD_SA (established Child SA); ...'
# (4.x), '#2: "c":500 ESTABLISHED_CHILD_SA (established Child SA)' (5.1-5.3),
# '#2: "c":500 established Child SA; REKEY in 27s; ...' (5.4), Openswan '#4: "c"
# STATE_QUICK_R2 (IPsec SA established); EVENT_SA_REPLACE in 3635s; ...', instances
# '#2: "rw"[1] 192.1.2.23:500 established Child SA; ...'.  The IKE port follows the name
# or the peer address; the peer address (instances only) may be IPv6.
_STATE_LINE_RE = re.compile(
    r'^#(?P<serial>\d+): "(?P<name>[^"]*)"(?P<inst>(?:\[[^\]]*\])*)'
    r'(?:(?<=\]) (?P<addr>\S+?))?'
    r'(?::(?P<port>\d+))?'
    r'(?: (?P<rest>.*))?$')

# 'STATE_QUICK_R2 (IPsec SA established); EVENT...' / 'ESTABLISHED_CHILD_SA (established
# Child SA)' - an upper-case state name followed by the parenthesised story.
_STATE_NAME_RE = re.compile(r'^(?P<state>[A-Z][A-Z0-9_]{2,})(?::)? \((?P<desc>.*?)\)(?=;|\s*$)')
# Openswan/3.x may print 'STATE_MAIN_I4: ISAKMP SA established' style states too.
_STATE_COLON_RE = re.compile(r'^(?P<state>STATE_[A-Z0-9_]+): (?P<desc>[^;]*)')

# The per-state SA detail line: '#2: "c" esp.92ef1705@192.0.2.2 esp.8b2bade2@192.0.2.1
# tun.0@... Traffic: ESPin=0B ESPout=0B ESPmax=2^63B' (and Openswan's without Traffic:).
_SA_DETAIL_RE = re.compile(r'^(?:esp|ah|comp|tun)\.\S*@')
# 'ESPin=84B' / 'AHout=0B' / 'ESPmax=2^63B': protocol, direction, value; plain byte
# counts become ints, anything else ('2^63B') stays as printed.
_TRAFFIC_KV_RE = re.compile(r'\b([A-Z]+)(in|out|max)=(\S+)')
_BYTES_RE = re.compile(r'^(\d+)B?$')

# Which SA a state is: story words first, state-name fragments second.
_CHILD_STORY_RE = re.compile(r'\bChild SA\b|\bIPsec SA\b|\bQI\d|\bQR\d|\bCHILD\b|\bnewest IPSEC\b', re.I)
_IKE_STORY_RE = re.compile(
    r'\bIKE SA\b|\bISAKMP SA\b|\bPARENT SA\b|\bIKE_SA_INIT\b|\bIKE_AUTH\b|\bM[IR]\d|\bA[IR]\d'
    r'|\bv2[IR]\d|\bnewest ISAKMP\b', re.I)
_CHILD_STATE_RE = re.compile(r'QUICK|CHILD|IPSEC|V2_NEW_CHILD|V2_REKEY_CHILD')
_IKE_STATE_RE = re.compile(r'MAIN|AGGR|PARENT|IKE_SA|IKE_AUTH|V2_REKEY_IKE|ISAKMP')
_ESTABLISHED_RE = re.compile(r'\bestablished\b', re.I)

# "; IKE SA #3" / "; ISAKMP SA #1" (5.x) / "; isakmp#1" (4.x) names the parent SA.
_PARENT_RE = re.compile(r'\b(?:IKE SA|ISAKMP SA|isakmp) ?#(\d+)', re.I)

# Connection lines: '"c": 10.1.0.0/24===...; erouted; eroute owner: #2' (summary) and
# '"c":   policy: IKEv2+PSK+...' (detail, indented).  Instances: '"rw"[1]: ...'; some
# releases print the peer after the instance: '"rw"[1] 192.1.2.23: ...'.
_CONN_LINE_RE = re.compile(
    r'^"(?P<name>[^"]*)"(?P<inst>(?:\[[^\]]*\])*)(?: (?P<addr>[^\s"]+?))?:(?P<rest>.*)$')

# Routing word right after the summary: 'unrouted', 'erouted', 'prospective erouted',
# 'routed-ondemand', 'routed-tunnel', 'unrouted-bare-negotiation' ...
_ROUTING_RE = re.compile(r'^(?:prospective )?(?:e|un)?routed(?:[-\w]*)$|^routed-[-\w]+$', re.I)
# '...; erouted; eroute owner: #2' (4.x, Openswan): the Child SA owning the kernel policy.
_EROUTE_OWNER_RE = re.compile(r'\beroute owner: #(\d+)')
# 5.x detail: 'routing: routed-tunnel; owner: Child SA #2; established IKE SA: #1; ...'
_ROUTING_DETAIL_RE = re.compile(r'^routing: (?P<routing>[^;]+)')
_OWNER_DETAIL_RE = re.compile(r'\bowner: (?:Child|IPsec) SA #(\d+)')
# 'policy: IKEv2+PSK+ENCRYPT+TUNNEL+...' -> IKE version from the IKEv1/IKEv2 flag.
_POLICY_RE = re.compile(r'^policy: (?P<policy>[^;]*)')
_POLICY_VERSION_RE = re.compile(r'(?:^|\+)IKEv([12])(?=\+|$|;|\s)')
# 'IKEv2 algorithm newest: ...' also tells the version when the policy line is absent.
_ALGO_NEWEST_V2_RE = re.compile(r'^IKEv2 algorithm newest:')

# 'Total IPsec connections: loaded 7, active 0' (4.x) / 'loaded 1, routed 0, active 0' (5.3+).
_TOTAL_RE = re.compile(r'^Total IPsec connections:\s*(?P<rest>.*)$')
_WORD_COUNT_RE = re.compile(r'([A-Za-z-]+) (\d+)')
# 'IKE SAs: total(1), half-open(0), open(0), authenticated(1), anonymous(0)'
_SA_COUNT_RE = re.compile(r'^(?P<what>IKE|IPsec) SAs:\s*(?P<rest>.*)$')
_PAREN_COUNT_RE = re.compile(r'([A-Za-z-]+)\((\d+)\)')
# 'interface eth0 192.0.2.254:UDP/4500 (NAT)' (5.x), 'interface eth0 UDP 192.0.2.1:500'
# (4.x), 'interface eth0/eth0 192.168.1.100' (Openswan).
_INTERFACE_RE = re.compile(r'^interface (?P<name>\S+) (?P<detail>.+)$')
# 'using kernel interface: xfrm' (first line of 4.x/5.x status).
_KERNEL_IF_RE = re.compile(r'^using kernel interface: (\S+)')


# a connection detail key: 'policy', 'ike_life', 'our idtype', 'v2-auth-hash-policy' ...
_FIELD_NAME_RE = re.compile(r'^[A-Za-z][\w -]*$')


def _split_semicolons(text):
    return [part.strip() for part in text.split(';') if part.strip()]


def _empty_status(text=None):
    return {
        'connections': {},
        'states': [],
        'totals': {},
        'interfaces': [],
        'kernel_interface': None,
        'version': None,
        'lines': _safe_lines(text) if text is not None else [],
    }


def _conn_key(name, instance):
    return name if instance is None else '%s[%s]' % (name, instance)


def _new_connection(name, instance, address):
    return {
        'name': name,
        'instance': instance,
        'instance_address': address,
        'summary': None,
        'local': None,
        'remote': None,
        'routing': None,
        'eroute_owner': None,
        'routing_owner': None,
        'ike_version': None,
        'policy': None,
        'oriented': None,
        'fields': {},
        'lines': [],
    }


def _state_kind(state_name, description, rest):
    story = description or ''
    if _CHILD_STORY_RE.search(story):
        return 'child'
    if _IKE_STORY_RE.search(story):
        return 'ike'
    if state_name:
        if _CHILD_STATE_RE.search(state_name):
            return 'child'
        if _IKE_STATE_RE.search(state_name):
            return 'ike'
    if re.search(r'\bnewest IPSEC\b|\beroute owner\b', rest or ''):
        return 'child'
    if re.search(r'\bnewest ISAKMP\b', rest or ''):
        return 'ike'
    return None


def _parse_state_line(match, line):
    rest = match.group('rest') or ''
    state_name = None
    description = None
    tail = rest
    named = _STATE_NAME_RE.match(rest)
    colon = _STATE_COLON_RE.match(rest)
    if named:
        state_name = named.group('state')
        description = named.group('desc')
        tail = rest[named.end():]
    elif colon:
        state_name = colon.group('state')
        description = colon.group('desc').strip()
        tail = rest[colon.end():]
    else:
        parts = rest.split(';', 1)
        description = parts[0].strip() or None
        tail = ';' + parts[1] if len(parts) > 1 else ''
    # the story decides; a 5.0 "ESTABLISHED_CHILD_SA" name without story still counts
    established = bool(_ESTABLISHED_RE.search(description or ''))
    if not description and state_name and 'ESTABLISHED' in state_name:
        established = True
    parent = _PARENT_RE.search(tail)
    return {
        'serial': int(match.group('serial')),
        'name': match.group('name'),
        'instance': _instance_text(match.group('inst')),
        'instance_address': match.group('addr'),
        'port': _int_or_none(match.group('port')),
        'state': state_name,
        'description': description,
        'kind': _state_kind(state_name, description, tail),
        'established': established,
        'newest': bool(re.search(r'\bnewest\b', tail)),
        'eroute_owner': bool(re.search(r'\beroute owner\b', tail)),
        'parent_serial': int(parent.group(1)) if parent else None,
        'events': tail.strip('; ') or None,
        'traffic': {},
        'sa_details': None,
        'raw': line,
        'extra_lines': [],
    }


def _merge_sa_detail(result, states_by_serial, match, line):
    """Merge an SA detail line (``esp.XXXX@peer ... Traffic: ...``) into the state with its serial.

    When the detail line comes first, a placeholder state without a story holds the details
    until the state line itself arrives (see :func:`_add_state_line`).
    """
    serial = int(match.group('serial'))
    rest = match.group('rest') or ''
    state = states_by_serial.get(serial)
    if state is None:
        state = _parse_state_line(match, line)
        state.update({'description': None, 'kind': None, 'established': False, 'events': None})
        states_by_serial[serial] = state
        result['states'].append(state)
    state['sa_details'] = rest
    state['extra_lines'].append(line)
    for proto, direction, value in _TRAFFIC_KV_RE.findall(rest):
        number = _BYTES_RE.match(value)
        state['traffic'][proto + direction] = int(number.group(1)) if number else value


def _add_state_line(result, states_by_serial, match, line):
    """Add one ``#N: ...`` line to ``result['states']`` (SA detail lines merge into their state)."""
    serial = int(match.group('serial'))
    rest = match.group('rest') or ''
    if _SA_DETAIL_RE.match(rest) or (serial in states_by_serial and 'Traffic:' in rest):
        _merge_sa_detail(result, states_by_serial, match, line)
        return
    state = _parse_state_line(match, line)
    if serial in states_by_serial and states_by_serial[serial]['description'] is None:
        # detail line came first: keep its SA details
        old = states_by_serial[serial]
        state['sa_details'] = old['sa_details']
        state['traffic'] = old['traffic']
        state['extra_lines'] = old['extra_lines']
        result['states'][result['states'].index(old)] = state
    else:
        result['states'].append(state)
    states_by_serial[serial] = state


def _note_status_summary(result, line):
    """Totals, SA counts, interfaces and the kernel interface; True when *line* was one of them."""
    total = _TOTAL_RE.match(line)
    if total:
        for word, number in _WORD_COUNT_RE.findall(total.group('rest')):
            result['totals'][word] = int(number)
        return True
    sa_count = _SA_COUNT_RE.match(line)
    if sa_count:
        key = 'ike_sas' if sa_count.group('what') == 'IKE' else 'ipsec_sas'
        result['totals'][key] = dict((word, int(number)) for word, number
                                     in _PAREN_COUNT_RE.findall(sa_count.group('rest')))
        return True
    iface = _INTERFACE_RE.match(line)
    if iface:
        result['interfaces'].append({'name': iface.group('name'), 'detail': iface.group('detail'),
                                     'line': line})
        return True
    kernel = _KERNEL_IF_RE.match(line)
    if kernel:
        result['kernel_interface'] = kernel.group(1)
        return True
    return False


def _add_conn_line(result, match, line):
    """Add one ``"name"...: ...`` line to its connection in ``result['connections']``."""
    instance = _instance_text(match.group('inst'))
    key = _conn_key(match.group('name'), instance)
    conn = result['connections'].get(key)
    if conn is None:
        conn = _new_connection(match.group('name'), instance, match.group('addr'))
        result['connections'][key] = conn
    conn['lines'].append(line)
    _parse_conn_rest(conn, match.group('rest'))


@_never_raise(_empty_status)
def parse_status(text):
    """Parse ``ipsec status`` / ``ipsec auto --status`` / ``ipsec whack --status``.

    Accepts 4.x (every line ``000 ``), 5.x (no prefix, ``STATE_V2_`` dropped in 5.1, state
    names dropped in 5.4) and Openswan 2.x.  Returns::

        {
          'connections': {key: {name, instance, instance_address, summary, local, remote,
                                routing, eroute_owner (int), routing_owner (int),
                                ike_version, policy, oriented, fields, lines}},
          'states': [{serial, name, instance, instance_address, port, state (STATE_* or
                      None), description ('established Child SA', 'IPsec SA established'
                      ...), kind ('ike'|'child'|None), established (bool), newest,
                      eroute_owner (bool), parent_serial, events, traffic
                      ({'ESPin': 84, ...}), sa_details, raw, extra_lines}],
          'totals': {'loaded': 1, 'routed': 0, 'active': 0,
                     'ike_sas': {'total': 1, ...}, 'ipsec_sas': {...}},
          'interfaces': [{name, detail, line}],
          'kernel_interface': 'xfrm' or None,
          'version': parse_version() dict when a version line is printed, else None,
          'lines': [...],
        }

    Connection keys are the name as printed plus ``[N]`` for instances
    (``'rw[1]'``).  A state's SA detail line (``esp.XXXX@peer ... Traffic: ...``) is merged
    into the state with the same serial instead of becoming a state of its own.
    """
    result = _empty_status()
    pairs = split_output(text)
    result['lines'] = [line for _code, line in pairs]
    states_by_serial = {}

    for _code, line in pairs:
        stripped = line.strip()
        if not stripped:
            continue

        state_match = _STATE_LINE_RE.match(stripped)
        if state_match:
            _add_state_line(result, states_by_serial, state_match, stripped)
            continue
        if _note_status_summary(result, stripped):
            continue
        conn_match = _CONN_LINE_RE.match(stripped)
        if conn_match:
            _add_conn_line(result, conn_match, stripped)
            continue

        if result['version'] is None and _VERSION_RE.search(stripped):
            result['version'] = parse_version(stripped)

    return result


def _parse_conn_rest(conn, rest):
    """Fill *conn* from the text after '"name":' of one connection line."""
    if rest.startswith('  ') or not rest.strip():
        # indented detail line: "key: value; key: value;"
        detail = rest.strip()
        for part in _split_semicolons(detail):
            # "key: value" / "key=value" / "key:value"; split at the first separator
            # (str.find, not a lazy regex: blank runs would make that quadratic)
            cut = min([index for index in (part.find(':'), part.find('=')) if index > 0] or [0])
            key = part[:cut].strip()
            if cut and _FIELD_NAME_RE.match(key):
                conn['fields'][key] = part[cut + 1:].strip()
        routing = _ROUTING_DETAIL_RE.match(detail)
        if routing:
            conn['routing'] = routing.group('routing').strip()
            owner = _OWNER_DETAIL_RE.search(detail)
            if owner:
                conn['routing_owner'] = int(owner.group(1))
        policy = _POLICY_RE.match(detail)
        if policy:
            conn['policy'] = policy.group('policy').strip()
            version = _POLICY_VERSION_RE.search(conn['policy'])
            if version:
                conn['ike_version'] = int(version.group(1))
        if conn['ike_version'] is None and _ALGO_NEWEST_V2_RE.match(detail):
            conn['ike_version'] = 2
        if re.match(r'^(?:host: )?oriented\b', detail):
            conn['oriented'] = True
        elif re.match(r'^(?:host: )?unoriented\b', detail):
            conn['oriented'] = False
        return
    # summary line: "left...right; routing; eroute owner: #N; ..."
    parts = [part.strip() for part in rest.strip().split(';')]
    conn['summary'] = parts[0] if parts else None
    if conn['summary'] and '...' in conn['summary']:
        conn['local'], conn['remote'] = conn['summary'].split('...', 1)
    if len(parts) > 1 and _ROUTING_RE.match(parts[1]):
        conn['routing'] = parts[1]
    owner = _EROUTE_OWNER_RE.search(rest)
    if owner:
        conn['eroute_owner'] = int(owner.group(1))


def established_children(status, instances=False):
    """Connection names that have an established Child (IPsec) SA in a :func:`parse_status` result.

    Names are printed names without the instance suffix (``'rw'`` for ``"rw"[1]``), or
    with it (``'rw[1]'``) when *instances* is True.  Never raises: anything that is not a
    status dict gives an empty set.
    """
    names = set()
    try:
        for state in status.get('states', []):
            if state.get('kind') == 'child' and state.get('established'):
                if instances:
                    names.add(_conn_key(state.get('name'), state.get('instance')))
                else:
                    names.add(state.get('name'))
    except (AttributeError, TypeError):
        return set()
    return names


# ---------------------------------------------------------------------------
# ipsec showhostkey
# ---------------------------------------------------------------------------

# --list / --dump: '< 1> RSA keyid: AwEAAep6w ckaid: 8e9c20a8...' (4.x and 5.x alike).
_HOSTKEY_LIST_RE = re.compile(
    r'^\s*<\s*(?P<index>\d+)\s*>\s+(?P<type>[A-Za-z0-9_-]+)\s+keyid:\s*(?P<keyid>\S*)(?:\s+ckaid:\s*(?P<ckaid>\S+))?')
# --left/--right value: '\tleftrsasigkey=0sAwEAA...' (4.x/5.x TAB-indented), Openswan
# 'leftrsasigkey=0sAQ...' (maybe without the TAB); 5.x ECDSA/EdDSA/PEM spellings.
_HOSTKEY_VALUE_RE = re.compile(
    r'^\s*(?P<side>left|right)(?P<type>rsasigkey|ecdsakey|eddsakey|pubkey)\s*=\s*(?P<value>\S+)')
# comment above the value: Openswan '# RSA 2048 bits   host   date', 5.4 '# left keyid: X',
# 4.10 '# rsakey AwEAAep6w' (also '# ecdsakey ...').
_HOSTKEY_OPENSWAN_RE = re.compile(r'^\s*#\s*RSA\s+(?P<bits>\d+)\s+bits\b\s*(?P<host>\S+)?\s*(?P<date>.*)$')
_HOSTKEY_SIDE_KEYID_RE = re.compile(r'^\s*#\s*(?P<side>left|right)\s+keyid:\s*(?P<keyid>\S+)')
_HOSTKEY_TYPE_KEYID_RE = re.compile(r'^\s*#\s*(?P<type>rsakey|ecdsakey|eddsakey|pubkey)\s+(?P<keyid>\S+)')
# 'ckaid: 8e9c...' when a comment prints it (test transcripts normalise to '<<CKAID#1>>').
_HOSTKEY_CKAID_RE = re.compile(r'\bckaid[:=]\s*(?P<ckaid>[0-9a-fA-F<>#A-Z]+)')
# DNS form: 'west.    IN    IPSECKEY  10 0 2 . AwEAA...'
_IPSECKEY_RE = re.compile(
    r'^(?P<name>\S+)\s+IN\s+IPSECKEY\s+(?P<precedence>\d+)\s+(?P<gateway_type>\d+)\s+(?P<algorithm>\d+)'
    r'\s+(?P<gateway>\S+)\s+(?P<key>\S+)')
# Errors of the showhostkey tool itself (LIBRESWAN-CLI.md, "Host keys").
_HOSTKEY_ERRORS = (
    ('no_keys', re.compile(r'\bNo keys? found\b', re.I)),
    ('nss_not_initialised', re.compile(
        r"SEC_ERROR_BAD_DATABASE|Please run 'ipsec initnss|\binitnss\b|NSS\b.{0,40}\bnot (?:been )?initiali[sz]ed", re.I)),
    ('other', re.compile(r'\berror\b|\bfailed\b|\bno key selected\b|\bmust specify\b|\busage:', re.I)),
)


def _empty_hostkey(text=None):
    return {
        'side': None,
        'key_type': None,
        'rsasigkey': None,
        'keyid': None,
        'ckaid': None,
        'bits': None,
        'comment': None,
        'line': None,
        'pem': None,
        'ipseckey': None,
        'keys': [],
        'error': None,
        'lines': _safe_lines(text) if text is not None else [],
    }


@_never_raise(lambda text: [])
def parse_showhostkey_list(text):
    """Parse ``ipsec showhostkey --list`` (or ``--dump``).

    Returns one ``{index (int), type ('RSA', 'ECDSA', 'EDDSA'), keyid, ckaid (or None),
    line}`` per key; an empty database prints nothing and gives ``[]``.
    """
    keys = []
    for _code, line in split_output(text):
        match = _HOSTKEY_LIST_RE.match(line)
        if match:
            keys.append({
                'index': int(match.group('index')),
                'type': match.group('type'),
                'keyid': match.group('keyid') or None,
                'ckaid': match.group('ckaid'),
                'line': line.strip(),
            })
    return keys


@_never_raise(_empty_hostkey)
def parse_showhostkey(text):
    """Parse ``ipsec showhostkey`` output of any form.

    ``--left``/``--right`` (``--ckaid X``) output gives ``side`` ('left'|'right'),
    ``key_type`` ('rsasigkey'|'ecdsakey'|'eddsakey'|'pubkey'), ``rsasigkey`` (the value as
    printed, ``0sAwEAA...``, whatever its type), ``line`` (e.g. ``'leftrsasigkey=0s...'``
    without leading blanks, ready for ipsec.conf), ``keyid`` (4.10 ``# rsakey X`` or 5.4
    ``# left keyid: X``), ``ckaid`` when printed, ``bits`` (Openswan ``# RSA 2048 bits``)
    and ``comment``.  ``--list`` output fills ``keys`` (see :func:`parse_showhostkey_list`);
    ``--pem`` fills ``pem``; ``--ipseckey`` fills ``ipseckey``.  ``error`` is None or
    ``{kind: 'no_keys'|'nss_not_initialised'|'other', line}``.  Empty output: no keys, no error.
    """
    result = _empty_hostkey()
    pairs = split_output(text)
    result['lines'] = [line for _code, line in pairs]
    result['keys'] = parse_showhostkey_list(text)
    pem_lines = None
    errors = []
    for _code, line in pairs:
        stripped = line.strip()
        if not stripped:
            continue
        if stripped.startswith('-----BEGIN '):
            pem_lines = [stripped]
            continue
        if pem_lines is not None:
            pem_lines.append(stripped)
            if stripped.startswith('-----END '):
                if result['pem'] is None:
                    result['pem'] = '\n'.join(pem_lines) + '\n'
                pem_lines = None
            continue
        value = _HOSTKEY_VALUE_RE.match(line)
        if value:
            if result['rsasigkey'] is None:
                result['side'] = value.group('side')
                result['key_type'] = value.group('type')
                result['rsasigkey'] = value.group('value')
                result['line'] = stripped
            continue
        if stripped.startswith('#'):
            openswan = _HOSTKEY_OPENSWAN_RE.match(line)
            side_keyid = _HOSTKEY_SIDE_KEYID_RE.match(line)
            type_keyid = _HOSTKEY_TYPE_KEYID_RE.match(line)
            if openswan:
                result['bits'] = int(openswan.group('bits'))
            elif side_keyid:
                result['keyid'] = side_keyid.group('keyid')
            elif type_keyid:
                result['keyid'] = type_keyid.group('keyid')
            ckaid = _HOSTKEY_CKAID_RE.search(line)
            if ckaid:
                result['ckaid'] = ckaid.group('ckaid')
            if result['comment'] is None:
                result['comment'] = stripped
            continue
        ipseckey = _IPSECKEY_RE.match(stripped)
        if ipseckey:
            if result['ipseckey'] is None:
                info = ipseckey.groupdict()
                for key in ('precedence', 'gateway_type', 'algorithm'):
                    info[key] = int(info[key])
                result['ipseckey'] = info
            continue
        if _HOSTKEY_LIST_RE.match(line):
            continue
        for kind, regex in _HOSTKEY_ERRORS:
            if regex.search(stripped):
                errors.append({'kind': kind, 'line': stripped})
                break
    if errors:
        ranks = dict((kind, rank) for rank, (kind, _regex) in enumerate(_HOSTKEY_ERRORS))
        result['error'] = sorted(errors, key=lambda err: ranks[err['kind']])[0]
    if result['ckaid'] is None and len(result['keys']) == 1 and result['rsasigkey'] is None:
        result['ckaid'] = result['keys'][0]['ckaid']
        result['keyid'] = result['keys'][0]['keyid']
    return result


# ---------------------------------------------------------------------------
# ipsec verify (4.x and Openswan; gone in 5.x)
# ---------------------------------------------------------------------------

# 'label<blanks or TAB>[STATUS]' - the verdict is the last bracket group on the line;
# a line holding only '[OK]' belongs to the wrapped label printed just before it.
# (Split with rfind rather than one regex: a lazy label followed by optional blanks
# would backtrack quadratically on long blank-filled lines.)
_VERIFY_STATUS_RE = re.compile(r'^[A-Za-z][A-Za-z0-9 /_-]{0,30}$')


def _split_verify_line(line):
    """``'label<TAB>[OK]'`` -> ``('label', 'OK')``; None when the line carries no verdict."""
    if not line.endswith(']'):
        return None
    start = line.rfind('[')
    if start < 0:
        return None
    status = line[start + 1:-1]
    if not _VERIFY_STATUS_RE.match(status):
        return None
    return line[:start].rstrip(' \t.:'), status


#: Verdicts that mean "nothing to fix".  ``DISABLED`` is what verify prints for features
#: that should be off (opportunistic encryption); ``N/A`` for checks that do not apply.
#: Everything else (FAILED, NOT DISABLED, WARNING, ENABLED - e.g. rp_filter - and any
#: verdict this module does not know) is *not* ok.
VERIFY_OK_STATUSES = frozenset(['OK', 'N/A', 'DISABLED', 'PASSED', 'YES', 'SKIPPED'])

#: Check-name regex (case-insensitive) -> what to do about a check that is not ok.
#: The first matching entry wins (dicts keep insertion order).
VERIFY_REMEDIES = {
    r'opportunistic|\bOE\b': 'ignore: opportunistic encryption is not used by site-to-site tunnels',
    r'ip[ _]?forward': 'enable net.ipv4.ip_forward=1 (the firewall role does it)',
    r'rp_filter': 'set net.ipv4.conf.<wan>.rp_filter (and .all) to 0 or 2 on the WAN interfaces',
    r'send_redirects': 'disable sending ICMP redirects: net.ipv4.conf.all.send_redirects=0 '
                       'and net.ipv4.conf.default.send_redirects=0',
    r'accept_redirects': 'disable accepting ICMP redirects: net.ipv4.conf.all.accept_redirects=0 '
                         'and net.ipv4.conf.default.accept_redirects=0',
    r'pluto (?:is )?running|pluto listening|checking that pluto': 'start the IPsec service: systemctl start ipsec',
    r'\bNSS\b|initnss': 'initialise the NSS database: ipsec initnss',
    r"'ip' command|\bip command\b": 'install iproute2',
    r"iptables|nftables|'nft' command": 'install nftables (it provides the iptables-nft commands)',
    r'NAT and MASQUERAD': 'exempt tunnel traffic from NAT/masquerading (the firewall role does it)',
    r'ipsec\.secrets?|RSA private key': 'check /etc/ipsec.secrets (permissions 0600, syntax)',
    r'ipsec\.conf syntax': "fix /etc/ipsec.conf: 'ipsec addconn --checkconfig' shows the error",
    r'obsolete ipsec\.conf': 'remove the obsolete options from /etc/ipsec.conf',
    r'prelink': 'remove prelink (it interferes with FIPS self-checks)',
    r'IPsec support in kernel|XFRM|NETKEY': 'load the kernel IPsec modules (xfrm_user, esp4) or use a kernel that has them',
}

_VERIFY_REMEDY_RES = tuple((re.compile(pattern, re.I), remedy) for pattern, remedy in VERIFY_REMEDIES.items())


def verify_remedy(name):
    """Remedy sentence for an ``ipsec verify`` check name, or None if none is known."""
    try:
        name = _to_text(name)
    except Exception:  # pylint: disable=broad-except
        return None
    for regex, remedy in _VERIFY_REMEDY_RES:
        if regex.search(name):
            return remedy
    return None


def _empty_verify(text=None):
    return {
        'checks': [],
        'failed': [],
        'preamble': [],
        'version': None,
        'lines': _safe_lines(text) if text is not None else [],
    }


@_never_raise(_empty_verify)
def parse_verify(text):
    """Parse ``ipsec verify`` (Libreswan 4.x, Openswan 2.x).

    Returns ``checks``: ``[{name, status (upper-case text in the brackets), ok, indent,
    parent (name of the enclosing check for indented sub-checks, else None), details
    (free-text lines printed after it), remedy (None when ok), line}]``; ``failed``: the
    names of checks that are not ok; ``preamble``: free text before the first check;
    ``version``: :func:`parse_version` of a version line (``Libreswan 4.10``,
    ``Linux Openswan U2.2.0/...``) if printed; ``lines``.

    ``ok`` is True exactly for :data:`VERIFY_OK_STATUSES` (OK, N/A, DISABLED ...), False
    for FAILED, NOT DISABLED, WARNING, ENABLED and anything unknown.  The exit status of
    verify (number of failures) is for the caller to compare.
    """
    result = _empty_verify()
    pairs = split_output(text)
    result['lines'] = [line for _code, line in pairs]
    checks = result['checks']
    for _code, line in pairs:
        if not line.strip():
            continue
        match = _split_verify_line(line)
        if match is None:
            if checks:
                checks[-1]['details'].append(line.strip())
            else:
                result['preamble'].append(line.strip())
            if result['version'] is None and _VERSION_RE.search(line):
                result['version'] = parse_version(line)
            continue
        label, status = match
        indent = len(label) - len(label.lstrip())
        name = label.strip().rstrip(':').strip()
        if not name:
            # status on its own line: the label was the free-text line just before it
            owner = checks[-1]['details'] if checks else result['preamble']
            if owner:
                name = owner.pop()
            else:
                name = ''
        status = re.sub(r'\s+', ' ', status.strip()).upper()
        parent = None
        for previous in reversed(checks):
            if previous['indent'] < indent:
                parent = previous['name']
                break
        ok = status in VERIFY_OK_STATUSES
        remedy = None
        if not ok:
            remedy = verify_remedy(name) or (verify_remedy(parent) if parent else None)
        checks.append({
            'name': name,
            'status': status,
            'ok': ok,
            'indent': indent,
            'parent': parent,
            'details': [],
            'remedy': remedy,
            'line': line,
        })
    result['failed'] = [check['name'] for check in checks if not check['ok']]
    return result


# ---------------------------------------------------------------------------
# ipsec --version / ipsec version
# ---------------------------------------------------------------------------

# 'Libreswan 4.10', 'Linux Libreswan 4.10 (XFRM) on 6.1.0-...', 'Linux Libreswan
# U3.32/K5.10 (netkey) on ...', 'Linux Openswan U2.6.38/K3.10...', 'Linux strongSwan U5.9.8/K6.1.0'.
_VERSION_RE = re.compile(
    r'\b(?P<product>libreswan|openswan|strongswan)\s+(?:[Uv])?(?P<version>\d+(?:\.\d+)*)(?P<suffix>[0-9A-Za-z~+_-]*)'
    r'(?:/K(?P<kernel>[^\s(]\S*))?', re.I)
# '... (XFRM) on 6.1.0-13-amd64': the running kernel when no '/K...' part says it.
_KERNEL_ON_RE = re.compile(r'\bon (\S+)')


def _empty_version(text=None):
    return {'product': None, 'version': None, 'version_full': None, 'major': None, 'minor': None,
            'kernel': None, 'raw': _to_text(text).strip() if text is not None else ''}


@_never_raise(_empty_version)
def parse_version(text):
    """Parse ``ipsec --version`` / ``ipsec version``.

    Returns ``{product ('libreswan'|'openswan'|'strongswan'|None), version ('4.10'),
    version_full ('5.0rc1' when a suffix follows), major (int), minor (int), kernel (the
    ``/K...`` or ``on ...`` part when printed), raw (the matching line, else all text)}``.
    """
    result = _empty_version()
    result['raw'] = _to_text(text).strip()
    for _code, line in split_output(text):
        match = _VERSION_RE.search(line)
        if not match:
            continue
        product = match.group('product').lower()
        version = match.group('version')
        numbers = version.split('.')
        result.update({
            'product': product,
            'version': version,
            'version_full': version + match.group('suffix'),
            'major': _int_or_none(numbers[0]),
            'minor': _int_or_none(numbers[1]) if len(numbers) > 1 else None,
            'raw': line.strip(),
        })
        kernel = match.group('kernel')
        if kernel is None:
            on = _KERNEL_ON_RE.search(line[match.end():])
            kernel = on.group(1) if on else None
        result['kernel'] = kernel
        break
    return result


# ---------------------------------------------------------------------------
# ipsec auto --add / --replace, ipsec add / replace
# ---------------------------------------------------------------------------

# '"x": added IKEv2 connection', '"x": added oriented IKEv2 connection', '"x": added
# unoriented IKEv2 connection (neither left=... nor right=... match an interface)',
# '"x": added oriented passthrough connection'; 3.x/4.x early: 'added connection description "x"'.
_ADDED_RE = re.compile(
    r'^"(?P<name>[^"]*)"(?:\[[^\]]*\])*: added (?:(?P<orient>oriented|unoriented) )?(?:(?P<what>[\w-]+) )?connection\b')
_ADDED_OLD_RE = re.compile(r'^added connection description "(?P<name>[^"]*)"')
# Failures that name the connection they are about.
_ADD_FAIL_NAMED_RES = (
    re.compile(r'^"(?P<name>[^"]*)"(?:\[[^\]]*\])*: failed to add (?:[\w-]+ )?connection\b'),
    re.compile(r"^conn '?(?P<name>[^':]+?)'? did not load properly"),
    re.compile(r"^conn '?(?P<name>[^']+?)'?: not found \(tried aliases\)"),
    re.compile(r"^while loading '(?P<name>[^']*)':"),
)
# Failures that name none: addconn FATAL ERROR, bare config complaints.
# 5.2 addconn dies on some bad values ('leftrsasigkey=' empty) with 'FATAL: ASSERTION FAILED:
# ipsec addconn: ...' and exit 134, printing nothing else (seen live).
_ADD_FAIL_RE = re.compile(
    r'\bFATAL ERROR\b|\bASSERTION FAILED\b|failed to add (?:[\w-]+ )?connection|did not load properly|not found \(tried aliases\)'
    r'|\bconnection must use\b|\bunrecognized keyword\b|\bsyntax error\b|Pluto is not running'
    r'|connect\(pluto_ctl\) failed|\bno connection (?:or alias )?named\b'
    r'|\bikev1-policy\b.{0,60}\b(?:drop|reject|refus|not allow)|\bIKEv1 (?:is )?(?:not (?:supported|allowed)|disabled)\b',
    re.I)
# 'ipsec add: warning: ... obsolete keyword ignored: dpdaction=hold', 5.x's deprecation
# notice for 'ipsec auto': worth showing, never a reason to fail.
_WARNING_RE = re.compile(r'\bwarning\b|\bobsolete\b|\bdeprecated\b', re.I)


# A keyword Libreswan read and then did not use. 4.10 addconn: 'conn: "voice" warning IKEv2 liveness uses
# retransmit-timeout=, dpdtimeout= ignored'; 5.x checkconfig: 'ipsec addconn: /x/voice.conf:5: warning: obsolete
# keyword ignored: dpdaction=hold'; 5.x pluto on add: '"voice": warning: IKEv1 only fragmentation=force ignored;
# using fragmentation=yes'.
_IGNORED_KEYWORD_RES = (
    re.compile(r'\bobsolete keyword(?: ignored)?:\s*(?P<keyword>[a-z][a-z0-9_-]*)', re.I),
    re.compile(r'\b(?P<keyword>[a-z][a-z0-9_-]*)=\S*\s+(?:is\s+)?(?:ignored|obsolete|deprecated)\b', re.I),
    re.compile(r'\bdeprecated (?:keyword|option)\b\W*(?P<keyword>[a-z][a-z0-9_-]*)', re.I),
)
_WARNING_CONN_RE = re.compile(r'(?:^|conn:\s*)"(?P<conn>[^"]+)"')
_WARNING_FILE_RE = re.compile(r'(?P<file>/\S+?\.conf):\d+:')


@_never_raise(lambda text: [])
def ignored_keywords(text):
    """Every keyword that the output of ``addconn``/``checkconfig``/``add`` says was read and not used:
    ``[{keyword, conn, file, line}]`` (conn without its /NxM suffix, or None; file the .conf named, or None)."""
    found = []
    for _code, line in split_output(text):
        stripped = line.strip()
        if not re.search(r'\bwarning\b|\bobsolete\b|\bdeprecated\b|\bignored\b', stripped, re.I):
            continue
        for regex in _IGNORED_KEYWORD_RES:
            match = regex.search(stripped)
            if match:
                conn = _WARNING_CONN_RE.search(stripped)
                path = _WARNING_FILE_RE.search(stripped)
                found.append({'keyword': match.group('keyword').lower(),
                              'conn': re.sub(r'/\d+x\d+$', '', conn.group('conn')) if conn else None,
                              'file': path.group('file') if path else None, 'line': stripped})
                break
    return found


def _empty_add(text=None):
    return {
        'loaded': None,
        'connections': [],
        'added': [],
        'failures': [],
        'error': None,
        'warnings': [],
        'lines': _safe_lines(text) if text is not None else [],
        'codes': [],
    }


def _add_failure_kind(line):
    kind = _classify_message(line)
    if kind in ('not_loaded', 'no_connection'):
        return kind
    return 'config'


@_never_raise(_empty_add)
def parse_add(text, name=None):
    """Parse ``ipsec auto --add|--replace NAME`` / ``ipsec add|replace NAME``.

    Returns ``loaded`` (True/False, or None when the text says nothing - 4.10 prints
    nothing at all when stdout is not a terminal), ``connections`` (names reported
    added), ``added`` (``{name, oriented, what ('IKEv2', 'passthrough' ...), line}``),
    ``failures`` (``{name or None, kind, line}`` for every failure line, also those about
    other conns of the same file), ``error`` (None or the ``{kind, line}`` that explains
    why *name* - or, without *name*, the load - failed; kind 'config', 'no_connection' or
    'not_loaded'), ``warnings`` (lines mentioning warning/obsolete/deprecated), ``lines``
    and ``codes``.  With *name*, ``loaded`` is about that connection.
    """
    result = _empty_add()
    pairs = split_output(text)
    result['lines'] = [line for _code, line in pairs]
    result['codes'] = [code for code, _line in pairs]
    name = _to_text(name) if name is not None else None
    for _code, line in pairs:
        stripped = line.strip()
        if not stripped:
            continue
        added = _ADDED_RE.match(stripped) or _ADDED_OLD_RE.match(stripped)
        if added:
            info = added.groupdict()
            orient = info.get('orient')
            result['added'].append({
                'name': info['name'],
                'oriented': None if orient is None else orient == 'oriented',
                'what': info.get('what'),
                'line': stripped,
            })
            if info['name'] not in result['connections']:
                result['connections'].append(info['name'])
            continue
        failed_name = None
        failed = False
        for regex in _ADD_FAIL_NAMED_RES:
            match = regex.match(stripped)
            if match:
                failed_name = match.group('name')
                failed = True
                break
        hard = failed or _ADD_FAIL_RE.search(_story(stripped))
        if _WARNING_RE.search(_story(stripped)) and not hard:
            result['warnings'].append(stripped)
            continue
        if hard:
            if failed_name is None:
                quoted = re.match(r'^"([^"]*)"', stripped)
                failed_name = quoted.group(1) if quoted else None
            result['failures'].append({'name': failed_name, 'kind': _add_failure_kind(stripped), 'line': stripped})

    if name is not None:
        relevant = [fail for fail in result['failures'] if fail['name'] in (None, name)]
        if name in result['connections']:
            result['loaded'] = True
        elif relevant:
            result['loaded'] = False
        elif result['connections']:
            result['loaded'] = True   # an alias: other names were added, nothing failed
        else:
            result['loaded'] = None
    else:
        relevant = result['failures']
        if result['connections']:
            result['loaded'] = True
        elif relevant:
            result['loaded'] = False
    if result['loaded'] is False and relevant:
        best = _pick_error(relevant)
        result['error'] = {'kind': best['kind'], 'line': best['line']}
    return result


# ---------------------------------------------------------------------------
# ipsec auto --down / ipsec down
# ---------------------------------------------------------------------------

# 'deleting IKE SA (established IKE SA)', 'deleting IPsec SA (QUICK_I2) and sending
# notification' (5.x), 'deleting state (STATE_V2_ESTABLISHED_CHILD_SA) and sending
# notification' (4.x), 'initiating delete of connection's IKE SA #1 (and Child SA #2)'.
# 'terminating SAs using this connection' alone is not a deletion: pluto prints it even
# when the connection had no SA.
_DELETED_RE = re.compile(
    r"^deleting (?:IKE SA|ISAKMP SA|IPsec SA|Child SA|state)\b|\binitiating delete of\b"
    r"|\bdelete (?:established |larval )?(?:IKE|ISAKMP|IPsec|Child) SA\b|^\w+ traffic information:", re.I)
# lines whose own "#N" is the SA going away; pluto prints "ESP traffic information: in=84B
# out=84B" for a Child SA when it deletes it.
_DELETED_OWN_SERIAL_RE = re.compile(r"^(?:deleting|sent INFORMATIONAL request to delete)\b|^\w+ traffic information:")
# serials an "initiating delete of connection's IKE SA #1 (and Child SA #2)" line names;
# those after "using" are kept SAs, not deleted ones.
_SA_SERIAL_RE = re.compile(r'(?<!using )\b(?:IKE|ISAKMP|IPsec|Child) SA #(\d+)')


def _empty_down(text=None):
    return {'deleted': False, 'serials': [], 'connections': [], 'error': None,
            'lines': _safe_lines(text) if text is not None else [], 'codes': []}


@_never_raise(_empty_down)
def parse_down(text):
    """Parse ``ipsec auto --down NAME`` / ``ipsec down NAME``.

    Returns ``deleted`` (True if any SA deletion was reported), ``serials`` (sorted ints of
    the SAs deleted), ``connections`` (names seen), ``error`` (None or ``{kind, line}``,
    e.g. 'no_connection', 'not_loaded'), ``lines``, ``codes``.  A connection that was not
    up prints nothing: deleted False and no error.
    """
    result = _empty_down()
    pairs = split_output(text)
    result['lines'] = [line for _code, line in pairs]
    result['codes'] = [code for code, _line in pairs]
    serials = set()
    errors = []
    for _code, line in pairs:
        if not line.strip():
            continue
        parsed, message = _message_of(line)
        if parsed is not None and parsed['tag'] is None and parsed['name'] not in result['connections']:
            result['connections'].append(parsed['name'])
        if _DELETED_RE.search(_story(message)):
            result['deleted'] = True
            if parsed is not None and parsed['serial'] is not None and _DELETED_OWN_SERIAL_RE.match(message):
                serials.add(parsed['serial'])
            if 'initiating delete of' in message:
                serials.update(int(number) for number in _SA_SERIAL_RE.findall(message))
            continue
        kind = _classify_message(message, parsed and parsed['tag'])
        if kind in ('not_loaded', 'no_connection'):
            errors.append({'kind': kind, 'line': line})
    result['serials'] = sorted(serials)
    result['error'] = _pick_error(errors)
    return result
