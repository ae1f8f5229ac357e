# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""ansible-doc renders every module and every filter of the collection, without a warning."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import glob
import os
import subprocess
import sys

import pytest

REPO = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..'))
ANSIBLE_DOC = os.path.join(os.path.dirname(sys.executable), 'ansible-doc')


def plugins(kind):
    return sorted(os.path.splitext(os.path.basename(path))[0]
                  for path in glob.glob(os.path.join(REPO, 'plugins', kind, '*.py'))
                  if not os.path.basename(path).startswith('_'))


def ansible_doc(*args):
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, 'ansible.cfg'), ANSIBLE_NOCOLOR='1',
               ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO, '.venv', 'collections'))
    return subprocess.run([ANSIBLE_DOC] + list(args), cwd=REPO, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True, timeout=120, check=False)


def assert_renders(kind, name):
    proc = ansible_doc('-t', kind, 'sitevpn.ipsec.' + name)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.strip() == '', proc.stderr      # a doc YAML problem shows up as a warning
    assert 'sitevpn.ipsec.' + name in proc.stdout
    assert 'EXAMPLES' in proc.stdout, 'no examples'


@pytest.mark.parametrize('name', plugins('modules'))
def test_module_documentation_renders(name):
    assert_renders('module', name)


@pytest.mark.parametrize('name', plugins('filter'))
def test_filter_documentation_renders(name):
    assert_renders('filter', name)


@pytest.mark.parametrize('kind', ['module', 'filter'])
def test_every_plugin_file_is_listed(kind):
    proc = ansible_doc('-t', kind, '-l', 'sitevpn.ipsec')
    assert proc.returncode == 0 and proc.stderr.strip() == '', proc.stderr
    listed = set(line.split()[0] for line in proc.stdout.splitlines() if line.strip())
    expected = set('sitevpn.ipsec.' + name for name in plugins('modules' if kind == 'module' else 'filter'))
    assert expected <= listed, expected - listed
