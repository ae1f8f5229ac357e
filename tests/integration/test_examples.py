# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Every example inventory passes the preflight as shipped and with its commented tunnels uncommented
(what a reader does with them). The preflight needs no gateway: it runs on the controller."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import functools
import glob
import os
import re
import shutil
import subprocess
import sys

import pytest

REPO = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..'))
PLAYBOOK = os.path.join(REPO, 'tests', 'integration', 'playbooks', 'preflight.yml')
EXAMPLES = sorted(os.path.dirname(path) for path in glob.glob(os.path.join(REPO, 'examples', '*', 'hosts.yml')))


@functools.lru_cache(maxsize=None)    # an example as shipped is checked by two tests: run it once
def preflight(inventory):
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, 'ansible.cfg'), ANSIBLE_NOCOLOR='1',
               ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO, '.venv', 'collections'))
    return subprocess.run([os.path.join(os.path.dirname(sys.executable), 'ansible-playbook'), '-i', inventory,
                           PLAYBOOK, '-v'], env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, timeout=120, check=False)


def uncommented(example, target):
    """A copy of *example* with every commented YAML block line ('  # - name: ...' and what follows)
    uncommented."""
    shutil.copytree(example, target)
    for path in glob.glob(os.path.join(target, '**', '*.yml'), recursive=True):
        with open(path) as handle:
            text = handle.read()
        text = re.sub(r'^(\s*)# (- name: .*|  \S+: .*)$', r'\1\2', text, flags=re.M)
        with open(path, 'w') as handle:
            handle.write(text)
    return target


def test_there_are_examples():
    assert EXAMPLES


@pytest.mark.parametrize('example', EXAMPLES, ids=os.path.basename)
def test_an_example_inventory_passes_the_preflight_as_shipped(example):
    run = preflight(example)
    assert run.returncode == 0, run.stdout[-3000:]
    assert re.search(r'msg"?: "?\d+ tunnels? on \d+ gateways?, all checked', run.stdout), run.stdout[-2000:]


@pytest.mark.parametrize('example', EXAMPLES, ids=os.path.basename)
def test_an_example_inventory_passes_the_preflight_with_its_commented_tunnels(example, tmp_path):
    copy = uncommented(example, str(tmp_path / 'inventory'))
    run = preflight(copy)
    assert run.returncode == 0, run.stdout[-3000:]
    shipped = re.search(r'msg"?: "?(\d+) tunnels?', preflight(example).stdout)
    more = re.search(r'msg"?: "?(\d+) tunnels?', run.stdout)
    assert shipped and more and int(more.group(1)) >= int(shipped.group(1)), run.stdout[-2000:]
