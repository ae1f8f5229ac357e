"""Certificate tunnels (`auth: cert`): a CA on the controller, keys born on the gateways, renewal, revocation.

First on a lab of two Libreswan versions (vpn1 4.10 on Debian 12, vpn2 5.2 on Debian 13), from bare
gateways: the keys role makes the CA in `sitevpn_ca_dir`, each gateway makes a key pair in its NSS
database and a request, the controller signs, the gateways import; the tunnel comes up with ECDSA
signatures and carries server1's pings encrypted. A rerun issues nothing and keeps the SAs. A short
lifetime then forces renewal: new serials on both ends, the tunnel authenticated anew with them, the
traffic gap measured; so is a new CA taking over. Then on a hub of three: a spoke revoked is shut out by the CRL even where its
conn is still there.
"""

import os
import re

import pytest

from labtest import SERVER1, SERVER2, assert_encrypted_both_ways, encrypted, lost_pings, pinging, release

TUNNEL = {"name": "net-to-net", "left": "vpn1", "right": "vpn2", "auth": "cert",
          "left_subnets": "172.16.1.0/24", "right_subnets": "10.0.0.0/24",
          "probe": {"from": "server1", "to": SERVER2}}
RENEWAL_GAP = 1.0          # seconds of traffic lost while both ends renew (the issue's goal; measured 0.1 s)
CA_ROTATION_GAP = 15.0     # a new CA: pluto restarted on both ends, the conns replaced (a rare, planned event)
NSS = "sql:/var/lib/ipsec/nss"


@pytest.fixture(scope="module")
def lab(lab_for):
    session = lab_for("mixed", name="cert")
    session.ca_dir = os.path.join(session.lab.dir, "ca")       # beside the inventory, not in it
    return session


def serials(lab):
    return dict((gw, re.search(r"^# Certificate sitevpn-net-to-net: serial (\w+)",
                               lab.sh(gw, "cat /etc/ipsec.d/net-to-net.conf").stdout, re.M).group(1))
                for gw in ("vpn1", "vpn2"))


def ike_sas(lab, gateway="vpn1"):
    status = lab.sh(gateway, "ipsec status", check=False).stdout
    return set(re.findall(r'#(\d+): "net-to-net"[^ ]* STATE_V2_ESTABLISHED_IKE_SA', status))


def nss_serial(lab, gateway):
    shown = lab.sh(gateway, "certutil -L -d %s -n sitevpn-net-to-net" % NSS).stdout
    block = re.search(r"Serial Number:\s*\n((?:\s+[0-9a-f:]+\n)+)", shown).group(1)
    return re.sub(r"[:\s]", "", block).lstrip("0")


def test_bare_gateways_of_two_libreswan_versions_get_certificates_and_a_tunnel(lab):
    lab.vars(sitevpn_tunnels=[TUNNEL], sitevpn_ca_dir=lab.ca_dir)
    run = lab.playbook()
    assert run.rc == 0, run.out[-3000:]
    assert run.says("answered, ESP bytes")
    assert_encrypted_both_ways(lab)
    for gw, side, other in (("vpn1", "left", "right"), ("vpn2", "right", "left")):
        conf = lab.sh(gw, "cat /etc/ipsec.d/net-to-net.conf").stdout
        for line in ("%scert=sitevpn-net-to-net" % side, "%ssendcert=always" % side, "authby=ecdsa"):
            assert "    %s\n" % line in conf, (gw, conf)
        # the peer's certificate must come from our CA, named (not %same, which a new CA would not reach)
        assert re.search(r'^    %sca="CN=sitevpn CA \d{4}-\d\d-\d\d [0-9a-f]{8}"$' % other, conf, re.M), conf
        # the certificate carries this end's ID and is signed by the controller's CA
        shown = lab.sh(gw, "certutil -L -d %s -n sitevpn-net-to-net" % NSS).stdout
        assert "DNS name: \"net-to-net.%s\"" % gw in shown, shown
        assert re.search(r'Issuer: "CN=sitevpn CA \d{4}-\d\d-\d\d [0-9a-f]{8}"', shown), shown
        # its private key is in the gateway's NSS database ...
        assert re.search(r"^<\s*\d+> ec\s+\w+\s+NSS Certificate DB:sitevpn-net-to-net$",
                         lab.sh(gw, "certutil -K -d %s" % NSS).stdout, re.M)
    # ... and nowhere on the controller: its CA directory holds the CA's key, certificates, nothing else
    files = sorted(os.listdir(lab.ca_dir))
    assert files == [".lock", "ca.crt", "ca.key", "issued"], files
    assert oct(os.stat(os.path.join(lab.ca_dir, "ca.key")).st_mode & 0o777) == "0o600"
    for name in os.listdir(os.path.join(lab.ca_dir, "issued")):
        assert "PRIVATE" not in open(os.path.join(lab.ca_dir, "issued", name)).read()
    assert "PRIVATE KEY" not in run.out
    print("certificate tunnel from bare gateways: %.1f s, changed %d" % (run.seconds, run.changed))


