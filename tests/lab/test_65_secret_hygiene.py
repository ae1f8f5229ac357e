"""Secrets never show: not with -vvv --diff, not in the pluto log, not in facts or any cache.

One given PSK (as from a vault), one generated PSK, one RSA tunnel; a first run, then a run with
the tunnels in the other order that rotates the generated PSK, then remove_tunnel.yml. Every key,
old and new, is then searched for everywhere: the controller's output, the gateways' journal
(where Ansible logs every module's arguments), files, caches.
"""

import base64
import glob
import os
import re

GIVEN_PSK = "Given-PSK-from-the-vault-7f3K9q2LmX"
PRIVATE_MARKERS = ("PRIVATE KEY", "PrivateExponent", "privateExponent", "Prime1", "prime1", "Exponent1")


def tunnels():
    return [
        {"name": "given", "left": "vpn1", "right": "vpn2", "auth": "psk", "psk": GIVEN_PSK,
         "left_subnets": "172.16.1.0/24", "right_subnets": "10.0.0.0/24",
         "probe": {"from": "server1", "to": "server2"}},
        {"name": "generated", "left": "vpn1", "right": "vpn2", "auth": "psk",
         "left_subnets": "172.16.31.0/24", "right_subnets": "10.0.31.0/24"},
        {"name": "rsa", "left": "vpn1", "right": "vpn2", "auth": "rsasig",
         "left_subnets": "172.16.32.0/24", "right_subnets": "10.0.32.0/24"},
    ]


def generated_psk(lab):
    line = lab.sh("vpn1", "grep PSK /etc/ipsec.d/generated.secrets").stdout
    return base64.b64decode(re.search(r"PSK 0s(\S+)", line).group(1)).decode()


def test_no_psk_and_no_private_key_in_output_logs_facts_or_caches(lab_for, tmp_path):
    lab = lab_for("seed", name="secrets")
    cache = tmp_path / "facts"
    env = {"ANSIBLE_CACHE_PLUGIN": "ansible.builtin.jsonfile", "ANSIBLE_CACHE_PLUGIN_CONNECTION": str(cache),
           "ANSIBLE_KEEP_REMOTE_FILES": "0"}
    lab.vars(sitevpn_tunnels=tunnels())
    first = lab.playbook("site-to-site.yml", "-vvv", "--diff", env=env)
    assert first.rc == 0, first.out[-3000:]
    keys = [GIVEN_PSK, generated_psk(lab)]
    # the other order: Ansible's own masking of module arguments depends on it, ours must not
    lab.vars(sitevpn_tunnels=tunnels()[::-1], sitevpn_rotate_psk=["generated"])
    second = lab.playbook("site-to-site.yml", "-vvv", "--diff", env=env)
    assert second.rc == 0, second.out[-3000:]
    keys.append(generated_psk(lab))
    assert keys[1] != keys[2]                      # the rotation happened
    lab.vars(sitevpn_tunnels=tunnels())
    removal = lab.playbook("remove_tunnel.yml", "-vvv", "--diff", "-e", "sitevpn_remove_tunnel=rsa", env=env)
    assert removal.rc == 0, removal.out[-3000:]

    places = {"ansible output, run 1 (-vvv --diff)": first.out, "ansible output, run 2 (tunnels reversed)": second.out,
              "ansible output, remove_tunnel.yml -vvv --diff": removal.out}
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
