"""A peer the collection does not manage, configured by hand exactly as the seed does it.

vpn2 is set up the seed's way - install, `ipsec newhostkey`, `ipsec showhostkey --right`, the
`conn net-to-net` typed into /etc/ipsec.conf, `service ipsec restart` - and vpn1 is set up by
the collection with vpn2 as an unmanaged peer. First with RSA keys, then with a pre-shared key
in the seed's IP-address form. The collection's half is handed over through peer_config.yml.
"""

import os
import re

import pytest

SERVER1, SERVER2 = "172.16.1.100", "10.0.0.105"

# The seed's conn, as typed by hand (Quick HOWTO ch. 35), with the lab's addresses.
SEED_CONN_RSA = """\
config setup

conn net-to-net
  left=198.51.100.10              # Public Internet IP address of the
                                  # LEFT VPN device
  leftsubnet=172.16.1.0/24        # Subnet protected by the LEFT VPN device
  leftid=@vpn1                    # FQDN of Public Internet IP address of the
                                  # LEFT VPN device with an "@"
  leftrsasigkey={left_key}
  leftnexthop=%defaultroute       # correct in many situations
  right=203.0.113.10              # Public Internet IP address of
                                  # the RIGHT VPN device
  rightsubnet=10.0.0.0/24         # Subnet protected by the RIGHT VPN device
  rightid=@vpn2                   # FQDN of Public Internet IP address of the
                                  # RIGHT VPN device with an "@"
  rightrsasigkey={right_key}
  rightnexthop=%defaultroute      # correct in many situations
  auto=start                      # authorizes and starts this connection
                                  # on booting
"""

SEED_CONN_PSK = """\
config setup

conn net-to-net
    authby=secret                # Key exchange method
    left=198.51.100.10           # Public Internet IP address of the
                                 # LEFT VPN device
    leftsubnet=172.16.1.0/24     # Subnet protected by the LEFT VPN device
    leftnexthop=%defaultroute    # correct in many situations
    right=203.0.113.10           # Public Internet IP address of
                                 # the RIGHT VPN device
    rightsubnet=10.0.0.0/24      # Subnet protected by the RIGHT VPN device
    rightnexthop=%defaultroute   # correct in many situations
    auto=start                   # authorizes and starts this connection
                                 # on booting
"""

# The seed's own example key is 31 letters; the collection wants 20+ bytes and some variety.
SEED_PSK = "nonebutourselvescanfreeourminds"


@pytest.fixture(scope="module")
def interop(lab_for):
    session = lab_for("seed", name="interop")
    # the seed's steps on vpn2, by hand: install, start, make a key, forward
    session.sh("vpn2", "DEBIAN_FRONTEND=noninteractive apt-get install -y -q libreswan >/dev/null", timeout=300)
    session.sh("vpn2", "ipsec initnss >/dev/null 2>&1 || true; sysctl -qw net.ipv4.ip_forward=1")
    generated = session.sh("vpn2", "ipsec newhostkey --bits 3072 2>&1").stdout
    ckaid = re.search(r"CKAID ([0-9a-f]+)", generated).group(1)
    session.right_key = re.search(r"rightrsasigkey=(0s\S+)", session.sh(
        "vpn2", "ipsec showhostkey --right --ckaid %s" % ckaid).stdout).group(1)
    return session


def _hand_configure_vpn2(session, conf, secrets=""):
    session.lab.run("vpn2", "cat > /etc/ipsec.conf", input=conf)
    session.lab.run("vpn2", "cat > /etc/ipsec.secrets; chmod 600 /etc/ipsec.secrets", input=secrets)
    session.sh("vpn2", "systemctl restart ipsec")   # the seed: service ipsec restart


def _encrypted_both_ways(session):
    for src, dst, wire in (("server1", SERVER2, "wan1"), ("server2", SERVER1, "wan2")):
        evidence = session.ping_across(src, dst, segment=wire)
        assert evidence["received"] == evidence["sent"], evidence
        assert evidence["esp"] >= 2 * evidence["sent"] and evidence["icmp_clear"] == 0, evidence


def test_rsa_with_a_peer_configured_by_hand_from_the_seeds_text(interop, tmp_path):
    peer = {"name": "site2-by-hand", "address": "203.0.113.10", "id": "@vpn2", "pubkey": interop.right_key}
    interop.vars(sitevpn_tunnels=[{
        "name": "net-to-net", "left": "vpn1", "right": peer,
        "left_subnets": "172.16.1.0/24", "right_subnets": "10.0.0.0/24",
        "probe": {"from": "server1", "to": "server2"}}])

    # 1. our half is handed over (the key exists only after this run)
    handed = interop.playbook("peer_config.yml", "--limit", "vpn1", "-e", "sitevpn_peer_config_dir=%s" % tmp_path)
    assert handed.rc == 0, handed.out[-3000:]
    text = (tmp_path / "net-to-net.txt").read_text()
    assert oct(os.stat(str(tmp_path / "net-to-net.txt")).st_mode & 0o777) == "0o600"
    assert "BEGIN PUBLIC KEY" in text and "conn net-to-net" in text

    # 2. the other administrator does the seed's steps with it
    # (today `ipsec showhostkey --left` needs --ckaid: NSS may hold several keys)
    ckaid = re.search(r"ckaid: ([0-9a-f]+)", interop.sh("vpn1", "ipsec showhostkey --list").stdout).group(1)
    shown = interop.sh("vpn1", "ipsec showhostkey --left --ckaid %s" % ckaid).stdout
    left_key = re.search(r"leftrsasigkey=(0s\S+)", shown).group(1)
    assert left_key in text          # what we handed over is what `ipsec showhostkey --left` says
    _hand_configure_vpn2(interop, SEED_CONN_RSA.format(left_key=left_key, right_key=interop.right_key))

    # 3. our side, by the collection; vpn2 is not in the play
    run = interop.playbook("site-to-site.yml", "--limit", "vpn1")
    assert run.rc == 0, run.out[-3000:]
    _encrypted_both_ways(interop)


def test_psk_with_a_peer_configured_by_hand_in_the_seeds_ip_address_form(interop):
    _hand_configure_vpn2(interop, SEED_CONN_PSK,
                         '198.51.100.10 203.0.113.10 : PSK "%s"\n' % SEED_PSK)
    interop.host_vars("vpn1", sitevpn_id="198.51.100.10")   # the seed's PSK form names the ends by address
    interop.vars(sitevpn_tunnels=[{
        "name": "net-to-net", "left": "vpn1", "right": {"address": "203.0.113.10"},
        "left_subnets": "172.16.1.0/24", "right_subnets": "10.0.0.0/24", "auth": "psk", "psk": SEED_PSK,
        "probe": {"from": "server1", "to": "server2"}}])
    run = interop.playbook("site-to-site.yml", "--limit", "vpn1")
    assert run.rc == 0, run.out[-3000:]
    assert SEED_PSK not in run.out
    _encrypted_both_ways(interop)
