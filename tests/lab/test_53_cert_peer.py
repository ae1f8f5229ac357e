"""A certificate peer the collection does not manage: its request signed by our CA, configured by hand.

vpn2 is a Libreswan gateway administered by someone else. Its administrator makes a key pair and a
certificate request in vpn2's NSS database (`certutil -R`) and sends the request; the tunnel names it
(`right: {..., csr: ...}`). `peer_config.yml` hands back our CA's certificate, vpn2's certificate signed
by our CA and the conn; the administrator imports both and adds the conn. vpn1 is set up by the
collection. The tunnel must carry traffic encrypted both ways, and vpn2's key never left vpn2.
"""

import os
import re

import pytest

from labtest import collection_ca, release

SERVER1, SERVER2 = "172.16.1.100", "10.0.0.105"
NSS = "sql:/var/lib/ipsec/nss"


@pytest.fixture(scope="module")
def peer(lab_for):
    session = lab_for("seed", name="cert-peer")
    session.ca_dir = os.path.join(session.lab.dir, "ca")
    session.sh("vpn2", "DEBIAN_FRONTEND=noninteractive apt-get install -y -q libreswan >/dev/null", timeout=300)
    session.sh("vpn2", "ipsec initnss >/dev/null 2>&1 || true; sysctl -qw net.ipv4.ip_forward=1")
    session.sh("vpn2", "head -c 64 /dev/urandom > /run/noise && certutil -R -d %s -s CN=vpn2,O=branch -k ec "
                       "-q nistp256 -z /run/noise -a -o /run/vpn2.csr >/dev/null 2>&1" % NSS)
    session.csr = session.sh("vpn2", "cat /run/vpn2.csr").stdout
    return session


def conn_of(text):
    """The conn the .txt hands out for a Libreswan peer: 'conn NAME' and its indented lines."""
    lines = text.splitlines()
    start = lines.index("conn net-to-net")
    body = [lines[start]]
    for line in lines[start + 1:]:
        if not line.startswith("    "):
            break
        body.append(line)
    return "\n".join(body) + "\n"


def test_a_peer_that_sent_a_request_gets_a_certificate_of_our_ca_and_the_tunnel_comes_up(peer, tmp_path):
    assert "BEGIN NEW CERTIFICATE REQUEST" in peer.csr
    peer.vars(sitevpn_ca_dir=peer.ca_dir, sitevpn_tunnels=[{
        "name": "net-to-net", "left": "vpn1", "auth": "cert",
        "right": {"name": "branch", "address": "203.0.113.10", "id": "@vpn2", "csr": peer.csr},
        "left_subnets": "172.16.1.0/24", "right_subnets": "10.0.0.0/24",
        "probe": {"from": "server1", "to": "server2"}}])

    handed = peer.playbook("peer_config.yml", "--limit", "vpn1", "-e", "sitevpn_peer_config_dir=%s" % tmp_path)
    assert handed.rc == 0, handed.out[-3000:]
    files = sorted(os.listdir(str(tmp_path)))
    assert files == ["net-to-net-ca.crt", "net-to-net-peer.crt", "net-to-net.swanctl.conf", "net-to-net.txt"], files
    text = (tmp_path / "net-to-net.txt").read_text()
    assert "X.509 certificates" in text and "PRIVATE" not in text

    # the other administrator: our CA trusted, its certificate beside the key it made, the conn added
    peer.lab.run("vpn2", "cat > /run/ca.crt", input=(tmp_path / "net-to-net-ca.crt").read_text())
    peer.lab.run("vpn2", "cat > /run/vpn2.crt", input=(tmp_path / "net-to-net-peer.crt").read_text())
    peer.sh("vpn2", "certutil -A -d %s -n sitevpn-ca -t CT,, -a -i /run/ca.crt && "
                    "certutil -A -d %s -n sitevpn-net-to-net -t u,u,u -a -i /run/vpn2.crt" % (NSS, NSS))
    peer.lab.run("vpn2", "cat > /etc/ipsec.d/net-to-net.conf", input=conn_of(text))
    peer.sh("vpn2", "systemctl restart ipsec")

    run = peer.playbook("site-to-site.yml", "--limit", "vpn1")
    assert run.rc == 0, run.out[-3000:]
    for src, dst, wire in (("server1", SERVER2, "wan1"), ("server2", SERVER1, "wan2")):
        evidence = peer.ping_across(src, dst, segment=wire)
        assert evidence["received"] == evidence["sent"], evidence
        assert evidence["esp"] >= 2 * evidence["sent"] and evidence["icmp_clear"] == 0, evidence
    # vpn2's key is where it was made, and the certificate it uses is the one our CA signed for it
    assert re.search(r"NSS Certificate DB:sitevpn-net-to-net$", peer.sh("vpn2", "certutil -K -d %s" % NSS).stdout, re.M)
    rerun = peer.playbook("site-to-site.yml", "--limit", "vpn1")
    assert rerun.rc == 0 and rerun.changed == 0, rerun.recap


