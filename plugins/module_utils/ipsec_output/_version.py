# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Parser of ``ipsec --version`` / ``ipsec version`` output."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import re

from ._common import (
    _int_or_none,
    _never_raise,
    _to_text,
    split_output,
)


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
