"""Certificate tunnels (`auth: cert`): a CA on the controller, keys born on the gateways, renewal, revocation.

First on a lab of two Libreswan versions (vpn1 4.10 on Debian 12, vpn2 5.2 on Debian 13), from bare
gateways: the keys role makes the CA in `sitevpn_ca_dir`, each gateway makes a key pair in its NSS
database and a request, the controller signs, the gateways import; the tunnel comes up with ECDSA
signatures and carries server1's pings encrypted. A rerun issues nothing and keeps the SAs. A short
lifetime then forces renewal: new serials on both ends, the tunnel authenticated anew with them, the
traffic gap measured; so is a new CA taking over. Then on a hub of three: a spoke revoked is shut out by the CRL even where its
conn is still there.
"""

import datetime
import os
import re
import shutil
import subprocess
import sys

import pytest

from labtest import (SERVER1, SERVER2, assert_encrypted_both_ways, collection_ca, encrypted, lost_pings, pinging,
                     release)

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
    """vpn1's ID is its certificate's subjectAltName (the default), vpn2's its subject DN (sitevpn_cert_id)."""
    lab.vars(sitevpn_tunnels=[TUNNEL], sitevpn_ca_dir=lab.ca_dir)
    lab.host_vars("vpn2", sitevpn_cert_id="subject")
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
        if gw == "vpn1":
            assert "DNS name: \"net-to-net.vpn1\"" in shown, shown
            assert "    leftid=@net-to-net.vpn1\n" in conf, conf
        else:
            assert 'Subject: "CN=vpn2,OU=net-to-net,O=sitevpn"' in shown, shown
            assert '    rightid="O=sitevpn, OU=net-to-net, CN=vpn2"\n' in conf, conf
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


def _pki_files(directory, days=365, start=None):
    """A PKI of the user's own (not the collection's): its CA and a certificate for each gateway, subject
    O=Example, CN=<gw>.example.net, its name as subjectAltName. vpn1's key is vault-encrypted, vpn2's a PEM
    under a passphrase."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    _ca = collection_ca()

    os.makedirs(directory, exist_ok=True)
    ca_path = os.path.join(directory, "ca.pem")
    if not os.path.exists(ca_path):
        ca_key, ca_cert = _ca.new_ca("Example Corporate CA")
        with open(ca_path, "wb") as handle:
            handle.write(_ca.cert_pem(ca_cert))
        with open(os.path.join(directory, "ca.key"), "wb") as handle:
            handle.write(_ca.key_pem(ca_key))
    with open(ca_path) as handle, open(os.path.join(directory, "ca.key")) as key_handle:
        ca_key, ca_cert, _w = _ca.load_ca(handle.read(), key_handle.read())
    files = {}
    for gw in ("vpn1", "vpn2"):
        key = ec.generate_private_key(ec.SECP256R1())
        csr = (x509.CertificateSigningRequestBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Example"),
                                        x509.NameAttribute(NameOID.COMMON_NAME, "%s.example.net" % gw)]))
               .sign(key, hashes.SHA256()))
        cert = _ca.sign_csr(ca_key, ca_cert, csr.public_bytes(serialization.Encoding.PEM),
                            ids=["@%s.example.net" % gw], days=days, now=start)
        files[gw] = {"cert": os.path.join(directory, "%s.crt" % gw), "key": os.path.join(directory, "%s.key" % gw)}
        with open(files[gw]["cert"], "wb") as handle:
            handle.write(_ca.cert_pem(cert))
        with open(files[gw]["key"], "wb") as handle:
            handle.write(_ca.key_pem(key, PKI_PASSPHRASE if gw == "vpn2" else None))
    return ca_path, files


PKI_PASSPHRASE = "vpn2-key-passphrase"


def test_gateways_that_bring_certificates_of_their_own_pki_use_them_with_ids_from_them(lab):
    """The third way: the user's PKI issued the gateways' certificates; the collection checks them (a bad one
    is refused before any host is touched, the tunnel left as it was), installs certificate and key and
    brings the tunnel up with the IDs the certificates carry."""
    pki = os.path.join(lab.lab.dir, "pki")
    vault_password = os.path.join(lab.lab.dir, "vault-password")
    with open(vault_password, "w") as handle:
        handle.write("lab-vault-password\n")
    ca_path, files = _pki_files(pki)
    subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-vault"), "encrypt",
                    "--vault-password-file", vault_password, files["vpn1"]["key"]], check=True)
    for gw in ("vpn1", "vpn2"):
        lab.host_vars(gw, sitevpn_gateway_cert_file=files[gw]["cert"], sitevpn_gateway_key_file=files[gw]["key"],
                      sitevpn_gateway_ca_file=ca_path, **({"sitevpn_gateway_key_passphrase": PKI_PASSPHRASE}
                                                          if gw == "vpn2" else {}))
    # first a certificate of vpn2 that expired: refused by the preflight, nothing on the gateways changes
    good = open(files["vpn2"]["cert"]).read()
    conf_before = lab.sh("vpn2", "cat /etc/ipsec.d/net-to-net.conf").stdout
    _pki_files(os.path.join(pki, "old"), days=30, start=datetime.datetime.now(datetime.timezone.utc)
               - datetime.timedelta(days=60))
    shutil.copy(os.path.join(pki, "old", "vpn2.crt"), files["vpn2"]["cert"])
    refused = lab.playbook("site-to-site.yml", "--vault-password-file", vault_password)
    assert refused.rc != 0
    assert "tunnel net-to-net, field right (sitevpn_gateway_cert_file of vpn2): the certificate" in refused.out, \
        refused.out[-3000:]
    assert "expired on" in refused.out
    assert refused.changed == 0
    assert lab.sh("vpn2", "cat /etc/ipsec.d/net-to-net.conf").stdout == conf_before
    with open(files["vpn2"]["cert"], "w") as handle:
        handle.write(good)
    run = lab.playbook("site-to-site.yml", "--vault-password-file", vault_password)
    assert run.rc == 0, run.out[-3000:]
    assert_encrypted_both_ways(lab)
    for gw, side, other, peer in (("vpn1", "left", "right", "vpn2"), ("vpn2", "right", "left", "vpn1")):
        conf = lab.sh(gw, "cat /etc/ipsec.d/net-to-net.conf").stdout
        for line in ('%sid="O=Example, CN=%s.example.net"' % (side, gw), '%sid="O=Example, CN=%s.example.net"'
                     % (other, peer), "%scert=sitevpn-gateway" % side, '%sca="CN=Example Corporate CA"' % other):
            assert "    %s\n" % line in conf, (gw, conf)
        # the key arrived with it (pk12util lists it under the nickname alone, certutil -R's with the token's)
        assert re.search(r"^<\s*\d+> ec\s+\w+\s+(NSS Certificate DB:)?sitevpn-gateway$",
                         lab.sh(gw, "certutil -K -d %s" % NSS).stdout, re.M)
        assert "Example Corporate CA" in lab.sh(gw, "certutil -L -d %s -n sitevpn-gateway" % NSS).stdout
    assert "PRIVATE KEY" not in run.out and PKI_PASSPHRASE not in run.out
    rerun = lab.playbook("site-to-site.yml", "--vault-password-file", vault_password)
    assert rerun.rc == 0 and rerun.changed == 0, rerun.out[-3000:]
    print("own PKI: refused in %.1f s; run %.1f s, changed %d; rerun %.1f s, changed 0"
          % (refused.seconds, run.seconds, run.changed, rerun.seconds))
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
