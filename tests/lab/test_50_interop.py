"""A peer the collection does not manage, configured by hand exactly as the seed does it.

vpn2 is set up the seed's way - install, `ipsec newhostkey`, `ipsec showhostkey --right`, the
`conn net-to-net` typed into /etc/ipsec.conf, `service ipsec restart` - and vpn1 is set up by
the collection with vpn2 as an unmanaged peer. First with RSA keys, then with a pre-shared key
in the seed's IP-address form. The collection's half is handed over through peer_config.yml.
"""

import os
import re
import sys

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


# -- when the peer refuses: the cause named from what pluto logged of the attempt (issue 16) -------------

FAULT_PSK = "Fault-case-key-7Hq2Lm9Xv4Rt"
PEER_CONN = """\
config setup

conn to-ss
    authby=secret
    left=198.51.100.10
    leftid=@vpn1
    leftsubnet=172.16.1.0/24
    right=203.0.113.10
    rightid=@ss
    rightsubnet={right_subnet}
    ike={ike}
    esp=aes_gcm256
    auto=add
"""
GOOD_IKE = "aes_gcm256-sha2_256-dh19"


def _attempt(session, conf=None, secret=FAULT_PSK, timeout=12, **fields):
    """vpn2 hand-configured with *conf* (pluto stopped when None), then the collection brings up `to-ss` on
    vpn1 and must fail; the run's output."""
    session.sh("vpn1", "ipsec auto --delete net-to-net >/dev/null 2>&1; "
                       "rm -f /etc/ipsec.d/net-to-net.conf /etc/ipsec.d/net-to-net.secrets; true")
    session.host_vars("vpn1")     # back to its default ID, @vpn1 (the seed's PSK form used its address)
    if conf is None:
        session.sh("vpn2", "systemctl stop ipsec")
    else:
        _hand_configure_vpn2(session, conf, '@vpn1 @ss : PSK "%s"\n' % secret)
    tunnel = {"name": "to-ss", "left": "vpn1", "right": {"name": "ss", "address": "203.0.113.10", "id": "@ss"},
              "left_subnets": "172.16.1.0/24", "right_subnets": "10.0.0.0/24", "auth": "psk", "psk": FAULT_PSK}
    tunnel.update(fields)
    session.vars(sitevpn_tunnels=[tunnel])
    run = session.playbook("site-to-site.yml", "--limit", "vpn1", "-e", "sitevpn_up_timeout=%d" % timeout)
    assert run.rc != 0 and run.says("tunnel to-ss did not come up:"), run.out[-3000:]
    # rolled back: the new tunnel is gone again, pluto does not go on retrying it
    assert "to-ss" not in interop_status(session)
    return run


def interop_status(session):
    return session.sh("vpn1", "ipsec status | grep -F '\"to-ss' || true").stdout


@pytest.fixture
def peer_pluto_back(interop):
    yield
    # ('[i]': the pattern must not match this very command line)
    interop.sh("vpn2", "pkill -f '[i]nvalid_ke_peer'; systemctl start ipsec", check=False)
    interop.sh("router", "nft delete table inet lab_ike 2>/dev/null; true", check=False)


def test_a_peer_that_cannot_do_the_dh_group_it_asks_for_is_named_with_the_group(interop, peer_pluto_back):
    """The issue's foreign peer: it answers every IKE_SA_INIT with INVALID_KE_PAYLOAD(DH19), also when
    vpn1 already sent DH19. It used to be reported as "No answer from the peer"."""
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "invalid_ke_peer.py")) as handle:
        interop.lab.run("vpn2", "cat > /root/invalid_ke_peer.py", input=handle.read())
    interop.sh("vpn2", "systemctl stop ipsec; (setsid python3 /root/invalid_ke_peer.py 203.0.113.10 19 "
                       ">/root/invalid_ke_peer.log 2>&1 &); sleep 1; cat /root/invalid_ke_peer.log")
    run = _attempt(interop, conf=None, ike="aes_gcm256-sha2_256-dh19+dh14")
    assert run.says("did not come up: dh_group"), run.out[-3000:]
    assert run.says("asking for DH19 (DH group 19)") and run.says("it cannot do that group")
    assert run.says("Give the tunnel an `ike` proposal") and not run.says("No answer from the peer")


