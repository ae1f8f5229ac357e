# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Run a module's ``main()`` against a case written as data (``test_<module>.yaml``).

A case file is a YAML list; each case has:

``id``
    test id.
``input``
    module parameters. ``{tmp}`` anywhere in a string becomes the test's temporary directory.
``check_mode`` / ``diff`` / ``no_log``
    the ``_ansible_*`` flags (default false).
``run_command_calls``
    every command the module must run, in order: ``argv`` (exact list) and either ``rc``/``out``/``err``
    or ``capture: <version>/<name>.txt`` - a live capture under
    ``tests/unit/plugins/module_utils/data/live`` whose exit code and stdout/stderr split come from
    its ``INDEX.yml`` (``rc``/``out``/``err`` given beside ``capture`` override it; ``head: N`` keeps
    the first N lines of stdout - what a command cut off by ``timeout`` had printed).
``bins``
    overrides of the fake ``get_bin_path`` (``ipsec`` -> ``/usr/sbin/ipsec``, ``timeout``, ``systemctl``,
    ``ip`` ...); ``null`` means "not installed".
``patch``
    module-level constants to replace (``CONF_DIR: "{tmp}/ipsec.d"``), in the module and in the module_utils
    its code lives in (its ``_IMPLEMENTATION``) that define them.
``files``
    files to create first (``path: content``; a path ending in ``/`` makes a directory;
    ``content`` may be ``{capture: <version>/<name>.txt}``, the stdout of a live capture).
``output``
    expected subset of the module's JSON result. Lists must have the same length. A string
    ``"re:..."`` is a regular expression searched in the actual string.
``failed``
    whether ``fail_json`` must be called (default false).
``files_after``
    ``path: content`` after the run (``null``: must not exist).
``not_in_output``
    strings that must not appear anywhere in the printed result (secrets).

The result is what the real ``exit_json``/``fail_json`` print, so masking of ``no_log`` values
and the ``changed``/``failed`` flags are Ansible's own.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os
import re

import yaml

from ansible.module_utils import _internal as ansible_internal
from ansible.module_utils import basic
from ansible.module_utils.common import warnings as ansible_warnings
from ansible.module_utils.testing import patch_module_args

HERE = os.path.dirname(os.path.abspath(__file__))
LIVE_DIR = os.path.normpath(os.path.join(HERE, '..', 'module_utils', 'data', 'live'))

DEFAULT_BINS = {
    'ipsec': '/usr/sbin/ipsec',
    'timeout': '/usr/bin/timeout',
    'systemctl': '/usr/bin/systemctl',
    'ip': '/usr/sbin/ip',
    'certutil': '/usr/bin/certutil',
}

_INDEX = None


def live_capture(name):
    """``(rc, stdout, stderr)`` of a live capture, split as ``INDEX.yml`` records."""
    global _INDEX
    if _INDEX is None:
        with open(os.path.join(LIVE_DIR, 'INDEX.yml')) as handle:
            _INDEX = yaml.safe_load(handle)
    meta = _INDEX[name]
    with open(os.path.join(LIVE_DIR, name)) as handle:
        text = handle.read()
    lines = text.split('\n', 1)[1].splitlines(True)   # drop the '$ command' line
    out_lines = meta['stdout_lines']
    return meta['rc'], ''.join(lines[:out_lines]), ''.join(lines[out_lines:])


def load_cases(test_file):
    path = re.sub(r'\.py$', '.yaml', test_file)
    with open(path) as handle:
        cases = yaml.safe_load(handle)
    ids = [case['id'] for case in cases]
    duplicates = set(i for i in ids if ids.count(i) > 1)
    assert not duplicates, 'duplicate case ids in %s: %s' % (path, duplicates)
    return cases


def _subst(value, tmp):
    if isinstance(value, str):
        return value.replace('{tmp}', tmp)
    if isinstance(value, list):
        return [_subst(item, tmp) for item in value]
    if isinstance(value, dict):
        return dict((_subst(key, tmp), _subst(item, tmp)) for key, item in value.items())
    return value


def assert_subset(expected, actual, path='result'):
    if isinstance(expected, dict):
        assert isinstance(actual, dict), '%s: expected a dict, got %r' % (path, actual)
        for key, value in expected.items():
            assert key in actual, '%s: key %r missing (have %s)' % (path, key, sorted(actual))
            assert_subset(value, actual[key], '%s.%s' % (path, key))
    elif isinstance(expected, list):
        assert isinstance(actual, list), '%s: expected a list, got %r' % (path, actual)
        assert len(expected) == len(actual), '%s: expected %d items, got %d: %r' % (
            path, len(expected), len(actual), actual)
        for index, (want, have) in enumerate(zip(expected, actual)):
            assert_subset(want, have, '%s[%d]' % (path, index))
    elif isinstance(expected, str) and expected.startswith('re:'):
        assert isinstance(actual, str) and re.search(expected[3:], actual, re.S), \
            '%s: %r does not match /%s/' % (path, actual, expected[3:])
    else:
        assert expected == actual, '%s: expected %r, got %r' % (path, expected, actual)


def _message(item):
    if isinstance(item, dict):
        return (item.get('event') or {}).get('msg') or item.get('msg') or json.dumps(item)
    return item


class FakeRunCommand(object):
    """Stands in for ``AnsibleModule.run_command``: checks each argv against the next expected call."""

    def __init__(self, calls):
        self.calls = list(calls)
        self.seen = []

    def __call__(self, module, args, **kwargs):
        argv = [str(arg) for arg in args]
        self.seen.append(argv)
        assert self.calls, 'unexpected command %r (no more calls expected)' % (argv,)
        call = self.calls.pop(0)
        assert argv == [str(arg) for arg in call['argv']], \
            'command #%d: expected %r, got %r' % (len(self.seen), call['argv'], argv)
        rc, out, err = 0, '', ''
        if 'capture' in call:
            rc, out, err = live_capture(call['capture'])
        if 'head' in call:
            # what a command killed early had printed so far
            out = ''.join(out.splitlines(True)[:call['head']])
        rc = call.get('rc', rc)
        out = call.get('out', out)
        err = call.get('err', err)
        return rc, out, err