def test_a_peer_with_a_ca_of_its_own_is_trusted_for_its_tunnel(peer, tmp_path):
    """The other administrator has a CA of their own (played here by cryptography on the controller): vpn2's
    certificate comes from it, and the tunnel gives that CA's certificate (`ca_cert`)."""
    _ca = collection_ca()
    branch_key, branch_ca = _ca.new_ca("Branch Office CA")
    branch_pem = _ca.cert_pem(branch_ca).decode("ascii")
    vpn2_cert = _ca.cert_pem(_ca.sign_csr(branch_key, branch_ca, peer.csr, ids=["@vpn2"])).decode("ascii")
    peer.vars(sitevpn_ca_dir=peer.ca_dir, sitevpn_tunnels=[{
        "name": "net-to-net", "left": "vpn1", "auth": "cert",
        "right": {"name": "branch", "address": "203.0.113.10", "id": "@vpn2", "ca_cert": branch_pem},
        "left_subnets": "172.16.1.0/24", "right_subnets": "10.0.0.0/24",
        "probe": {"from": "server1", "to": "server2"}}])
    handed = peer.playbook("peer_config.yml", "--limit", "vpn1", "-e", "sitevpn_peer_config_dir=%s" % tmp_path)
    assert handed.rc == 0, handed.out[-3000:]
    assert "net-to-net-peer.crt" not in os.listdir(str(tmp_path))        # its certificate is its CA's business
    text = (tmp_path / "net-to-net.txt").read_text()
    # vpn2: our CA (to check vpn1), its own CA and the certificate it issued, the conn again (it names our CA)
    peer.lab.run("vpn2", "cat > /run/ca.crt", input=(tmp_path / "net-to-net-ca.crt").read_text())
    peer.sh("vpn2", "(certutil -D -d %s -n sitevpn-ca || true) && certutil -A -d %s -n sitevpn-ca -t CT,, -a -i /run/ca.crt"
            % (NSS, NSS))
    peer.lab.run("vpn2", "cat > /run/branch-ca.crt", input=branch_pem)
    peer.lab.run("vpn2", "cat > /run/vpn2.crt", input=vpn2_cert)
    peer.sh("vpn2", "(certutil -D -d %s -n sitevpn-net-to-net || true) && certutil -A -d %s -n branch-ca -t CT,, -a -i "
                    "/run/branch-ca.crt && certutil -A -d %s -n sitevpn-net-to-net -t u,u,u -a -i /run/vpn2.crt"
                    % (NSS, NSS, NSS))
    peer.lab.run("vpn2", "cat > /etc/ipsec.d/net-to-net.conf", input=conn_of(text))
    peer.sh("vpn2", "systemctl restart ipsec")

    run = peer.playbook("site-to-site.yml", "--limit", "vpn1")
    assert run.rc == 0, run.out[-3000:]
    assert '    rightca="CN=Branch Office CA"\n' in peer.sh("vpn1", "cat /etc/ipsec.d/net-to-net.conf").stdout
    assert re.search(r"^sitevpn-peerca-[0-9a-f]{8}\s+CT,,", peer.sh("vpn1", "certutil -L -d %s" % NSS).stdout, re.M)
    for src, dst, wire in (("server1", SERVER2, "wan1"), ("server2", SERVER1, "wan2")):
        evidence = peer.ping_across(src, dst, segment=wire)
        assert evidence["received"] == evidence["sent"], evidence
        assert evidence["esp"] >= 2 * evidence["sent"] and evidence["icmp_clear"] == 0, evidence
    rerun = peer.playbook("site-to-site.yml", "--limit", "vpn1")
    assert rerun.rc == 0 and rerun.changed == 0, rerun.recap
    release("cert-peer")      # the last test on this lab