def test_no_common_proposal_shows_what_this_end_offered(interop, peer_pluto_back):
    run = _attempt(interop, PEER_CONN.format(right_subnet="10.0.0.0/24", ike="aes256-sha2_512-modp4096"),
                   ike=GOOD_IKE)
    assert run.says("did not come up: no_proposal") and run.says("This end offers ike=%s" % GOOD_IKE), run.out[-3000:]


def test_subnets_that_do_not_mirror_are_named_as_such(interop, peer_pluto_back):
    run = _attempt(interop, PEER_CONN.format(right_subnet="10.9.0.0/24", ike=GOOD_IKE), ike=GOOD_IKE)
    assert run.says("did not come up: ts_unacceptable"), run.out[-3000:]
    assert run.says("its subnets must mirror this end's (172.16.1.0/24 <-> 10.0.0.0/24)")


def test_another_key_on_the_peer_names_the_id_this_end_sent(interop, peer_pluto_back):
    run = _attempt(interop, PEER_CONN.format(right_subnet="10.0.0.0/24", ike=GOOD_IKE),
                   secret="Another-key-entirely-9Zk3Pq", ike=GOOD_IKE)
    assert run.says("did not come up: auth_failed"), run.out[-3000:]
    assert run.says("this end sent ID '@vpn1'")


def test_ike_auth_dropped_on_the_path_is_not_called_no_answer(interop, peer_pluto_back):
    """A router that passes IKE_SA_INIT but drops IKE_AUTH (exchange type 35 at byte 18 of the IKE
    header, after the 8 bytes of the UDP header) - what a path that eats fragments does to a big IKE_AUTH."""
    interop.sh("router", "nft add table inet lab_ike; nft add chain inet lab_ike forward_ike "
                         "'{ type filter hook forward priority -10; }'; "
                         "nft add rule inet lab_ike forward_ike udp dport 500 @th,208,8 35 drop")
    run = _attempt(interop, PEER_CONN.format(right_subnet="10.0.0.0/24", ike=GOOD_IKE), ike=GOOD_IKE)
    assert run.says("did not come up: no_ike_auth"), run.out[-3000:]
    assert run.says("answered IKE_SA_INIT but never IKE_AUTH") and not run.says("No answer from the peer")


# -- a strongSwan peer configured only from peer_config.yml's output (issue 16) ---------------------------

SS_PSK = "StrongSwan-peer-key-4Vb8Nw2Qx"


@pytest.fixture(scope="module")
def strongswan(interop):
    """vpn2 becomes a strongSwan box: Libreswan stopped, charon (systemd flavour) and swanctl installed."""
    # Debian's libreswan and strongSwan's charon conflict: the one goes, the other comes
    interop.sh("vpn2", "systemctl disable --now ipsec >/dev/null 2>&1; pkill -f '[i]nvalid_ke_peer'; "
                       "export DEBIAN_FRONTEND=noninteractive; apt-get remove -y -q libreswan >/dev/null && "
                       "apt-get install -y -q charon-systemd strongswan-swanctl libstrongswan-standard-plugins "
                       ">/dev/null", timeout=300)
    interop.sh("vpn2", "systemctl is-active strongswan || systemctl restart strongswan")
    interop.sh("vpn1", "for c in net-to-net to-ss; do ipsec auto --delete $c >/dev/null 2>&1; "
                       "rm -f /etc/ipsec.d/$c.conf /etc/ipsec.d/$c.secrets; done; true")
    interop.host_vars("vpn1")
    version = interop.sh("vpn2", "swanctl --version").stdout.strip()
    sys.stdout.write("strongSwan peer: %s\n" % version)
    return interop


