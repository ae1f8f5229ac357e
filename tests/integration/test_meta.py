# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Every role has meta/argument_specs.yml, and it declares every default of the role."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os

import pytest
import yaml

REPO = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..'))
ROLES = sorted(name for name in os.listdir(os.path.join(REPO, 'roles'))
               if os.path.isdir(os.path.join(REPO, 'roles', name)))


def load(*parts):
    path = os.path.join(REPO, 'roles', *parts)
    if not os.path.isfile(path):
        return None
    with open(path) as handle:
        return yaml.safe_load(handle)


def test_there_are_roles():
    assert {'install', 'firewall', 'keys', 'tunnel'} <= set(ROLES)


@pytest.mark.parametrize('role', ROLES)
def test_role_has_an_argument_spec_for_its_main_entry_point(role):
    specs = load(role, 'meta', 'argument_specs.yml')
    assert specs is not None, 'roles/%s/meta/argument_specs.yml is missing' % role
    main = specs['argument_specs']['main']
    assert main.get('short_description'), role
    for name, option in (main.get('options') or {}).items():
        assert option.get('description'), '%s: %s has no description' % (role, name)
        assert option.get('type', 'str') in ('str', 'list', 'dict', 'bool', 'int', 'float', 'path', 'raw'), name


@pytest.mark.parametrize('role', ROLES)
def test_every_default_of_the_role_is_in_its_argument_spec(role):
    defaults = load(role, 'defaults', 'main.yml') or {}
    specs = load(role, 'meta', 'argument_specs.yml') or {'argument_specs': {'main': {}}}
    options = specs['argument_specs']['main'].get('options') or {}
    assert sorted(set(defaults) - set(options)) == [], 'undeclared defaults of role %s' % role