def test_a_rerun_issues_nothing_and_keeps_the_sas(lab):
    before = (lab.spis("vpn1"), lab.spis("vpn2"), serials(lab), sorted(os.listdir(os.path.join(lab.ca_dir, "issued"))))
    run = lab.playbook()
    assert run.rc == 0, run.out[-3000:]
    assert run.changed == 0, run.recap
    after = (lab.spis("vpn1"), lab.spis("vpn2"), serials(lab), sorted(os.listdir(os.path.join(lab.ca_dir, "issued"))))
    assert after == before
    print("certificate rerun: %.1f s" % run.seconds)


def test_a_short_lifetime_renews_both_certificates_with_a_short_gap(lab):
    # certificates of a day (issued now, on request) ...
    lab.vars(sitevpn_tunnels=[TUNNEL], sitevpn_ca_dir=lab.ca_dir, sitevpn_cert_days=1, sitevpn_rotate_cert=True)
    assert lab.playbook().rc == 0
    old, old_ike = serials(lab), ike_sas(lab)
    # ... are renewed by the next run when less than 99.9 % of their day is left: at once, as a lifetime
    # running out would be (the default share is a third)
    lab.vars(sitevpn_tunnels=[TUNNEL], sitevpn_ca_dir=lab.ca_dir, sitevpn_cert_days=1, sitevpn_cert_renew_share=0.999)
    pinger = pinging(lab, 60)
    run = lab.playbook()
    lost = lost_pings(pinger)
    assert run.rc == 0, run.out[-3000:]
    new = serials(lab)
    assert new["vpn1"] != old["vpn1"] and new["vpn2"] != old["vpn2"], (old, new)
    for gw in ("vpn1", "vpn2"):
        # the certificate in NSS is the one the conn names (certutil prints the serial as hex bytes)
        assert nss_serial(lab, gw) == new[gw]
        # the old certificate went with its key: one key for the tunnel
        assert lab.sh(gw, "certutil -K -d %s" % NSS).stdout.count("sitevpn-net-to-net") == 1
    # the tunnel was authenticated anew with the new certificates (a new IKE SA), not merely kept
    assert ike_sas(lab) and not ike_sas(lab) & old_ike, (old_ike, ike_sas(lab))
    print("certificate renewal on both ends: %d pings of 0.1 s lost -> traffic gap about %.1f s (run %.1f s)"
          % (lost, lost * 0.1, run.seconds))
    assert lost * 0.1 <= RENEWAL_GAP, "renewal gap %.1f s > %.1f s" % (lost * 0.1, RENEWAL_GAP)
    assert_encrypted_both_ways(lab)
    lab.vars(sitevpn_tunnels=[TUNNEL], sitevpn_ca_dir=lab.ca_dir, sitevpn_cert_days=1)
    rerun = lab.playbook()
    assert rerun.rc == 0 and rerun.changed == 0, rerun.recap
    assert serials(lab) == new


