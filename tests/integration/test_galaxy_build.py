# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The collection as Galaxy would ship it: built from this working copy, installed, used by FQCN.

``ansible-galaxy collection build`` runs on the working copy as it is (with a
lab, a virtualenv and caches in it), so ``build_ignore`` in galaxy.yml is what
keeps them out. The tarball is installed into an empty path and used from there
only: no ansible.cfg of this repository, no site-packages collections.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os
import subprocess
import sys
import tarfile

import pytest
import yaml

REPO = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..'))
BIN = os.path.dirname(sys.executable)
MAX_BYTES = 1024 * 1024
NEVER_SHIPPED = ('.lab/', '.venv/', '.git/', '.ansible/', '.ci/', 'lab/', 'bench/', 'awx/', 'tests/output/',
                 'tests/lab/', 'peer-config/', 'sitevpn-report/', 'context/', '.pytest_cache/')


def galaxy():
    with open(os.path.join(REPO, 'galaxy.yml')) as handle:
        return yaml.safe_load(handle)


def user_env(collections):
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(collections), ANSIBLE_COLLECTIONS_SCAN_SYS_PATH='false',
               ANSIBLE_NOCOLOR='1')
    env.pop('ANSIBLE_CONFIG', None)
    return env


def run(tool, argv, cwd, collections):
    proc = subprocess.run([os.path.join(BIN, tool)] + argv, cwd=str(cwd), env=user_env(collections),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=300,
                          check=False)
    assert proc.returncode == 0, '%s %s\n%s\n%s' % (tool, ' '.join(argv), proc.stdout[-2000:], proc.stderr[-2000:])
    return proc


@pytest.fixture(scope='module')
def built(tmp_path_factory):
    work = tmp_path_factory.mktemp('build')
    collections = work / 'collections'
    run('ansible-galaxy', ['collection', 'build', REPO, '--output-path', str(work)], work, collections)
    tarball = work / ('sitevpn-ipsec-%s.tar.gz' % galaxy()['version'])
    assert tarball.is_file()
    run('ansible-galaxy', ['collection', 'install', '-p', str(collections), str(tarball)], work, collections)
    return tarball, collections


def test_the_tarball_holds_the_collection_and_nothing_of_the_workshop(built):
    tarball, _collections = built
    size = os.path.getsize(str(tarball))
    with tarfile.open(str(tarball)) as archive:
        names = archive.getnames()
        manifest = json.load(archive.extractfile('MANIFEST.json'))
    print('%s: %d bytes, %d entries' % (tarball.name, size, len(names)))
    assert size < MAX_BYTES
    shipped = [n for n in names for prefix in NEVER_SHIPPED if (n + '/').startswith(prefix)]
    assert shipped == []
    assert [n for n in names if '__pycache__' in n or n.endswith(('.pyc', '.tar.gz', '.retry'))] == []
    for needed in ('README.md', 'requirements.txt', 'meta/runtime.yml', 'playbooks/site_to_site.yml',
                   'playbooks/remove_tunnel.yml', 'docs/site-to-site.md', 'changelogs/changelog.yaml'):
        assert needed in names, needed
    for role in os.listdir(os.path.join(REPO, 'roles')):
        assert 'roles/%s/meta/argument_specs.yml' % role in names, role
    info = manifest['collection_info']
    assert (info['namespace'], info['name'], info['version']) == ('sitevpn', 'ipsec', galaxy()['version'])


def test_the_installed_copy_lists_itself(built):
    _tarball, collections = built
    out = run('ansible-galaxy', ['collection', 'list', 'sitevpn.ipsec'], collections, collections).stdout
    assert str(collections) in out and 'sitevpn.ipsec' in out


@pytest.mark.parametrize('playbook', ['site_to_site', 'remove_tunnel', 'peer_config'])
def test_playbooks_by_fqcn_from_the_installed_copy_pass_the_syntax_check(built, playbook):
    _tarball, collections = built
    out = run('ansible-playbook', ['-i', 'localhost,', '--syntax-check', 'sitevpn.ipsec.' + playbook],
              collections, collections).stdout
    # the playbook resolved to the installed copy
    assert os.path.join(str(collections), 'ansible_collections', 'sitevpn', 'ipsec', 'playbooks', playbook + '.yml') in out


def test_module_docs_from_the_installed_copy(built):
    _tarball, collections = built
    proc = run('ansible-doc', ['-t', 'module', 'sitevpn.ipsec.tunnel'], collections, collections)
    assert str(collections) in proc.stdout       # ansible-doc names the file it read
    assert proc.stderr.strip() == ''
