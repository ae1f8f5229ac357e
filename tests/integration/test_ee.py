# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""execution-environment.yml: ``ansible-builder create`` makes a complete build context.

No container engine is needed (or used) for ``create``. The collection goes
into the context as the tarball ``ansible-galaxy collection build`` makes, and
is installed from there with ``--offline``: no Galaxy. When the test runs as
root, ``create`` runs in a network namespace of its own with no network at all.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os
import shutil
import subprocess
import sys
import tarfile

import pytest
import yaml

REPO = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..'))
BIN = os.path.dirname(sys.executable)


def load(path):
    with open(path) as handle:
        return yaml.safe_load(handle)


def version():
    return load(os.path.join(REPO, 'galaxy.yml'))['version']


def requirement_lines(path):
    with open(path) as handle:
        return [line.strip() for line in handle if line.strip() and not line.startswith('#')]


def offline():
    """unshare --net: the command sees no network at all (root only)."""
    if os.geteuid() == 0 and shutil.which('unshare'):
        if subprocess.run(['unshare', '--net', 'true'], check=False).returncode == 0:
            return ['unshare', '--net']
    return []


@pytest.fixture(scope='module')
def context(tmp_path_factory):
    """The EE definition beside a freshly built tarball, as `make ee` lays it out, and its build context."""
    work = tmp_path_factory.mktemp('ee')
    for name in ('execution-environment.yml', 'requirements.txt'):
        shutil.copy(os.path.join(REPO, name), str(work / name))
    env = dict(os.environ, ANSIBLE_NOCOLOR='1')
    env.pop('ANSIBLE_CONFIG', None)
    subprocess.run([os.path.join(BIN, 'ansible-galaxy'), 'collection', 'build', REPO, '--output-path', str(work)],
                   cwd=str(work), env=env, check=True, stdout=subprocess.PIPE, timeout=120)
    argv = offline() + [os.path.join(BIN, 'ansible-builder'), 'create', '--file', str(work / 'execution-environment.yml'),
                        '--context', str(work / 'context'), '--output-filename', 'Containerfile', '-v', '3']
    proc = subprocess.run(argv, cwd=str(work), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, timeout=300, check=False)
    print(proc.stdout)
    assert proc.returncode == 0, proc.stdout
    assert 'warning' not in proc.stdout.lower(), proc.stdout     # e.g. "No matches for ... in additional_build_files"
    return work / 'context'


def test_the_definition_is_schema_3_and_names_the_tarball_of_this_version():
    ee = load(os.path.join(REPO, 'execution-environment.yml'))
    assert ee['version'] == 3
    tarball = 'sitevpn-ipsec-%s.tar.gz' % version()
    assert [f['src'] for f in ee['additional_build_files']] == [tarball], 'keep the EE in step with galaxy.yml'
    assert ee['dependencies']['galaxy']['collections'] == [{'name': 'collections/' + tarball, 'type': 'file'}]
    assert ee['dependencies']['python'] == 'requirements.txt'


def test_the_containerfile_builds_the_ee_in_stages(context):
    text = (context / 'Containerfile').read_text()
    ee = load(os.path.join(REPO, 'execution-environment.yml'))
    assert 'ARG EE_BASE_IMAGE="%s"' % ee['images']['base_image']['name'] in text
    assert 'ARG ANSIBLE_GALAXY_CLI_COLLECTION_OPTS="--offline"' in text
    for stage in ('AS base', 'AS galaxy', 'AS builder', 'AS final'):
        assert 'FROM ' in text and stage in text, stage
    assert 'ansible-galaxy collection install $ANSIBLE_GALAXY_CLI_COLLECTION_OPTS -r requirements.yml' in text
    assert 'introspect --user-pip=requirements.txt --user-bindep=bindep.txt' in text
    refs = [line for line in text.splitlines() if line.startswith('ARG ANSIBLE_INSTALL_REFS=')][0]
    assert 'ansible-core>=2.19,<2.20' in refs and 'ansible-runner' in refs


def test_the_collection_tarball_is_in_the_context_and_installed_from_there(context):
    tarball = context / '_build' / 'collections' / ('sitevpn-ipsec-%s.tar.gz' % version())
    assert tarball.is_file()
    with tarfile.open(str(tarball)) as archive:
        info = json.load(archive.extractfile('MANIFEST.json'))['collection_info']
        names = archive.getnames()
    assert (info['namespace'], info['name'], info['version']) == ('sitevpn', 'ipsec', version())
    assert 'playbooks/site_to_site.yml' in names and 'requirements.txt' in names
    galaxy_reqs = load(str(context / '_build' / 'requirements.yml'))
    assert galaxy_reqs == {'collections': [{'name': 'collections/' + tarball.name, 'type': 'file'}]}


def test_the_python_and_system_requirements_are_in_the_context(context):
    python = requirement_lines(str(context / '_build' / 'requirements.txt'))
    assert python == requirement_lines(os.path.join(REPO, 'requirements.txt'))
    names = [line.split('>')[0].split('=')[0].split('<')[0] for line in python]
    assert {'ansible-core', 'jinja2', 'netaddr', 'cryptography'} <= set(names)
    system = (context / '_build' / 'bindep.txt').read_text()
    for package in ('graphviz', 'openssh-clients [platform:rpm]', 'openssh-client [platform:dpkg]'):
        assert package in system, package
