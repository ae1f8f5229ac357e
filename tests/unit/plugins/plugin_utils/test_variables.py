# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The preflight refuses sitevpn_* variables it does not know (a typo would silently mean the default):
its list must be the collection's list, in both directions."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import glob
import os
import re

from ansible_collections.sitevpn.ipsec.plugins.plugin_utils import _model

REPO = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', '..', '..'))


def _sitevpn_words(*patterns):
    words = set()
    for pattern in patterns:
        for path in glob.glob(os.path.join(REPO, pattern), recursive=True):
            with open(path) as handle:
                text = handle.read()
            if path.endswith(os.path.join('plugin_utils', '_model.py')):   # without the list itself
                text = re.sub(r'\nVARIABLES = \{.*?\n\}\n', '\n', text, flags=re.S)
            words.update(re.findall(r'\bsitevpn_[a-z0-9_]*[a-z0-9]\b', text))
    return words


def test_every_variable_the_roles_and_docs_name_is_known_to_the_preflight():
    """A variable a role reads but the preflight does not know would be refused as a typo."""
    named = _sitevpn_words('roles/*/defaults/*.yml', 'roles/*/meta/argument_specs.yml', 'playbooks/*.yml',
                           'README.md', 'docs/*.md', 'examples/**/*.yml')
    assert 'sitevpn_tunnels' in named and len(named) > 20, 'the files were not found under %s' % REPO
    # the nft table, and the monitor's metric names
    not_variables = {'sitevpn_ipsec'} | set(w for w in named if re.match(r'sitevpn_(tunnel|pluto|libreswan|collector)_', w))
    unknown = sorted(w for w in named - not_variables - _model.VARIABLES if not w.startswith(_model.VARIABLE_PREFIXES))
    assert not unknown, 'named in roles/docs but unknown to the preflight: %s' % ', '.join(unknown)


def test_every_variable_the_preflight_knows_is_read_somewhere():
    used = _sitevpn_words('roles/**/*.yml', 'playbooks/*.yml', 'plugins/**/*.py')
    assert 'sitevpn_tunnels' in used
    stale = sorted(_model.VARIABLES - used)
    assert not stale, 'known to the preflight but read nowhere: %s' % ', '.join(stale)


def test_every_tunnel_key_and_every_variable_is_in_the_readme():
    with open(os.path.join(REPO, 'README.md')) as handle:
        readme = handle.read()
    keys = [k for k in sorted(_model.TUNNEL_KEYS) if not re.search(r'\| `%s`|`%s` /|/ `%s`' % (k, k, k), readme)]
    assert not keys, 'tunnel keys missing in the README tables: %s' % ', '.join(keys)
    variables = [v for v in sorted(_model.VARIABLES) if '`%s`' % v not in readme]
    assert not variables, 'variables missing in the README: %s' % ', '.join(variables)