def _implementation(module):
    """*module* and the module_utils its code lives in (the module's ``_IMPLEMENTATION``: modules that keep
    their code in module_utils, where another module can run it)."""
    return (module,) + tuple(getattr(module, '_IMPLEMENTATION', ()))


def conn_dirs(tmp_path, monkeypatch):
    """The conns' gateway under *tmp_path*: conn files in ``ipsec.d`` (_conn builds their paths, _gateway lists
    the folder), and the folder ``ipsec addconn --checkconfig`` reads named ``check``; returns both paths."""
    from ansible_collections.sitevpn.ipsec.plugins.module_utils import _conn, _gateway
    conf_dir = tmp_path / 'ipsec.d'
    conf_dir.mkdir()
    monkeypatch.setattr(_conn, 'CONF_DIR', str(conf_dir))
    monkeypatch.setattr(_gateway, 'CONF_DIR', str(conf_dir))
    return conf_dir, fixed_temp_path(monkeypatch, _gateway, 'sitevpn-check-', str(tmp_path / 'check'), directory=True)


def fixed_temp_path(monkeypatch, module, prefix, path, directory=False):
    """Make ``module``'s ``tempfile.mkstemp`` (or ``mkdtemp``) return *path* for *prefix*, so a command that
    names the temporary file can be expected by its argv; other callers get a real temporary file.
    ``module``'s ``tempfile`` is the one of the module or of the module_utils its code lives in."""
    name = 'mkdtemp' if directory else 'mkstemp'
    tempfile = next(part.tempfile for part in _implementation(module) if hasattr(part, 'tempfile'))
    real = getattr(tempfile, name)

    def fake(*args, **kwargs):
        if kwargs.get('prefix') != prefix:
            return real(*args, **kwargs)
        if directory:
            os.mkdir(path)
            return path
        return os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600), path
    monkeypatch.setattr(tempfile, name, fake)
    return path


def run_case(module, case, tmp_path, capsys, monkeypatch):
    """Run *module*'s main() for *case*; returns the printed result (dict)."""
    tmp = str(tmp_path)
    case = _subst(case, tmp)

    for path, content in (case.get('files') or {}).items():
        if path.endswith('/'):
            os.makedirs(path, exist_ok=True)
            continue
        directory = os.path.dirname(path)
        if directory:
            os.makedirs(directory, exist_ok=True)
        if isinstance(content, dict):
            content = live_capture(content['capture'])[1]   # e.g. a captured /etc/os-release
        with open(path, 'w') as handle:
            handle.write(content)
    for name, value in (case.get('patch') or {}).items():
        # where the code reads it: the module, or the module_utils its code lives in
        owners = [part for part in _implementation(module) if hasattr(part, name)]
        assert owners, '%s has no constant %s' % (module.__name__, name)
        for owner in owners:
            monkeypatch.setattr(owner, name, value)

    bins = dict(DEFAULT_BINS)
    bins.update(case.get('bins') or {})

    def get_bin_path(self, arg, required=False, opt_dirs=None):
        path = bins.get(arg)
        if path is None and required:
            self.fail_json(msg='Failed to find required executable "%s" in paths: /usr/sbin:/usr/bin' % arg)
        return path

    fake = FakeRunCommand(case.get('run_command_calls') or [])

    def run_command(self, args, **kwargs):
        return fake(self, args, **kwargs)

    monkeypatch.setattr(basic.AnsibleModule, 'run_command', run_command)
    monkeypatch.setattr(basic.AnsibleModule, 'get_bin_path', get_bin_path)
    # warnings are process-global in ansible-core: start every case clean, and as a module would
    # (once controller code is imported - filter plugin tests do - warn() goes to Display instead)
    monkeypatch.setattr(ansible_internal, 'is_controller', False)
    monkeypatch.setattr(ansible_warnings, '_global_warnings', {})
    monkeypatch.setattr(ansible_warnings, '_global_deprecations', {})

    args = dict(case.get('input') or {})
    args['_ansible_check_mode'] = bool(case.get('check_mode'))
    args['_ansible_diff'] = bool(case.get('diff'))
    args['_ansible_no_log'] = bool(case.get('no_log'))
    capsys.readouterr()
    with patch_module_args(args):
        try:
            module.main()
        except SystemExit:
            pass
        else:
            raise AssertionError('main() returned without exit_json/fail_json')
    printed = capsys.readouterr().out
    result = json.loads(printed.strip().splitlines()[-1])
    # ansible-core 2.19 returns warnings as {'event': {'msg': ...}, ...}; compare their text
    result['warnings'] = [_message(item) for item in result.get('warnings', [])]

    assert not fake.calls, 'expected commands were not run: %r' % ([c['argv'] for c in fake.calls],)
    assert bool(result.get('failed')) == bool(case.get('failed')), \
        'failed=%r, expected %r: %s' % (result.get('failed'), case.get('failed'), result.get('msg'))
    assert_subset(case.get('output') or {}, result)
    for secret in case.get('not_in_output') or []:
        assert secret not in printed, 'secret %r appears in the output' % secret
    for path, content in (case.get('files_after') or {}).items():
        if content is None:
            assert not os.path.exists(path), '%s should not exist' % path
        else:
            assert os.path.exists(path), '%s should exist' % path
            with open(path) as handle:
                assert handle.read() == content, '%s: unexpected content' % path
    return result
