# -*- coding: utf-8 -*-
"""How the runner starts commands: as AnsibleModule.run_command would, minus its fork.

run_command always gives Popen a ``preexec_fn``, so Python forks the whole module process for every
command; in a slow guest that cost adds up (50 ``ipsec auto --up`` side by side: 6.4-6.8 s against
4.6 s). The runner starts them itself where the module has ansible-core's run_command, with the
same environment, input and failure, and goes through run_command wherever something replaced it.
"""

from __future__ import absolute_import, division, print_function

import sys

import pytest

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.sitevpn.ipsec.plugins.module_utils import _runner

PY = sys.executable


class Failed(Exception):
    pass


class StockModule(AnsibleModule):
    """An AnsibleModule with ansible-core's run_command, without parsing module arguments."""

    def __init__(self, check_mode=False):          # pylint: disable=super-init-not-called
        self.check_mode = check_mode
        self.failed_with = None

    def fail_json(self, **kwargs):
        self.failed_with = kwargs
        raise Failed(kwargs["msg"])


def test_spawn_gives_the_command_the_environment_and_input_run_command_would():
    module = StockModule()
    rc, out, err = _runner.spawn(module, [PY, "-c", "import os, sys; d = sys.stdin.read(); "
                                          "print(os.environ['LC_ALL'], repr(d)); sys.stderr.write('warn'); "
                                          "sys.exit(3)"], {"LC_ALL": "C"}, data="secret-free input")
    assert (rc, out, err) == (3, "C 'secret-free input\\n'\n", "warn")


def test_spawn_without_input_gives_the_command_an_empty_stdin():
    rc, out, _err = _runner.spawn(StockModule(), [PY, "-c", "import sys; print(repr(sys.stdin.read()))"], {})
    assert (rc, out) == (0, "''\n")


def test_spawn_keeps_output_that_is_not_utf8():
    _rc, out, _err = _runner.spawn(StockModule(), [PY, "-c", "import sys; sys.stdout.buffer.write(b'a\\xffb')"], {})
    assert out.encode("utf-8", "surrogateescape") == b"a\xffb"


def test_spawn_drops_ansiballz_paths_from_pythonpath(monkeypatch):
    monkeypatch.setenv("PYTHONPATH", "/tmp/ansible_x/ansible_modlib.zip:/opt/lib")
    _rc, out, _err = _runner.spawn(StockModule(), [PY, "-c", "import os; print(os.environ['PYTHONPATH'])"], {})
    assert out == "/opt/lib\n"


def test_a_missing_program_fails_the_module_as_run_command_does():
    module = StockModule()
    with pytest.raises(Failed):
        _runner.spawn(module, ["/nonexistent/ipsec", "status"], {})
    assert module.failed_with["cmd"] == "/nonexistent/ipsec status"
    assert module.failed_with["rc"] == 2


def test_the_runner_starts_commands_itself_where_the_module_has_the_stock_run_command(monkeypatch):
    started = []
    monkeypatch.setattr(_runner, "spawn", lambda module, argv, env, data=None: started.append((argv, env)) or (0, "", ""))
    runner = _runner.IpsecRunner(StockModule(), binary="/usr/sbin/ipsec")
    runner.run(["status"])
    assert started == [(["/usr/sbin/ipsec", "status"], {"LC_ALL": "C", "LANG": "C"})]
    assert runner.commands == [{"argv": ["/usr/sbin/ipsec", "status"], "rc": 0}]


def test_the_runner_uses_run_command_where_something_replaced_it(monkeypatch):
    class Replaced(StockModule):
        def run_command(self, args, data=None, environ_update=None):
            calls.append((args, environ_update))
            return 0, "ok", ""

    calls = []
    monkeypatch.setattr(_runner, "spawn", lambda *a, **k: pytest.fail("spawn used although run_command was replaced"))
    result = _runner.IpsecRunner(Replaced(), binary="/usr/sbin/ipsec").run(["status"])
    assert calls == [(["/usr/sbin/ipsec", "status"], {"LC_ALL": "C", "LANG": "C"})]
    assert result.out == "ok"


def test_check_mode_still_skips_mutating_commands_before_anything_starts(monkeypatch):
    monkeypatch.setattr(_runner, "spawn", lambda *a, **k: pytest.fail("a mutating command started in check mode"))
    runner = _runner.IpsecRunner(StockModule(check_mode=True), binary="/usr/sbin/ipsec")
    assert runner.run(["auto", "--up", "x"], mutating=True).skipped


def test_a_view_of_the_module_that_passes_run_command_through_starts_commands_itself_too(monkeypatch):
    """gateway_info's CheckView hands the real module's run_command to each step's code."""
    class View(object):
        def __init__(self, module):
            self._module = module
            self.check_mode = True

        def __getattr__(self, name):
            return getattr(self._module, name)

    started = []
    monkeypatch.setattr(_runner, "spawn", lambda module, argv, env, data=None: started.append(argv) or (0, "", ""))
    _runner.IpsecRunner(View(StockModule()), binary="/usr/sbin/ipsec").run(["status"])
    assert started == [["/usr/sbin/ipsec", "status"]]
