# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Parser of ``ipsec auto --up`` / ``ipsec up`` output."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import re

from ._common import (
    _classify_message,
    _message_of,
    _never_raise,
    _pick_error,
    _safe_lines,
    _story,
    split_output,
)


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
