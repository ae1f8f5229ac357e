# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Parser of ``ipsec trafficstatus`` / ``ipsec whack --trafficstatus`` output."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import re

from ._common import (
    _instance_text,
    _int_or_none,
    _never_raise,
    split_output,
)


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
