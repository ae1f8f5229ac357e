# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private: the tunnels of one gateway - conn and secrets files on disk, connections in pluto, SAs in the
kernel - as the ``conns`` module drives them: plan what to write, check it with Libreswan before anything
is installed, install it with a backup for the rollback, load it into pluto, bring it up and wait for
the Child SAs, and say why a tunnel did not come up.

Not a public API: names may change without notice.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import shutil
import tempfile
import time

from ansible_collections.sitevpn.ipsec.plugins.module_utils import ipsec_output
from ansible_collections.sitevpn.ipsec.plugins.module_utils import _attempt
from ansible_collections.sitevpn.ipsec.plugins.module_utils._conn import (
    certificate_only, conf_path, is_initiator, is_managed, previous_tunnel, render_conn, render_secrets, secrets_path,
    sub_connections, updown_needed, CONF_DIR)
from ansible_collections.sitevpn.ipsec.plugins.module_utils._files import read, read_tail, write
from ansible_collections.sitevpn.ipsec.plugins.module_utils._remedy import remedy_for, up_error
from ansible_collections.sitevpn.ipsec.plugins.module_utils._routes import parse_routes
from ansible_collections.sitevpn.ipsec.plugins.module_utils._runner import IpsecError, IpsecRunner

# seconds a peer gets to revive a tunnel we took down to authenticate it anew (it does so at once)
REVIVAL_WAIT = 4
# seconds an initiated tunnel that is between SAs gets to have them again before it counts as failed
SETTLE_WAIT = 15


def brings_up(tunnel):
    """This host initiates the tunnel and keeps it up (``auto=start``): it must have its Child SAs."""
    return tunnel.get("state", "present") != "absent" and is_initiator(tunnel) and tunnel.get("auto", "start") == "start"


# the options of the conns module (and of gateway_info's conns check)
ARGUMENT_SPEC = dict(
    tunnels=dict(type="list", elements="dict", required=True, no_log=False),
    psks=dict(type="dict", default={}, no_log=True),
    state=dict(type="str", default="present", choices=["present", "rolled_back"]),
    establish=dict(type="bool", default=False),
    timeout=dict(type="int", default=30),
    purge=dict(type="bool", default=False),
    names=dict(type="list", elements="str", default=[]),
    restore=dict(type="bool", default=True),
    run_id=dict(type="str"),
    on_failure=dict(type="str", default="fail", choices=["fail", "report"]),
    reauthenticate=dict(type="list", elements="str", default=[]),
    backup_dir=dict(type="path", default="/var/lib/sitevpn/backup"),
)


def summary(gateway, removed, ready=None):
    """The conns module's result (without failure and diff): what the tunnel role reads of a load step."""
    result = dict(
        changed=bool(gateway.changed),
        changed_tunnels=sorted(set(gateway.changed)),
        reauthenticate=sorted(n for n, r in gateway.results.items() if r.get("reauthenticate")),
        removed_tunnels=removed,
        tunnels=gateway.results,
        libreswan_version=gateway.runner.version.get("version"),
        commands=gateway.runner.commands,
    )
    if ready is not None:
        result["ready"] = ready
    return result


