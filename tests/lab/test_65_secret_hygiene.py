"""Secrets never show: not with -vvv --diff, not in the pluto log, not in facts or any cache.

One given PSK - an inline ``!vault`` in the inventory, as ``ansible-vault encrypt_string`` makes it,
with the characters that trip templating and quoting (``{{``, ``{#``, ``"``) -, one generated PSK, one
RSA tunnel; a first run, then a run with the tunnels in the other order that rotates the generated
PSK, then ``remove_tunnel.yml``, ``diagnose.yml`` and ``peer_config.yml`` (with a tunnel to an
unmanaged peer and a key of its own). Every key, old and new, in its own form and in base64, is then
searched for everywhere: the controller's output, the gateways' journal (where Ansible logs every
module's arguments), files, caches. The only places a key may be are its 0600 homes.
"""

import base64
import glob
import os
import re
import subprocess
import sys

import yaml

GIVEN_PSK = 'Given-{{PSK}}-from-"the"-{#vault#}-7f3K9q2LmX'
PEER_PSK = 'Peer-PSK-"quoted"-{{x}}-Zq81mVt5Rw'
PRIVATE_MARKERS = ("PRIVATE KEY", "PrivateExponent", "privateExponent", "Prime1", "prime1", "Exponent1")
VAULT_PASSWORD = "lab-vault-password"


def tunnels():
    return [
        {"name": "given", "left": "vpn1", "right": "vpn2", "auth": "psk", "psk": "__VAULT_GIVEN__",
         "left_subnets": "172.16.1.0/24", "right_subnets": "10.0.0.0/24",
         "probe": {"from": "server1", "to": "server2"}},
        {"name": "generated", "left": "vpn1", "right": "vpn2", "auth": "psk",
         "left_subnets": "172.16.31.0/24", "right_subnets": "10.0.31.0/24"},
        {"name": "rsa", "left": "vpn1", "right": "vpn2", "auth": "rsasig",
         "left_subnets": "172.16.32.0/24", "right_subnets": "10.0.32.0/24"},
    ]


PEER_TUNNEL = {"name": "to-appliance", "left": "vpn1", "right": {"name": "appliance", "address": "192.0.2.99"},
               "auth": "psk", "psk": "__VAULT_PEER__", "left_subnets": "172.16.33.0/24",
               "right_subnets": "10.0.33.0/24"}


def vault_inline(password_file, secret):
    """The lines ``ansible-vault encrypt_string`` prints for *secret*, without the leading ``!vault |``."""
    out = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-vault"), "encrypt_string",
                          "--vault-password-file", password_file, secret], check=True, stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, universal_newlines=True).stdout
    return [line.strip() for line in out.splitlines()[1:] if line.strip()]


def vars_file(path, password_file, tunnel_list, **more):
    """group_vars as a user writes them: each PSK an inline !vault inside its tunnel."""
    text = yaml.safe_dump(dict(more, sitevpn_tunnels=tunnel_list), default_flow_style=False)
    for marker, secret in (("__VAULT_GIVEN__", GIVEN_PSK), ("__VAULT_PEER__", PEER_PSK)):
        match = re.search(r"^( *)psk: %s$" % marker, text, re.M)
        if match:
            indent = match.group(1) + "    "
            block = "%spsk: !vault |\n%s" % (match.group(1), "\n".join(indent + line
                                                                   for line in vault_inline(password_file, secret)))
            text = text.replace(match.group(0), block)
    with open(path, "w") as handle:
        handle.write(text)
    return str(path)


def generated_psk(lab):
    line = lab.sh("vpn1", "grep PSK /etc/ipsec.d/generated.secrets").stdout
    return base64.b64decode(re.search(r"PSK 0s(\S+)", line).group(1)).decode()


