# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleActionFail, AnsibleError
from ansible.plugins.action import ActionBase

try:   # ansible-core 2.19+: strings from inventory files are templates only when trusted (not !unsafe)
    from ansible.template import is_trusted_as_template
except ImportError:   # older cores template every string
    def is_trusted_as_template(value):
        return isinstance(value, str)

from ansible_collections.sitevpn.ipsec.plugins.plugin_utils import _ca, _ca_store, _given_cert, _model

SECRET_FIELDS = ("psk", "sitevpn_ca_passphrase")
CA_VARIABLES = ("sitevpn_ca_dir", "sitevpn_ca_cert_file", "sitevpn_ca_key_file", "sitevpn_ca_passphrase")
TEMPLATE_MARKS = ("{{", "{%", "{#")


class ActionModule(ActionBase):
    """Check the whole tunnel list on the controller; runs nothing on any host.

    The tunnels are checked as the roles will deploy them: templated here exactly once, as Ansible
    templates ``sitevpn_tunnels`` for the roles (vaulted strings decrypted, ``{{ }}`` resolved), leaf by
    leaf, so that a value that cannot be templated is named by tunnel and field. A secret is never
    printed, not even in the error of its template.
    """

    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("tunnels", "topologies", "gateways", "allow_weak"))

    def _leaf(self, value, label, field, problems):
        secret = field.split(".")[-1] in SECRET_FIELDS
        if isinstance(value, str) and secret and is_trusted_as_template(value) and "{#" in value:
            problems.add(label, field, "contains '{#', which Ansible reads as the start of a template comment: the "
                         "key would silently lose characters. Vault it (ansible-vault encrypt_string) or mark it !unsafe")
            return None
        try:
            return self._templar.template(value)
        except AnsibleError as exc:
            if secret:
                problems.add(label, field, "could not be templated: a variable it names is undefined (its vault file not "
                             "loaded?), or the key contains %s literally - then vault it (ansible-vault "
                             "encrypt_string) or mark it !unsafe. The error is not shown: it may quote the key"
                             % ", ".join(TEMPLATE_MARKS))
            else:
                problems.add(label, field, "could not be templated: %s" % str(getattr(exc, "message", exc)).splitlines()[0])
            return None

    def _deep(self, value, label, field, problems):
        if isinstance(value, dict):
            return dict((key, self._deep(item, label, "%s.%s" % (field, key) if field else str(key), problems))
                        for key, item in value.items())
        if isinstance(value, (list, tuple)):
            return [self._deep(item, label, field, problems) for item in value]
        return self._leaf(value, label, field, problems)

    def _templated(self, raw, variable, problems):
        """``sitevpn_tunnels`` (or ``sitevpn_topologies``) with every value templated once."""
        items = raw if isinstance(raw, (list, tuple, dict)) else self._leaf(raw, "-", variable, problems)
        if not isinstance(items, (list, tuple)):
            return items
        result = []
        for index, item in enumerate(items):
            if not isinstance(item, (list, tuple, dict)):
                item = self._leaf(item, "#%d" % (index + 1), "-", problems)
            if isinstance(item, dict):
                name = self._leaf(item.get("name"), "#%d" % (index + 1), "name", problems)
                label = _model._label({"name": name}, index)
                item = self._deep(dict(item, name=name) if "name" in item else item, label, "", problems)
            result.append(item)
        return result

    def _check_ca(self, tunnels, hostvars, task_vars, problems):
        """auth cert: the CA on the controller, where the keys role will look for it (the left end's variables)."""
        checked = set()
        for tunnel in tunnels:
            if tunnel.get("auth") != "cert" or tunnel["state"] != "present" or not tunnel["left"]["host"] \
                    or tunnel["left"].get("given_cert"):
                continue
            host = hostvars.get(tunnel["left"]["host"]) or {}
            where = tuple(self._leaf(host.get(name), tunnel["name"], name, problems) for name in CA_VARIABLES)
            if where in checked:
                continue
            checked.add(where)
            problem = _ca_store.check(where[0], where[1], where[2], where[3],
                                      task_vars.get("ansible_inventory_sources") or ())
            if problem:
                problems.add(tunnel["name"], "auth cert, sitevpn_ca_dir of %s" % tunnel["left"]["host"], problem)

    def _check_given_keys(self, tunnels, hostvars, problems):
        """The private key a gateway brings with its certificate: readable (vault, passphrase), its own."""
        checked = set()
        for tunnel in tunnels:
            for side in ("left", "right"):
                end = tunnel[side] or {}
                if tunnel["state"] != "present" or not end.get("given_cert") or end["host"] in checked:
                    continue
                checked.add(end["host"])
                host = hostvars.get(end["host"]) or {}
                where = dict((name, self._leaf(host.get(name), tunnel["name"], name, problems))
                             for name in _given_cert.VARIABLES)
                field = "%s (%s of %s)" % (side, _given_cert.KEY_VAR, end["host"])
                if not where[_given_cert.KEY_VAR]:
                    problems.add(tunnel["name"], field, "is not set: the certificate's private key goes with it "
                                 "into the gateway's NSS database")
                    continue
                try:
                    key = _given_cert.read_key(self._loader, where[_given_cert.KEY_VAR])
                    problem = _given_cert.key_problem(_given_cert.read_text(where[_given_cert.CERT_VAR]), key,
                                                      where[_given_cert.PASSPHRASE_VAR])
                except (OSError, IOError, _ca.CertProblem) as exc:
                    problem = "cannot be checked: %s" % exc
                if problem:
                    problems.add(tunnel["name"], field, problem)

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        task_vars = task_vars or {}
        args = self._task.args
        hostvars = task_vars.get("hostvars", {})
        problems = _model._Problems()
        # task arguments arrive templated; variables arrive as written, and are templated here once
        tunnels = args["tunnels"] if "tunnels" in args else \
            self._templated(task_vars.get("sitevpn_tunnels", []), "sitevpn_tunnels", problems)
        topologies = args["topologies"] if "topologies" in args else \
            self._templated(task_vars.get("sitevpn_topologies"), "sitevpn_topologies", problems)
        allow_weak = args["allow_weak"] if "allow_weak" in args else \
            self._leaf(task_vars.get("sitevpn_allow_weak_crypto", False), "-", "sitevpn_allow_weak_crypto", problems)
        own_ike_sa = self._leaf(task_vars.get("sitevpn_own_ike_sa", True), "-", "sitevpn_own_ike_sa", problems)
        gateways = args.get("gateways")
        holders = dict((name, set()) for name in task_vars)
        for host in gateways or []:
            try:
                for name in hostvars[host]:
                    holders.setdefault(name, set()).add(host)
            except (KeyError, TypeError):
                pass
        for name, hint in _model.unknown_variables(holders):
            hosts = sorted(holders[name])
            where = " (host variable of %s)" % ", ".join(hosts) if hosts and len(hosts) < len(gateways or []) else ""
            problems.add("-", name + where, "is not a variable of sitevpn.ipsec%s" % hint)
        normalized, warnings = [], []
        try:
            normalized, warnings = _model.normalize(tunnels, hostvars, allow_weak=allow_weak, topologies=topologies,
                                                    own_ike_sa=own_ike_sa)
        except _model.ModelError as exc:
            # a value that could not be templated is reported once, by the templating
            seen = set((t, f) for t, f, _p in problems.items)
            problems.items += [p for p in exc.problems if (p[0], p[1]) not in seen]
        if gateways is not None:
            play = set(gateways)
            for tunnel in normalized:
                for side in ("left", "right"):
                    host = tunnel[side]["host"]
                    if host and host not in play:
                        problems.add(tunnel["name"], side, "host %s is an end of this tunnel but not a target of "
                                     "this play (add it to the gateways group)" % host)
        self._check_ca(normalized, hostvars, task_vars, problems)
        self._check_given_keys(normalized, hostvars, problems)
        if problems.items:
            error = _model.ModelError(problems.items)
            raise AnsibleActionFail(error.message, result={"problems": [
                {"tunnel": t, "field": f, "problem": p} for t, f, p in error.problems]})
        per_host = {}
        for tunnel in normalized:
            for side in ("left", "right"):
                if tunnel[side]["host"]:
                    per_host.setdefault(tunnel[side]["host"], []).append(tunnel["name"])
        for warning in warnings:
            self._display.warning(warning)
        result.update(changed=False, tunnels=[t["name"] for t in normalized], gateways=per_host,
                      warnings_found=warnings,
                      msg="%d tunnel%s on %d gateway%s, all checked" % (
                          len(normalized), "" if len(normalized) == 1 else "s",
                          len(per_host), "" if len(per_host) == 1 else "s"))
        return result
