# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private: the one way this collection runs ``ipsec``.

Every call goes through :class:`IpsecRunner`: argv lists (never a shell), the
binary found once, ``LC_ALL=C`` so output parses the same everywhere, mutating
calls skipped in check mode, and every argv recorded so a module can return
what it ran. It also knows the two spellings of the CLI: Libreswan 4.x only
has ``ipsec auto --up X``; 5.x has ``ipsec up X`` and warns on ``auto``.

Not a public API: names may change without notice.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import subprocess

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.sitevpn.ipsec.plugins.module_utils import ipsec_output

#: AnsibleModule.run_command as ansible-core ships it; where a module still has it, commands are started
#: by :func:`spawn` instead (unit tests replace run_command with their fake, and then it is used).
#: None under ansible-test's import check, which stands in an AnsibleModule without run_command.
_STOCK_RUN_COMMAND = getattr(AnsibleModule, "run_command", None)


def spawn(module, argv, env_update, data=None):
    """``module.run_command(argv)`` for a plain argv, started without its ``preexec_fn``.

    run_command always passes a ``preexec_fn``, which makes Python fork the module's whole process
    instead of vfork-ing it. In a slow guest that is the larger part of a short command's cost, and it
    grows with the number started at once: 50 ``ipsec auto --up`` side by side took 6.4-6.8 s with it
    and 4.6 s without (a User-Mode Linux gateway, Libreswan 4.10). Same environment, same decoding,
    same input (``data`` and a newline), same failure on a missing program as run_command. The argv runs
    as given: run_command would expand ``~`` and ``$VAR`` in each element and drop ``None`` ones; no
    command of this collection has either (names, addresses and paths it built itself).
    """
    env = dict(os.environ, **env_update)
    if "PYTHONPATH" in env:   # AnsiballZ's own paths, as run_command drops them
        paths = [p for p in env["PYTHONPATH"].split(":") if p and not p.endswith(("/ansible_modlib.zip", "/debug_dir"))]
        if paths:
            env["PYTHONPATH"] = ":".join(paths)
        else:
            del env["PYTHONPATH"]
    try:
        proc = subprocess.run(argv, input=(data + "\n").encode("utf-8") if data else None, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, stdin=None if data else subprocess.DEVNULL, env=env, check=False)
    except OSError as error:
        module.fail_json(rc=error.errno, stdout="", stderr="", msg=str(error), cmd=" ".join(argv))
    return (proc.returncode, proc.stdout.decode("utf-8", "surrogateescape"),
            proc.stderr.decode("utf-8", "surrogateescape"))


def run_command(module, argv, env_update, data=None):
    """(rc, stdout, stderr) of *argv*: :func:`spawn` where *module* has ansible-core's run_command (or
    passes it through, like gateway_info's view of it), else whatever replaced run_command (a test's fake)."""
    if _STOCK_RUN_COMMAND is not None and getattr(module.run_command, "__func__", None) is _STOCK_RUN_COMMAND:
        return spawn(module, argv, env_update, data)
    return module.run_command(argv, data=data, environ_update=env_update)


class IpsecError(Exception):
    """A failure the user can act on; ``main()`` turns it into one fail_json."""

    def __init__(self, msg, **details):
        super(IpsecError, self).__init__(msg)
        self.msg = msg
        self.details = details


def one_line(text):
    """A command's output as one line for an error message ('no output' when it printed nothing)."""
    return " | ".join(line.strip() for line in text.splitlines() if line.strip()) or "no output"


class Result(object):
    def __init__(self, argv, rc, out, err, skipped=False):
        self.argv, self.rc, self.out, self.err, self.skipped = argv, rc, out, err, skipped

    @property
    def text(self):
        """stdout and stderr together: whack prints some verdicts on either."""
        return "\n".join(part for part in (self.out, self.err) if part)


# verb -> (4.x argv, 5.x argv); the connection name is appended.
_VERBS = {
    "add": (["auto", "--add"], ["add"]),
    "replace": (["auto", "--replace"], ["replace"]),
    "delete": (["auto", "--delete"], ["delete"]),
    "up": (["auto", "--up"], ["up"]),
    "down": (["auto", "--down"], ["down"]),
    "rereadsecrets": (["auto", "--rereadsecrets"], ["rereadsecrets"]),
    "status": (["status"], ["status"]),
    "trafficstatus": (["trafficstatus"], ["trafficstatus"]),
}