def test_no_psk_and_no_private_key_in_output_logs_facts_or_caches(lab_for, tmp_path):
    lab = lab_for("seed", name="secrets")
    cache = tmp_path / "facts"
    env = {"ANSIBLE_CACHE_PLUGIN": "ansible.builtin.jsonfile", "ANSIBLE_CACHE_PLUGIN_CONNECTION": str(cache),
           "ANSIBLE_KEEP_REMOTE_FILES": "0"}
    password_file = tmp_path / "vault-password"
    password_file.write_text(VAULT_PASSWORD)
    vault = ("--vault-password-file", str(password_file))
    lab.vars(vars_file(tmp_path / "vars-1.yml", str(password_file), tunnels()))
    first = lab.playbook("site-to-site.yml", "-vvv", "--diff", *vault, env=env)
    assert first.rc == 0, first.out[-3000:]
    # the vaulted key arrived as it is: nothing templated it, nothing quoted it wrongly
    for gw in ("vpn1", "vpn2"):
        line = lab.sh(gw, "grep PSK /etc/ipsec.d/given.secrets").stdout
        assert base64.b64decode(re.search(r"PSK 0s(\S+)", line).group(1)).decode() == GIVEN_PSK
    keys = [GIVEN_PSK, PEER_PSK, generated_psk(lab)]
    # the other order: Ansible's own masking of module arguments depends on it, ours must not
    lab.vars(vars_file(tmp_path / "vars-2.yml", str(password_file), tunnels()[::-1],
                       sitevpn_rotate_psk=["generated"]))
    second = lab.playbook("site-to-site.yml", "-vvv", "--diff", *vault, env=env)
    assert second.rc == 0, second.out[-3000:]
    keys.append(generated_psk(lab))
    assert keys[2] != keys[3]                      # the rotation happened
    lab.vars(vars_file(tmp_path / "vars-3.yml", str(password_file), tunnels()))
    removal = lab.playbook("remove_tunnel.yml", "-vvv", "--diff", "-e", "sitevpn_remove_tunnel=rsa", *vault, env=env)
    assert removal.rc == 0, removal.out[-3000:]
    report_dir = tmp_path / "report"
    diagnosis = lab.playbook("diagnose.yml", "-vvv", "--diff", "-e", "sitevpn_report_dir=%s" % report_dir, *vault,
                             env=env)
    assert diagnosis.rc == 0, diagnosis.out[-3000:]
    lab.vars(vars_file(tmp_path / "vars-4.yml", str(password_file), tunnels()[:2] + [PEER_TUNNEL]))
    peer_dir = tmp_path / "peer-config"
    peer = lab.playbook("peer_config.yml", "-vvv", "--diff", "-e", "sitevpn_peer_config_dir=%s" % peer_dir,
                        *vault, env=env)
    assert peer.rc == 0, peer.out[-3000:]
    handed_out = (peer_dir / "to-appliance.txt")
    assert oct(handed_out.stat().st_mode & 0o777) == "0o600"
    assert "PSK 0s" + base64.b64encode(PEER_PSK.encode()).decode() in handed_out.read_text()   # its 0600 home

    places = {"ansible output, run 1 (-vvv --diff)": first.out, "ansible output, run 2 (tunnels reversed)": second.out,
              "ansible output, remove_tunnel.yml -vvv --diff": removal.out,
              "ansible output, diagnose.yml -vvv --diff": diagnosis.out,
              "ansible output, peer_config.yml -vvv --diff": peer.out}
    for path in glob.glob(str(report_dir / "**"), recursive=True):
        if os.path.isfile(path):
            with open(path, errors="replace") as handle:
                places["diagnose report %s" % os.path.basename(path)] = handle.read()
    for path in glob.glob(str(cache / "*")):
        with open(path) as handle:
            places["fact cache %s" % os.path.basename(path)] = handle.read()
    for gw in ("vpn1", "vpn2"):
        places["pluto log on %s" % gw] = lab.sh(gw, "journalctl -u ipsec --no-pager -o cat", check=False).stdout
        places["system log on %s" % gw] = lab.sh(gw, "journalctl --no-pager -o cat", check=False).stdout
        places["files under /tmp, /var/tmp, ~/.ansible on %s" % gw] = lab.sh(
            gw, "grep -rs . /tmp /var/tmp /root/.ansible 2>/dev/null | head -c 2000000", check=False).stdout
    controller_tmp = os.path.expanduser("~/.ansible/tmp")
    for path in glob.glob(controller_tmp + "/**", recursive=True):
        if os.path.isfile(path):
            with open(path, errors="replace") as handle:
                places["controller %s" % path] = handle.read()

    hits = []
    for where, text in places.items():
        for key in keys:
            for form in (key, base64.b64encode(key.encode()).decode()):
                if form in text:
                    hits.append("%s: a PSK (%s...)" % (where, form[:4]))
        for marker in PRIVATE_MARKERS:
            if marker in text:
                hits.append("%s: %s" % (where, marker))
    print("searched %d places for %d PSKs and %d private-key markers: %d hits" % (
        len(places), len(keys), len(PRIVATE_MARKERS), len(hits)))
    assert hits == []
    assert "rsasigkey=0s" in first.out or "sitevpn_hostkey" in first.out   # the public half may show

    for gw in ("vpn1", "vpn2"):
        modes = lab.sh(gw, "stat -c '%a %U %n' /etc/ipsec.d/*.secrets").stdout.split("\n")
        assert all(line.startswith("600 root ") for line in modes if line), modes
        kept = lab.sh(gw, "find /var/lib/sitevpn -type f -printf '%m %p\\n'; "
                          "find /var/lib/sitevpn/backup -mindepth 1 -type d -printf '%m %p\\n'").stdout.split("\n")
        assert all(line.startswith(("600 ", "700 ")) for line in kept if line), kept
