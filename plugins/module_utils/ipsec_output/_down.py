# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Parser of ``ipsec auto --down`` / ``ipsec down`` output."""

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