class IpsecRunner(object):
    def __init__(self, module, binary=None):
        self.module = module
        self.binary = binary or module.get_bin_path("ipsec", required=True, opt_dirs=["/usr/sbin", "/usr/local/sbin"])
        self.commands = []
        self.mutations = 0   # commands run that change something (not the ones check mode skipped)
        self._version = None

    def _exec(self, argv, mutating, data=None):
        """The one place a command runs: recorded, skipped in check mode when mutating, LC_ALL=C."""
        if mutating and self.module.check_mode:
            self.commands.append({"argv": argv, "skipped": "check mode"})
            return Result(argv, 0, "", "", skipped=True)
        rc, out, err = run_command(self.module, argv, {"LC_ALL": "C", "LANG": "C"}, data)
        self.commands.append({"argv": argv, "rc": rc})
        self.mutations += 1 if mutating else 0
        return Result(argv, rc, out or "", err or "")

    def _ipsec_argv(self, args, timeout=None):
        argv = [self.binary] + list(args)
        if timeout:
            # coreutils timeout: whack itself has no deadline (a failing --up waits 60 s)
            argv = [self.module.get_bin_path("timeout", required=True), "--kill-after=5", str(int(timeout))] + argv
        return argv

    def run(self, args, mutating=False, data=None, timeout=None):
        """Run ``ipsec ARGS``; in check mode a mutating call is recorded, not run."""
        return self._exec(self._ipsec_argv(args, timeout), mutating, data)

    def run_parallel(self, args_list, mutating=True, timeout=None, workers=8):
        """Several ``ipsec ARGS`` at once (pluto serves each whack connection on its own); results in order.

        Bringing up 50 tunnels one ``ipsec auto --up`` after the other costs 50 IKE exchanges in a row.
        """
        argvs = [self._ipsec_argv(args, timeout) for args in args_list]
        if len(argvs) <= 1 or (mutating and self.module.check_mode):
            return [self._exec(argv, mutating) for argv in argvs]
        from concurrent.futures import ThreadPoolExecutor
        with ThreadPoolExecutor(max_workers=min(workers, len(argvs))) as pool:
            return list(pool.map(lambda argv: self._exec(argv, mutating), argvs))

    def command(self, program, args, mutating=False, data=None):
        """Run another program (certutil, systemctl, nft) the same way."""
        path = self.module.get_bin_path(program, required=True, opt_dirs=["/usr/sbin", "/sbin", "/usr/bin"])
        return self._exec([path] + list(args), mutating, data)

    def optional_command(self, program, args, mutating=False):
        """Like :meth:`command`, but ``None`` when *program* is not installed (no systemd in a container)."""
        path = self.module.get_bin_path(program, required=False, opt_dirs=["/usr/sbin", "/sbin", "/usr/bin", "/bin"])
        if not path:
            return None
        return self._exec([path] + list(args), mutating)

    # -- what is installed -----------------------------------------------------------

    @property
    def version(self):
        """parse_version() of ``ipsec --version`` (cached)."""
        if self._version is None:
            result = self.run(["--version"])
            self._version = ipsec_output.parse_version(result.text)
        return self._version

    @property
    def major(self):
        return self.version.get("major") or 4

    def verb_args(self, verb, name=None, extra=()):
        """``auto --up NAME`` on 4.x, ``up NAME`` on 5.x (without the ``ipsec``)."""
        old, new = _VERBS[verb]
        args = list(new if self.major >= 5 else old) + list(extra)
        if name is not None:
            args.append(name)
        return args

    def verb(self, verb, name=None, mutating=True, timeout=None, extra=()):
        """Run ``ipsec auto --up NAME`` on 4.x, ``ipsec up NAME`` on 5.x."""
        return self.run(self.verb_args(verb, name, extra), mutating=mutating, timeout=timeout)

    # -- reading state ----------------------------------------------------------------------

    def status(self):
        return ipsec_output.parse_status(self.verb("status", mutating=False).text)

    def traffic(self):
        return ipsec_output.parse_trafficstatus(self.verb("trafficstatus", mutating=False).text)

    def pluto_running(self):
        result = self.verb("status", mutating=False)
        return not ("Pluto is not running" in result.text or "connect(pluto_ctl) failed" in result.text
                    or "can not connect" in result.text.lower())
