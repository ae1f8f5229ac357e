"""playbooks/diagnose.yml on the seed's Figure 35-1: the 2 a.m. command.

One lab (``t-diagnose``) with the seed's PSK tunnel set up once by site-to-site.yml. The
diagnose must name nothing on the healthy lab (in check mode, changing nothing), then the
tests break one thing at a time by hand, as an operator or an accident would, and the
diagnose must name that cause - on the right gateway, with its remedy - and nothing else.
After each fault the lab is put back by hand and must carry encrypted traffic again.
"""

import json
import os
import re
import time

import pytest

from labtest import nft_host_rule

SERVER2 = "10.0.0.105"
REPORT_FILES = ("report.json", "report.md", "report.html", "topology.svg", "topology.dot")


@pytest.fixture(scope="module")
def lab(lab_for):
    session = lab_for("seed", name="diagnose")
    session.vars("net-to-net-psk.yml")
    run = session.playbook("site-to-site.yml")
    assert run.rc == 0, run.out[-3000:]
    session.started = time.time()
    return session


def diagnose(lab, report_dir, *args):
    run = lab.playbook("diagnose.yml", "-e", "sitevpn_report_dir=%s" % report_dir,
                       "-e", "sitevpn_diagnose_log_since=-10min", *args)
    assert run.rc == 0, run.out[-3000:]
    assert run.changed == 0, run.recap                      # the diagnose changes nothing, anywhere
    with open(os.path.join(str(report_dir), "report.json")) as handle:
        report = json.load(handle)
    print("diagnose: %s (%.0f s)" % (" | ".join(t["line"] for t in report["tunnels"]), run.seconds))
    return run, report


def host_state(lab):
    """What a diagnose must leave alone: rules, sysctls, SAs, conn files, the async job dir."""
    state = {}
    for gw in ("vpn1", "vpn2"):
        state[gw] = lab.ruleset(gw) + lab.sh(gw, "sysctl -n net.ipv4.ip_forward; "
                                                  "ip xfrm state | grep -c '^src'; sha256sum /etc/ipsec.conf /etc/ipsec.d/*; "
                                                  "ls -A /root/.ansible_async 2>/dev/null | wc -l").stdout
    return state


def mend_sh(lab, guest, command, tries=3):
    """A repair step, retried: a loaded host may refuse SSH or a service start for a moment."""
    for attempt in range(tries):
        result = lab.sh(guest, command, check=False, timeout=120)
        if result.returncode == 0:
            return result
        print("mend on %s failed (exit %d, try %d): %s\n%s" % (
            guest, result.returncode, attempt + 1, (result.stderr or "").strip(),
            lab.sh(guest, "journalctl -u ipsec -n 15 --no-pager", check=False).stdout))
        time.sleep(5)
    raise AssertionError("could not mend %s: %s" % (guest, command))


def encrypted(lab):
    evidence = lab.ping_across("server1", SERVER2, segment="wan1", count=2)
    return evidence["received"] == 2 and evidence["esp"] >= 4 and evidence["icmp_clear"] == 0


def wait_encrypted(lab, seconds=60):
    started = time.time()
    while time.time() - started < seconds:
        if encrypted(lab):
            return True
        time.sleep(3)
    return False


