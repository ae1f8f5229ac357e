# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Parser of ``ipsec auto --add|--replace`` / ``ipsec add|replace`` output, and the keywords it says were ignored."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import re

from ._common import (
    _classify_message,
    _never_raise,
    _pick_error,
    _safe_lines,
    _story,
    _to_text,
    split_output,
)


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