def _hand_over_to_strongswan(session, tmp_path):
    """peer_config.yml on the controller, then the strongSwan administrator's steps: the files into
    /etc/swanctl, `swanctl --load-all`. Nothing else is typed on vpn2."""
    handed = session.playbook("peer_config.yml", "--limit", "vpn1", "-e", "sitevpn_peer_config_dir=%s" % tmp_path)
    assert handed.rc == 0, handed.out[-3000:]
    session.sh("vpn2", "rm -f /etc/swanctl/conf.d/*.conf /etc/swanctl/pubkey/*.pem")
    for path in sorted(tmp_path.iterdir()):
        if path.name.endswith(".swanctl.conf"):
            session.lab.run("vpn2", "cat > /etc/swanctl/conf.d/%s.conf" % path.name[:-len(".swanctl.conf")],
                            input=path.read_text())
        elif path.name.endswith(".pem"):
            session.lab.run("vpn2", "cat > /etc/swanctl/pubkey/%s" % path.name, input=path.read_text())
    loaded = session.sh("vpn2", "swanctl --load-all 2>&1").stdout
    # (swanctl's own "plugin 'x': failed to load" lines are about plugins it has no use for)
    complaints = [line for line in loaded.splitlines() if "fail" in line.lower() and not line.startswith("plugin '")]
    assert "loaded connection 'to-ss'" in loaded and not complaints, loaded
    return loaded


def _proven_and_idempotent(session):
    run = session.playbook("site-to-site.yml", "--limit", "vpn1")
    assert run.rc == 0, run.out[-3000:]
    _encrypted_both_ways(session)
    child = session.sh("vpn2", "swanctl --list-sas").stdout
    assert "to-ss" in child and "INSTALLED" in child, child
    again = session.playbook("site-to-site.yml", "--limit", "vpn1")
    assert again.rc == 0 and again.changed == 0, again.out[-3000:]
    return child


def test_a_strongswan_peer_with_a_psk_configured_only_from_its_swanctl_file(strongswan, tmp_path):
    strongswan.vars(sitevpn_tunnels=[{
        "name": "to-ss", "left": "vpn1", "right": {"name": "ss", "address": "203.0.113.10", "id": "@ss"},
        "left_subnets": "172.16.1.0/24", "right_subnets": "10.0.0.0/24", "auth": "psk", "psk": SS_PSK,
        "probe": {"from": "server1", "to": "server2"}}])
    _hand_over_to_strongswan(strongswan, tmp_path)
    child = _proven_and_idempotent(strongswan)
    sys.stdout.write("strongSwan's view:\n%s\n" % child)


def test_a_strongswan_peer_with_raw_rsa_keys_in_pem(strongswan, tmp_path):
    # the strongSwan administrator makes a key pair and gives us the public half, as PEM
    strongswan.sh("vpn2", "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:3072 "
                          "-out /etc/swanctl/private/ss.pem 2>/dev/null; chmod 600 /etc/swanctl/private/ss.pem")
    pem = strongswan.sh("vpn2", "openssl pkey -in /etc/swanctl/private/ss.pem -pubout").stdout
    strongswan.vars(sitevpn_tunnels=[{
        "name": "to-ss", "left": "vpn1", "right": {"name": "ss", "address": "203.0.113.10", "id": "@ss",
                                                   "pubkey": pem},
        "left_subnets": "172.16.1.0/24", "right_subnets": "10.0.0.0/24",
        "probe": {"from": "server1", "to": "server2"}}])
    _hand_over_to_strongswan(strongswan, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["to-ss-ss.pem", "to-ss-vpn1.pem", "to-ss.swanctl.conf",
                                                          "to-ss.txt"]
    _proven_and_idempotent(strongswan)