class Gateway(object):
    """The tunnels of this gateway: files on disk, connections in pluto, SAs in the kernel."""

    def __init__(self, module):
        self.module = module
        self.runner = IpsecRunner(module)
        self.major = self.runner.major
        self.results = {}
        self.changed = []
        self.diff = {"before": "", "after": ""}
        self._status = None
        self._log = None
        self.tunnels = dict((t["name"], t) for t in module.params["tunnels"])

    def status(self):
        """pluto's ``ipsec status``, parsed; read again only after a command that changed what pluto has."""
        if self._status is None:
            self._status = self.runner.status()
        return self._status

    def _result(self, name):
        return self.results.setdefault(name, {"action": "unchanged"})

    # -- files ----------------------------------------------------------------------

    def updown(self, tunnels):
        """Decide per tunnel whether pluto runs Libreswan's _updown here (see _conn.updown_needed)."""
        present = [t for t in tunnels if t.get("state", "present") != "absent"]
        routes = []
        if any(t.get("updown", "auto") == "auto" for t in present):
            # one `ip` per address family for all tunnels: in a slow guest every process counts
            families = set(":" in s and 6 or 4 for t in present for end in ("left", "right")
                           for s in t[end].get("subnets") or [])
            for version in sorted(families):
                shown = self.runner.command("ip", (["-6"] if version == 6 else []) + ["-o", "route", "show", "table", "main"])
                routes += parse_routes(shown.out, version)
        for tunnel in present:
            why = updown_needed(tunnel, routes)
            tunnel["updown_disabled"] = why is None
            result = self._result(tunnel["name"])
            result["updown"] = "libreswan" if why else "disabled"
            if why:
                result["updown_reason"] = why

    def plan(self, tunnels):
        """What each file should contain; only the ones that differ from disk are kept."""
        writes = {}
        self.updown(tunnels)
        for tunnel in tunnels:
            name = tunnel["name"]
            if tunnel.get("state", "present") == "absent":
                continue
            conf = render_conn(tunnel, self.major)
            secrets = render_secrets(tunnel)
            old_conf, old_secrets = read(conf_path(name)), read(secrets_path(name))
            if old_conf is not None and not is_managed(old_conf):
                raise IpsecError("tunnel %s: %s exists and is not managed by sitevpn.ipsec; rename the tunnel or "
                                 "remove that file" % (name, conf_path(name)), tunnel=name, field="name")
            result = self._result(name)
            result["initiator"] = is_initiator(tunnel)
            if old_conf != conf or (old_secrets or None) != secrets:
                result["action"] = "created" if old_conf is None else "updated"
                writes[name] = (conf, secrets, old_conf, old_secrets)
                self.diff["before"] += old_conf or ""
                self.diff["after"] += conf
        return writes

    def validate(self, writes):
        """``ipsec addconn --checkconfig`` on the new files, before any of them is installed."""
        if not writes:
            return
        tmp = tempfile.mkdtemp(prefix="sitevpn-check-")
        try:
            main = os.path.join(tmp, "ipsec.conf")
            with open(main, "w") as handle:
                handle.write("config setup\n")
                for name, (conf, _s, _oc, _os) in sorted(writes.items()):
                    path = os.path.join(tmp, name + ".conf")
                    with open(path, "w") as conf_file:
                        conf_file.write(conf)
                    handle.write("include %s\n" % path)
            args = ["addconn", "--checkconfig", "--config", main] if self.major < 5 else \
                ["checkconfig", "--config", main]
            result = self.runner.run(args)
            self.refuse_ignored(result.text, writes, "nothing was installed")
            # exit 0 is not proof: conn-level errors (bad subnet, unknown authby) only print
            complaints = [line for line in result.text.splitlines() if line.strip()]
            if result.rc != 0 or complaints:
                culprit = next((n for n in writes if n in result.text), sorted(writes)[0])
                raise IpsecError("tunnel %s: Libreswan rejects the new configuration (nothing was installed): %s"
                                 % (culprit, " | ".join(complaints) or "exit %d" % result.rc), tunnel=culprit)
            if self.major < 5:
                # 4.x warns about keywords it ignores only while it builds the conn for pluto, not in
                # --checkconfig: build them against a control socket nobody listens on (nothing is loaded)
                dry = self.runner.run(["addconn", "--ctlsocket", os.path.join(tmp, "nobody.ctl"), "--config", main]
                                      + sorted(writes))
                self.refuse_ignored(dry.text, writes, "nothing was installed")
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def refuse_ignored(self, text, names, state):
        """Fail, naming the tunnel and the keyword, when Libreswan says it read a keyword of these conns and
        did not use it (obsolete, ignored for this IKE version): the conn would not do what it says."""
        for found in ipsec_output.ignored_keywords(text):
            tunnel = found["conn"] or (os.path.basename(found["file"])[:-len(".conf")] if found["file"] else None)
            if tunnel not in names:
                tunnel = sorted(names)[0] if len(names) == 1 else tunnel
            ours = tunnel in names and found["keyword"] not in ((self.tunnels.get(tunnel) or {}).get("options") or {})
            raise IpsecError(
                "tunnel %s: Libreswan %s ignores the keyword %s (%s); %s. %s" % (
                    tunnel or "?", self.runner.version.get("version") or self.major, found["keyword"], found["line"],
                    state, "This is a bug of the collection's conn for this Libreswan: please report it" if ours else
                    "Remove `%s` from the tunnel's options (or use what Libreswan %d reads instead)."
                    % (found["keyword"], self.major)),
                tunnel=tunnel, kind="config", keyword=found["keyword"])

    def install(self, writes):
        for name, (conf, secrets, old_conf, old_secrets) in sorted(writes.items()):
            self.changed.append(name)
            if self.module.check_mode:
                continue
            self._keep(name, old_conf, old_secrets)
            write(conf_path(name), conf, 0o644)
            if secrets is not None:
                write(secrets_path(name), secrets, 0o600)
            elif os.path.exists(secrets_path(name)):
                os.unlink(secrets_path(name))

    def _backup_dir(self, create=False):
        run_id = self.module.params["run_id"]
        if not run_id:
            return None
        path = os.path.join(self.module.params["backup_dir"], run_id.replace("/", "_"))
        if create and not os.path.isdir(path):
            os.makedirs(path, 0o700)
            runs = sorted(os.listdir(self.module.params["backup_dir"]))
            for old in runs[:-5]:
                shutil.rmtree(os.path.join(self.module.params["backup_dir"], old), ignore_errors=True)
        return path

    def _keep(self, name, old_conf, old_secrets):
        """The files as they were before this run changed them (first change in a run wins)."""
        backup = self._backup_dir(create=True)
        if backup is None or os.path.exists(os.path.join(backup, name + ".state")):
            return
        for suffix, text in (("conf", old_conf), ("secrets", old_secrets)):
            if text is not None:
                write(os.path.join(backup, "%s.%s" % (name, suffix)), text, 0o600)
        # "new": the tunnel did not exist before this run; rolling back removes it
        write(os.path.join(backup, name + ".state"), "new\n" if old_conf is None else "kept\n", 0o600)

    def roll_back(self, tunnels, names, restore=True):
        """Put back what run_id replaced; with ``restore`` false, only read what an earlier call put back.

        Returns (tunnels left as they were, tunnels restored - as their restored files describe them).
        Both ends restore before either brings a restored tunnel up (a second call): an initiator that
        restored and brought up at once could offer the old proposal to a peer still holding the new one.
        """
        backup = self._backup_dir()
        by_name = dict((t["name"], t) for t in tunnels)
        keep = [t for t in tunnels if t["name"] not in names]
        restored = []
        for name in names:
            state = read(os.path.join(backup, name + ".state")) if backup else None
            result = self._result(name)
            if state is None:
                result["action"] = "not changed by that run"
                if name in by_name:
                    keep.append(by_name[name])
                continue
            result["action"] = "rolled back" if state.strip() != "new" else "removed (it was new)"
            if not restore:
                if state.strip() != "new":
                    restored.append(previous_tunnel(by_name.get(name), name, read(os.path.join(backup, name + ".conf"))))
                continue
            self.changed.append(name)
            if self.module.check_mode:
                continue
            if state.strip() == "new":
                self.runner.verb("delete", name)
                self._status = None
                for path in (conf_path(name), secrets_path(name)):
                    if os.path.exists(path):
                        os.unlink(path)
                continue
            old_conf = read(os.path.join(backup, name + ".conf"))
            write(conf_path(name), old_conf, 0o644)
            old_secrets = read(os.path.join(backup, name + ".secrets"))
            if old_secrets is not None:
                write(secrets_path(name), old_secrets, 0o600)
            elif os.path.exists(secrets_path(name)):
                os.unlink(secrets_path(name))
            restored.append(previous_tunnel(by_name.get(name), name, old_conf))
        if restored and restore:
            self.runner.verb("rereadsecrets")
            for tunnel in restored:
                self.runner.verb("replace", tunnel["name"])
            self._status = None
        return keep, restored

    def remove(self, tunnels, purge):
        wanted = set(t["name"] for t in tunnels if t.get("state", "present") != "absent")
        doomed = set(t["name"] for t in tunnels if t.get("state", "present") == "absent")
        if purge:
            for entry in os.listdir(CONF_DIR) if os.path.isdir(CONF_DIR) else []:
                if entry.endswith(".conf") and entry[:-5] not in wanted and is_managed(read(os.path.join(CONF_DIR, entry))):
                    doomed.add(entry[:-5])
        loaded = self.loaded_connections()
        removed = []
        for name in sorted(doomed):
            conf = read(conf_path(name))
            if conf is not None and not is_managed(conf):
                raise IpsecError("tunnel %s: %s is not managed by sitevpn.ipsec; not removing it" % (name, conf_path(name)),
                                 tunnel=name, field="state")
            present = conf is not None or os.path.exists(secrets_path(name))
            in_pluto = [c for c in loaded if c == name or c.startswith(name + "/")]
            if not present and not in_pluto:
                continue
            self._result(name)["action"] = "removed"
            self.changed.append(name)
            removed.append(name)
            self.diff["before"] += conf or ""
            if in_pluto:
                # takes the SAs down and forgets the connection (and its sub-connections)
                self.runner.verb("delete", name)
                self._status = None
            if not self.module.check_mode:
                for path in (conf_path(name), secrets_path(name)):
                    if os.path.exists(path):
                        os.unlink(path)
        if removed and any(self.results[n].get("action") == "removed" for n in removed):
            self.runner.verb("rereadsecrets")
        return removed

    # -- pluto ------------------------------------------------------------------------------

    def loaded_connections(self):
        return self.status()["connections"]

    def reload_certificates(self, by_name, writes, loaded):
        """Loaded tunnels whose conn changed in its certificate line alone (a renewed certificate): pluto
        loads the new one under the same nickname without touching any SA (4.10 and 5.2 answer 'reloaded
        leftcert=...'); the initiator then authenticates anew with it (establish)."""
        renewed = [name for name in sorted(writes) if name in by_name and certificate_only(writes[name][2], writes[name][0])
                   and all(sub in loaded for sub in sub_connections(by_name[name]))]
        if renewed:
            self.runner.run(["whack", "--rereadcerts"], mutating=True)
        return renewed

    def load(self, tunnels, writes):
        """Load new and changed connections into pluto; add any that pluto forgot."""
        by_name = dict((t["name"], t) for t in tunnels if t.get("state", "present") != "absent")
        if not by_name:
            return
        if any(w[1] is not None or w[3] is not None for w in writes.values()):
            self.runner.verb("rereadsecrets")
        status = self.status() if not self.module.check_mode or not writes else {"connections": {}}
        loaded = status["connections"]
        renewed = self.reload_certificates(by_name, writes, loaded)
        adds = []
        loaded_text = {}     # what pluto answered when each conn was added or replaced
        for name, tunnel in sorted(by_name.items()):
            subs = sub_connections(tunnel)
            is_loaded = all(sub in loaded for sub in subs)
            # what pluto has of this tunnel now, under the names of its previous subnets too: one subnet per
            # end is the conn NAME, several are NAME/1x1, NAME/2x1 ... (all with the alias NAME)
            had = [c for c in loaded if c == name or c.startswith(name + "/")]
            if name in writes and (writes[name][0] == writes[name][2] or name in renewed) and is_loaded:
                # only the PSK or the certificate changed: pluto has it (rereadsecrets, rereadcerts); the SAs
                # stay until the initiator authenticates anew with it (see establish)
                self._result(name)["reauthenticate"] = True
            elif name in writes and had:
                # replace = delete + add: only this tunnel's SAs go down. The delete takes every connection of
                # the alias NAME, so when the subnets changed, the old ones go with their SAs and policies: a
                # connection left behind would keep the old policy and pluto could not install the new one
                # ("cannot install eroute -- it is in use", TS_UNACCEPTABLE to the peer)
                replaced = self.runner.verb("replace", name)
                loaded_text[name] = replaced.text
                self._status = None
                self.refuse_ignored(replaced.text, [name], "it is loaded, the run rolls it back")
            elif name in writes:
                adds.append(name)
            elif not is_loaded:
                self._result(name)["action"] = "loaded"
                self.changed.append(name)
                adds.append(name)
        if adds:
            # one addconn for all new conns: fifty `ipsec auto --add` cost fifty shell scripts on a slow host
            added = self.runner.run(["addconn", "--config", "/etc/ipsec.conf"] + adds, mutating=True)
            loaded_text.update((name, added.text) for name in adds)
            self._status = None
            # pluto's own warnings (5.x: 'IKEv1 only fragmentation=force ignored') come only now
            self.refuse_ignored(added.text, adds, "it is loaded, the run rolls it back")
        if self.module.check_mode:
            return
        # 4.x prints nothing on --add under Ansible: ask pluto what it has now (when anything was loaded)
        status = self.status()
        unoriented = []
        for name, tunnel in sorted(by_name.items()):
            subs = sub_connections(tunnel)
            missing = [s for s in subs if s not in status["connections"]]
            if missing:
                # pluto's failure lines about this conn or its sub-connections (NAME/1x0), or about none by name
                said = [fail["line"] for fail in ipsec_output.parse_add(loaded_text.get(name) or "")["failures"]
                        if fail["name"] is None or fail["name"].split("/")[0] == name][:4]
                raise IpsecError("tunnel %s: pluto did not load %s; %s" % (
                    name, ", ".join(missing), "pluto said: %s" % " / ".join(said) if said else
                    "run `%s` and read the pluto log" % (
                        "ipsec addconn --checkconfig" if self.major < 5 else "ipsec checkconfig")),
                    tunnel=name, kind="not_loaded")
            if any(status["connections"][s].get("oriented") is False for s in subs):
                unoriented.append(name)
            self._result(name)["loaded"] = True
        if unoriented:
            # pluto had not yet seen its interfaces (just started): rescan and load again
            self.runner.run(["whack", "--listen"], mutating=True)
            for name in unoriented:
                self.runner.verb("replace", name)
            self._status = None
            status = self.status()
            for name in unoriented:
                if any(status["connections"].get(s, {}).get("oriented") is False for s in sub_connections(by_name[name])):
                    end = by_name[name][by_name[name]["local"]]
                    raise IpsecError("tunnel %s: this gateway cannot identify itself with either end (its address %s is "
                                     "not on any interface); check sitevpn_public_address / sitevpn_local_address"
                                     % (name, end.get("local_address") or end["address"]), tunnel=name, kind="not_loaded")

    # -- establishing --------------------------------------------------------------------------

    def established(self):
        """Connection name -> list of child SAs (with counters) from trafficstatus."""
        sas = {}
        for sa in self.runner.traffic():
            sas.setdefault(sa["name"], []).append({
                "serial": sa["serial"], "in_bytes": sa["in_bytes"], "out_bytes": sa["out_bytes"]})
        return sas

    def ready(self, tunnels):
        """After a load that changed nothing and ran nothing that changes pluto: is every tunnel this host
        brings up established, and none to authenticate anew? Then an establish step would only read
        trafficstatus again; the tunnel role skips it when every gateway of the play is ready (a rerun with
        nothing to do). The tunnels' SAs and counters are filled in as establish fills them."""
        if self.changed or self.runner.mutations or any(r.get("reauthenticate") for r in self.results.values()):
            return False
        present = [t for t in tunnels if t.get("state", "present") != "absent"]
        if not present:
            return True
        current = self.established()
        ready = True
        for tunnel in present:
            ready = (self._record_sas(tunnel, current) or not brings_up(tunnel)) and ready
        return ready

    def _record_sas(self, tunnel, current):
        """The tunnel's result says whether all its sub-connections have Child SAs in *current* (from
        established()) and lists them with their counters; returns whether they all do."""
        subs = sub_connections(tunnel)
        result = self._result(tunnel["name"])
        result["established"] = all(s in current for s in subs)
        result["child_sas"] = [sa for s in subs for sa in current.get(s, [])]
        return result["established"]

    def renew(self, renewing, todo, before, timeout):
        """Authenticate established tunnels anew: a new IKE SA, not one more Child SA on the old one.

        ``up`` on an established tunnel only adds a Child SA to the IKE SA it has - which proves nothing
        about a new PSK, and after a restart of both ends can be an IKE SA the peer no longer knows (both
        ends start at once, both initiate, each keeps half of a crossed pair). So the tunnel goes ``down``
        first. A peer that knew the deleted IKE SA and keeps the tunnel up (``auto=start``) revives it at
        once with an IKE SA of its own; ``up`` at that moment would cross it, so we give the peer
        REVIVAL_WAIT seconds and bring up only what it did not. Returns the tunnels still to bring up.
        """
        if not renewing:
            return todo
        revived = self.down_and_wait(renewing, before, timeout)
        for tunnel in renewing:
            self._result(tunnel["name"])["reauthenticated"] = "by_peer" if tunnel["name"] in revived else "by_us"
            if tunnel["name"] not in self.changed:
                self.changed.append(tunnel["name"])
        return [t for t in todo if t["name"] not in revived]

    def down_and_wait(self, tunnels, before, timeout):
        """``down`` *tunnels* and drop the IKE SAs it left them (see ike_sas), then give a peer that keeps them
        up REVIVAL_WAIT seconds to bring them back with SAs of its own; the names it revived."""
        stale = self.ike_sas(tunnels)
        self.runner.run_parallel([self.runner.verb_args("down", t["name"]) for t in tunnels], timeout=timeout)
        left = self.ike_sas(tunnels)
        for tunnel in tunnels:
            subs = sub_connections(tunnel)
            serials = sorted(serial for serial in set(stale) & set(left) if left[serial] in subs)
            if serials and len(subs) > 1:
                # a shared IKE SA: not `whack --deletestate`, which 4.10 queues behind the unanswered Child SA request
                # for its minute of retransmits, the next `up` waiting on it ("already has the pending Child SA
                # negotiation"), then restarts every tunnel to the peer (lab); a replaced connection drops it at once
                self.runner.verb("replace", tunnel["name"])
            for serial in serials if len(subs) == 1 else []:
                self.runner.run(["whack", "--deletestate", str(serial)], mutating=True)
        self._status = None
        old = dict((t["name"], set(sa["serial"] for s in sub_connections(t) for sa in before.get(s, [])))
                   for t in tunnels)
        revived = set()
        deadline = time.time() + REVIVAL_WAIT
        while len(revived) < len(tunnels) and time.time() < deadline:
            time.sleep(0.5)
            now = self.established()
            for tunnel in tunnels:
                subs = sub_connections(tunnel)
                if all(s in now for s in subs) and all(sa["serial"] not in old[tunnel["name"]]
                                                       for s in subs for sa in now[s]):
                    revived.add(tunnel["name"])
        return revived

    def ike_sas(self, tunnels):
        """The IKE SAs of *tunnels* now, serial -> connection. ``down`` keeps one its sub-connections share (NAME/1x0,
        NAME/2x0; 4.10 and 5.2), where the next ``up`` would ask for Child SAs again, maybe of a peer that forgot it
        (lab): those outliving ``down`` are deleted - by replacing the tunnel's connection where sub-connections share
        them (an IKE SA the peer revived meanwhile goes too; the peer revives the tunnel again, see down_and_wait)."""
        self._status = None
        subs = set(sub for tunnel in tunnels for sub in sub_connections(tunnel))
        return dict((state["serial"], state["name"]) for state in self.status()["states"]
                    if state.get("kind") == "ike" and state.get("name") in subs)

    def settle(self, tunnels, timeout):
        """trafficstatus once every tunnel this host initiates has its Child SAs, or after SETTLE_WAIT s.

        A tunnel can be between SAs for a moment without anything being wrong: its peer was restarted a
        minute ago and liveness just replaced the IKE SA that peer forgot, or the peer revived it while
        we looked. pluto brings it back by itself within seconds; we wait for that instead of failing.
        """
        deadline = time.time() + min(timeout, SETTLE_WAIT)
        while True:
            current = self.established()
            missing = [t for t in tunnels if brings_up(t) and not all(s in current for s in sub_connections(t))]
            if not missing or time.time() >= deadline:
                return current
            time.sleep(1)

    def give_up(self, tunnel, error):
        """Stop pluto retrying a tunnel that cannot come up (wrong key, no answer); what failed and why."""
        self.runner.verb("down", tunnel["name"])
        return {"kind": error["kind"], "line": error["line"],
                "remedy": remedy_for(error["kind"], tunnel, error.get("facts"))}

    def attempt(self, tunnel, up_text, since):
        """What pluto said about this attempt of *tunnel* - ``ipsec up``'s output and pluto's log since
        *since* (epoch seconds) - read once per run (``_attempt.analyse``)."""
        if self._log is None:
            _source, self._log = _attempt.read_log(self.runner, read_tail,
                                                   "@%d" % int(since - 1))
        return _attempt.analyse(up_text.splitlines() + self._log, tunnel["name"])

    def bring_up(self, todo, timeout, unsure, failed, second=False):
        """``ipsec up`` of *todo*, all at once (pluto negotiates them side by side); fills *unsure* (whack
        ended without a verdict) and *failed*; returns the tunnels worth one more try on a fresh IKE SA."""
        started = time.time()
        ups = self.runner.run_parallel([self.runner.verb_args("up", t["name"]) for t in todo], timeout=timeout)
        retry = []
        for tunnel, up in zip(todo, ups):
            name = tunnel["name"]
            result = self._result(name)
            if name not in self.changed:
                self.changed.append(name)
            parsed = ipsec_output.parse_auto_up(up.text)
            named_cause = parsed.get("error") is not None or up.rc == 124
            if not parsed["established"]:
                parsed["error"] = up_error(parsed, up.rc, timeout, self.attempt(tunnel, up.text, started))
                if parsed["error"]["kind"] == "child_unanswered":
                    if not second:
                        retry.append(tunnel)
                        continue
                    parsed["error"]["facts"] = dict(parsed["error"].get("facts") or {}, retried=True)
            result["up"] = {"ike_version": parsed["ike_version"], "child_sas": parsed["child_sas"],
                            "error": parsed["error"]}
            if not parsed["established"] and not named_cause:
                # whack ended without a verdict (another negotiation of the tunnel won, e.g. the peer's):
                # what counts is whether the Child SAs are there once it settles
                unsure[name] = tunnel
            elif not parsed["established"]:
                failed[name] = self.give_up(tunnel, parsed["error"])
        return retry

    def establish(self, tunnels):
        timeout = self.module.params["timeout"]
        failed = {}
        current = self.established()
        todo = []
        for tunnel in tunnels:
            name = tunnel["name"]
            if tunnel.get("state", "present") == "absent":
                continue
            result = self._result(name)
            subs = sub_connections(tunnel)
            result["established"] = all(s in current for s in subs)
            renew = name in self.module.params["reauthenticate"]
            if (result["established"] and not renew) or not brings_up(tunnel):
                continue
            if self.module.check_mode:
                result["action"] = result["action"] if result["action"] != "unchanged" else "would_establish"
                self.changed.append(name)
                continue
            todo.append(tunnel)
        todo = self.renew([t for t in todo if t["name"] in self.module.params["reauthenticate"]
                           and self._result(t["name"])["established"]], todo, current, timeout)
        unsure = {}
        for second in (False, True):
            retry = self.bring_up(todo, timeout, unsure, failed, second)
            if not retry:
                break
            # the peer answered the IKE SA but not the Child SA request on it (both ends brought the tunnel up
            # in the same second): a fresh IKE SA, as pluto itself would after its retransmits, a minute later
            revived = self.down_and_wait(retry, self.established(), timeout)
            todo = [t for t in retry if t["name"] not in revived]
            self._log = None
        if not self.module.check_mode:
            current = self.settle([t for t in tunnels if t["name"] not in failed], timeout)
            for name, tunnel in sorted(unsure.items()):
                if not all(s in current for s in sub_connections(tunnel)):
                    failed[name] = self.give_up(tunnel, self._result(name)["up"]["error"])
            for tunnel in tunnels:
                name = tunnel["name"]
                if tunnel.get("state", "present") == "absent":
                    continue
                established = self._record_sas(tunnel, current)
                if brings_up(tunnel) and not established and name not in failed:
                    failed[name] = {"kind": "other", "line": "no Child SA after ipsec up",
                                    "remedy": remedy_for("other", tunnel)}
        return failed