def test_healthy_lab_diagnose_names_nothing_changes_nothing_and_writes_the_report(lab, tmp_path):
    before = host_state(lab)
    run, report = diagnose(lab, tmp_path, "--check")
    assert host_state(lab) == before
    assert report["summary"]["findings"] == 0, report["findings"]
    assert [(t["name"], t["verdict"]) for t in report["tunnels"]] == [("net-to-net", "OK")]
    tunnel = report["tunnels"][0]
    assert tunnel["cause"] == "traffic crosses encrypted"
    checks = dict(((c["check"], c["gateway"]), c) for c in tunnel["checks"])
    # every check passes; a capture that started after the last ping (a loaded host) may only say so
    not_ok = [c for c in tunnel["checks"] if c["status"] != "ok"]
    assert all(c["check"] in ("tcpdump", "counters") and c["status"] == "warn" for c in not_ok), not_ok
    assert len(set(c["gateway"] for c in not_ok)) <= 1, not_ok
    # the seed's checks, each seen on the gateways
    for check in ("pluto", "conn", "sa", "log", "ike_input", "esp_input", "listening", "forwarding", "route", "nat",
                  "forward", "counters", "tcpdump", "verify"):
        assert (check, "vpn1") in checks and (check, "vpn2") in checks, check
    assert re.search(r"(\d+)/\1 answered$", checks[("probe", "server1")]["summary"])
    # the seed's tcpdump proof: ESP on the WAN, ICMP in clear only on the LAN
    proofs = [checks[("tcpdump", gw)]["summary"] for gw in ("vpn1", "vpn2") if checks[("tcpdump", gw)]["status"] == "ok"]
    assert proofs, [checks[("tcpdump", gw)] for gw in ("vpn1", "vpn2")]
    for summary in proofs:
        assert re.search(r"ESP out [1-9]\d* / in [1-9]\d*, ICMP in clear toward \S+ 0; LAN eth1: ICMP [1-9]", summary)
    assert "net-to-net: OK - traffic crosses encrypted" in run.out            # the console says it too
    # the files people open
    for name in REPORT_FILES:
        assert os.path.getsize(str(tmp_path / name)) > 0, name
    html = (tmp_path / "report.html").read_text()
    assert "<svg" in html and "net-to-net" in html and "traffic crosses encrypted" in html
    assert not re.search(r"""(?:src|href)=["']?(?:https?:)?//""", html)       # self-contained
    assert "<link" not in html and "<script" not in html
    markdown = (tmp_path / "report.md").read_text()
    assert "| net-to-net | **OK** | traffic crosses encrypted |" in markdown
    svg = (tmp_path / "topology.svg").read_text()
    assert "#2e7d32" in svg and "172.16.1.0/24" in svg and "10.0.0.0/24" in svg


def break_wrong_key(lab):
    lab.sh("vpn2", "cp /etc/ipsec.d/net-to-net.secrets /root/net-to-net.secrets.good && "
                   "sed -i -E 's/PSK .*/PSK \"this-is-not-the-key-vpn1-has-0123\"/' /etc/ipsec.d/net-to-net.secrets && "
                   "ipsec auto --rereadsecrets")
    lab.sh("vpn1", "ipsec auto --down net-to-net; ipsec auto --asynchronous --up net-to-net", check=False)
    time.sleep(3)


def mend_wrong_key(lab):
    mend_sh(lab, "vpn2", "mv /root/net-to-net.secrets.good /etc/ipsec.d/net-to-net.secrets 2>/dev/null; "
                         "ipsec auto --rereadsecrets")
    lab.sh("vpn1", "ipsec auto --down net-to-net; timeout 40 ipsec auto --up net-to-net", check=False)


def break_udp500(lab):
    lab.block_udp500("vpn2")
    lab.sh("vpn2", "ipsec auto --down net-to-net")
    lab.sh("vpn1", "ipsec auto --down net-to-net; ipsec auto --asynchronous --up net-to-net", check=False)
    time.sleep(3)


def mend_udp500(lab):
    for attempt in range(3):
        if lab.block_udp500("vpn2", on=False).returncode == 0:
            break
        time.sleep(5)
    lab.sh("vpn1", "ipsec auto --down net-to-net; timeout 40 ipsec auto --up net-to-net", check=False)


def udp500_remedy(backend, ipt):
    if backend == "nftables":      # the test's own table, read with `nft -a`: the rule's handle is known
        return ["nft delete rule inet lab_filter input handle "]
    return ["%s -D INPUT -p udp -m udp --dport 500 -j DROP" % ("iptables-legacy" if "legacy" in ipt else "iptables")]


def break_nat(lab):
    lab.drop_nat_exemption("vpn1")
    lab.masquerade_wan("vpn1")


def mend_nat(lab):
    lab.masquerade_wan("vpn1", on=False)
    mend_sh(lab, "vpn1", "/usr/local/sbin/sitevpn-ipsec-firewall")     # the role's rules, as at boot


def nat_remedy(backend, ipt):
    if backend == "nftables":
        return ['oifname "eth0" masquerade', "/usr/local/sbin/sitevpn-ipsec-firewall"]
    return ["-A POSTROUTING -o eth0 -j MASQUERADE",
            "%s -t nat -I POSTROUTING 1 -j SITEVPN-POSTROUTING" % ("iptables-legacy" if "legacy" in ipt else "iptables")]


def break_forwarding(lab):
    lab.sh("vpn1", "sysctl -qw net.ipv4.ip_forward=0")


def mend_forwarding(lab):
    mend_sh(lab, "vpn1", "sysctl -qw net.ipv4.ip_forward=1")


def break_pluto(lab):
    lab.sh("vpn2", "systemctl stop ipsec")


