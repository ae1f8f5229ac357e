# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Make ``ansible_collections.sitevpn.ipsec`` importable for plain ``pytest`` runs.

ansible-test runs unit tests from inside an ``ansible_collections/sitevpn/ipsec`` tree,
where the import just works.  A plain checkout is not laid out like that, so this
builds the two missing levels in a temporary directory: ``<tmp>/ansible_collections/
sitevpn/ipsec`` is a symlink to this repository, and ``<tmp>`` goes on ``sys.path``.
No ``__init__.py`` is needed: Python 3 treats the directories as namespace packages.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import atexit
import importlib
import os
import shutil
import sys
import tempfile


def _make_collection_importable():
    try:
        importlib.import_module('ansible_collections.sitevpn.ipsec')
        return
    except ImportError:
        pass
    # tests/unit/conftest.py -> repository root
    repo_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    tmp = tempfile.mkdtemp(prefix='sitevpn-ipsec-collections-')
    atexit.register(shutil.rmtree, tmp, True)
    namespace = os.path.join(tmp, 'ansible_collections', 'sitevpn')
    os.makedirs(namespace)
    os.symlink(repo_root, os.path.join(namespace, 'ipsec'))
    sys.path.insert(0, tmp)
    # an 'ansible_collections' namespace imported earlier recomputes its path lazily;
    # drop failed partial imports so the next import sees the new entry
    for name in list(sys.modules):
        if name == 'ansible_collections.sitevpn' or name.startswith('ansible_collections.sitevpn.'):
            del sys.modules[name]


_make_collection_importable()
