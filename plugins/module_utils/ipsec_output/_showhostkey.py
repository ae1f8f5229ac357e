# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Parsers of ``ipsec showhostkey`` output."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import re

from ._common import (
    _never_raise,
    _safe_lines,
    split_output,
)


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