def mend_pluto(lab):
    # vpn1 (auto=start) brings the tunnel back by itself
    mend_sh(lab, "vpn2", "systemctl reset-failed ipsec 2>/dev/null; systemctl start ipsec")


def break_esp_on_the_path(lab):
    # the router between the sites drops IP protocol 50 while IKE (UDP 500) still passes
    lab.sh("router", nft_host_rule("inet lab_path", "filter", "forward", "filter - 20", "meta l4proto esp drop"))


def mend_esp_on_the_path(lab):
    mend_sh(lab, "router", "nft delete table inet lab_path")


def break_ike_auth_on_the_path(lab):
    # the router passes IKE_SA_INIT but drops IKE_AUTH (exchange type 35, byte 18 of the IKE header after the
    # 8 bytes of UDP): what a path that loses the fragments of a big IKE_AUTH does
    lab.sh("router", nft_host_rule("inet lab_path", "filter", "forward", "filter - 20",
                                   "udp dport 500 @th,208,8 35 drop"))
    lab.sh("vpn2", "ipsec auto --down net-to-net")
    lab.sh("vpn1", "ipsec auto --down net-to-net; ipsec auto --asynchronous --up net-to-net", check=False)
    time.sleep(4)


FAULTS = [
    # (id, break, mend, cause, gateway, words of the remedy: a list, or a function of the gateway's
    # firewall backend and iptables command giving the list)
    ("wrong-key", break_wrong_key, mend_wrong_key, "wrong key", "vpn1, vpn2",
     ["pre-shared keys of net-to-net on vpn1 and vpn2 differ", "playbooks/site-to-site.yml", "--rereadsecrets"]),
    ("udp-500-blocked", break_udp500, mend_udp500, "UDP 500 blocked", "vpn2", udp500_remedy),
    ("nat-exemption-removed", break_nat, mend_nat, "NAT exemption missing", "vpn1", nat_remedy),
    ("forwarding-off", break_forwarding, mend_forwarding, "forwarding off", "vpn1",
     ["sysctl -w net.ipv4.ip_forward=1"]),
    ("pluto-stopped", break_pluto, mend_pluto, "pluto stopped", "vpn2", ["systemctl start ipsec"]),
    ("esp-dropped-on-the-path", break_esp_on_the_path, mend_esp_on_the_path, "ESP lost on the way", "vpn1 -> vpn2",
     ["drops IP protocol 50", "encapsulation"]),
    ("ike-auth-dropped-on-the-path", break_ike_auth_on_the_path, mend_esp_on_the_path, "IKE_AUTH unanswered", "vpn1",
     ["answered IKE_SA_INIT but never IKE_AUTH", "fragmentation", "4500"]),
]


@pytest.mark.parametrize("name, breaks, mends, cause, gateway, remedy", FAULTS, ids=[f[0] for f in FAULTS])
def test_one_fault_at_a_time_is_named_with_its_cause_and_remedy(lab, tmp_path, name, breaks, mends, cause,
                                                                gateway, remedy):
    # healthy before the fault; a lab just mended from the previous fault may drop one echo (seen once in CI:
    # 1 of 2 answered, 4 ESP packets, nothing in clear): it gets the same 30 s the mending gets
    assert wait_encrypted(lab, 30), "the lab was not healthy before %s" % name
    breaks(lab)
    try:
        run, report = diagnose(lab, tmp_path)
    finally:
        mends(lab)
    tunnel = report["tunnels"][0]
    assert tunnel["verdict"] == "DOWN", tunnel["line"]
    assert tunnel["cause"] == "%s (%s)" % (cause, gateway), tunnel["findings"]
    first = tunnel["findings"][0]
    if callable(remedy):
        remedy = remedy(*lab.firewall(gateway))
    for words in remedy:
        assert words in first["remedy"], first["remedy"]
    assert first["evidence"], first
    assert [f["cause"] for f in tunnel["findings"]] == [cause], tunnel["findings"]      # nothing else blamed
    assert "net-to-net: DOWN - %s (%s)" % (cause, gateway) in run.out
    assert "#c62828" in (tmp_path / "topology.svg").read_text()                         # red in the picture
    # put back by hand; if that is not enough, the product mends it
    if not wait_encrypted(lab, 60):
        rerun = lab.playbook("site-to-site.yml")
        assert rerun.rc == 0, rerun.out[-3000:]
        assert encrypted(lab), "the lab did not recover after %s" % name
    print("%s: diagnosed and mended, %.0f s into the module" % (name, time.time() - lab.started))