def test_a_new_ca_takes_over_in_one_run(lab):
    """Rotating the CA itself: a new CA directory, one run. Each gateway adds the new CA certificate beside
    the old and restarts pluto (which would not trust a second CA otherwise), both certificates are re-issued
    by it, the conns name it and are replaced; the gap is measured."""
    old = serials(lab)
    pinger = pinging(lab, 40)
    lab.vars(sitevpn_tunnels=[TUNNEL], sitevpn_ca_dir=os.path.join(lab.lab.dir, "ca-2"), sitevpn_cert_days=1)
    run = lab.playbook()
    lost = lost_pings(pinger)
    assert run.rc == 0, run.out[-3000:]
    new = serials(lab)
    assert new["vpn1"] != old["vpn1"] and new["vpn2"] != old["vpn2"]
    for gw in ("vpn1", "vpn2"):
        listing = lab.sh(gw, "certutil -L -d %s" % NSS).stdout
        assert len(re.findall(r"^sitevpn-ca-[0-9a-f]{8}\s+CT,,", listing, re.M)) == 2, listing
    print("CA rotation: %d pings of 0.1 s lost -> traffic gap about %.1f s (run %.1f s)" % (lost, lost * 0.1, run.seconds))
    assert lost * 0.1 <= CA_ROTATION_GAP
    assert_encrypted_both_ways(lab)
    release("cert")      # the last test on this lab: free its CPU and memory for the next ones


def test_a_revoked_spoke_is_shut_out_by_the_crl_even_where_its_conn_stayed(lab_for, tmp_path):
    lab = lab_for("hub3", name="cert-hub")
    ca_dir = os.path.join(lab.lab.dir, "ca")
    hub = {"name": "hq", "hub": "vpn1", "spokes": ["vpn2", "vpn3"], "defaults": {"auth": "cert"}}
    try:
        lab.vars(sitevpn_topologies=[hub], sitevpn_ca_dir=ca_dir)
        run = lab.playbook()
        assert run.rc == 0, run.out[-3000:]
        encrypted(lab, "server3", SERVER1, "wan3", within=10)
        # vpn3 is lost: out of the hub, revoked. The hub keeps its conn (no purge): only the CRL stands between
        lab.vars(sitevpn_topologies=[dict(hub, spokes=["vpn2"])], sitevpn_ca_dir=ca_dir,
                 sitevpn_revoked_gateways=["vpn3"])
        run = lab.playbook()
        assert run.rc == 0, run.out[-3000:]
        assert "hq-vpn3" in lab.sh("vpn1", "ls /etc/ipsec.d").stdout          # the stale conn is still there
        crls = lab.sh("vpn1", "crlutil -L -d %s" % NSS).stdout
        assert "sitevpn-ca-" in crls, crls
        # the hub restarted pluto for the CRL; the good spoke is back, authenticated anew
        encrypted(lab, "server2", SERVER1, "wan2", within=10)
        # vpn3 tries with the certificate and key it still has: the hub refuses it
        lab.sh("vpn3", "ipsec auto --add hq-vpn3; ipsec auto --down hq-vpn3", check=False)
        up = lab.sh("vpn3", "timeout 30 ipsec auto --up hq-vpn3", check=False)
        assert "established Child SA" not in up.stdout, up.stdout
        log = lab.sh("vpn1", "journalctl -u ipsec --no-pager -n 300").stdout
        assert "SEC_ERROR_REVOKED_CERTIFICATE" in log or "revoked" in log.lower(), log[-3000:]
        assert lab.ping_across("server3", SERVER1, "wan3", count=2)["received"] == 0
        rerun = lab.playbook()
        assert rerun.rc == 0 and rerun.changed == 0, rerun.recap      # the same CRL is not imported again
    finally:
        release("cert-hub")
