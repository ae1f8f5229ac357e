"""The lab's own UML kernel (lab/kernel.py): which source it picks, what the fragment guarantees.

The build itself is proven by every lab test (the guests run it; test_10 checks `uname -r`, nf_tables
and XFRM interfaces inside them); here the decisions that must not drift are pinned down.
"""

import pytest

from labtest import REPO  # noqa: F401  (puts the repository on sys.path)
from lab import kernel


def stanza(package, version, sha='ab' * 32):
    return ("Package: %s\nSource: linux\nVersion: %s\nArchitecture: all\nSize: 163000000\n"
            "Filename: pool/main/l/linux/%s_%s_all.deb\nSHA256: %s\n" % (package, version, package, version, sha))


def test_only_linux_source_packages_with_a_checksum_are_candidates():
    index = "\n".join([stanza("linux-source-7.2", "7.2.13-1"), stanza("linux-source", "7.2.13-1"),
                       stanza("linux-doc-7.2", "7.2.13-1"),
                       "Package: linux-source-7.1\nVersion: 7.1.2-1\nFilename: pool/x.deb\n"])
    found = kernel.parse_packages(index)
    assert [(f["package"], f["series"], f["version"]) for f in found] == [("linux-source-7.2", [7, 2], "7.2.13-1")]
    assert found[0]["filename"] == "pool/main/l/linux/linux-source-7.2_7.2.13-1_all.deb"
    assert found[0]["size"] == 163000000


def candidates(*pairs):
    found = []
    for package, version in pairs:
        found += kernel.parse_packages(stanza(package, version))
    return found


def test_the_newest_series_wins_then_the_newest_version_of_it_in_debian_order():
    offered = candidates(("linux-source-6.12", "6.12.57-1"), ("linux-source-7.2", "7.2.11-1~bpo13+1"),
                         ("linux-source-7.2", "7.2.13-1"), ("linux-source-7.2", "7.2.9-1"),
                         ("linux-source-7.1", "7.1.20-1"))
    assert kernel.newest(offered)["version"] == "7.2.13-1"      # 7.2.13 > 7.2.11~bpo > 7.2.9, by dpkg


def test_series_older_than_6_15_are_never_chosen_their_uml_panics_on_amx_hosts():
    offered = candidates(("linux-source-6.1", "6.1.158-1"), ("linux-source-6.12", "6.12.57-1"))
    assert kernel.newest(offered) is None
    assert kernel.newest(candidates(("linux-source-6.15", "6.15.1-1")))["version"] == "6.15.1-1"


def test_the_suites_searched_run_from_unstable_to_the_hosts_own():
    assert kernel.candidate_suites("bookworm") == ["unstable", "testing", "stable-backports", "stable",
                                                   "bookworm-backports", "bookworm"]


def test_the_fragment_builds_in_what_the_lab_and_the_collection_need_and_no_modules():
    wanted = kernel.wanted_options()
    assert wanted["CONFIG_MODULES"] == "n"      # guests have no /lib/modules: everything is built in
    for option in ("CONFIG_HOSTFS", "CONFIG_BLK_DEV_UBD", "CONFIG_UML_NET_VECTOR", "CONFIG_OVERLAY_FS",
                   "CONFIG_XFRM_USER", "CONFIG_INET_ESP", "CONFIG_INET6_ESP", "CONFIG_XFRM_INTERFACE",
                   "CONFIG_NET_IPVTI", "CONFIG_IPV6_VTI", "CONFIG_CRYPTO_GCM", "CONFIG_CRYPTO_CHACHA20POLY1305",
                   "CONFIG_NF_TABLES_INET", "CONFIG_NF_TABLES_IPV4", "CONFIG_NF_TABLES_IPV6", "CONFIG_NFT_NAT",
                   "CONFIG_NFT_MASQ", "CONFIG_NFT_XFRM", "CONFIG_NETFILTER_XTABLES_LEGACY",
                   "CONFIG_IP_NF_IPTABLES_LEGACY", "CONFIG_NETFILTER_XT_MATCH_POLICY",
                   "CONFIG_IP_NF_TARGET_MASQUERADE"):
        assert wanted.get(option) == "y", option


def test_an_option_the_kernel_dropped_is_reported_by_name():
    config = "CONFIG_XFRM_USER=y\n# CONFIG_NFT_XFRM is not set\nCONFIG_LOG_BUF_SHIFT=17\n"
    wanted = {"CONFIG_XFRM_USER": "y", "CONFIG_NFT_XFRM": "y", "CONFIG_RENAMED_UPSTREAM": "y",
              "CONFIG_MODULES": "n", "CONFIG_LOG_BUF_SHIFT": "17"}
    assert kernel.missing_options(config, wanted) == [("CONFIG_NFT_XFRM", "y", "n"),
                                                      ("CONFIG_RENAMED_UPSTREAM", "y", "n")]


def test_the_cache_key_follows_the_source_and_the_fragment(monkeypatch):
    source = {"version": "7.2.13-1", "sha256": "ab" * 32}
    key = kernel.cache_key(source)
    assert kernel.cache_key(dict(source)) == key
    assert kernel.cache_key(dict(source, version="7.2.14-1")) != key
    monkeypatch.setattr(kernel, "fragment_text", lambda: "CONFIG_XFRM_USER=y\n")
    assert kernel.cache_key(source) != key


def test_a_local_source_named_in_the_environment_is_used_as_is(tmp_path, monkeypatch):
    deb = tmp_path / "linux-source-7.2_7.2.13-1_all.deb"
    deb.write_bytes(b"not really a deb")
    monkeypatch.setenv(kernel.SOURCE_ENV, str(deb))
    source = kernel.resolve()
    assert source["version"] == "7.2.13-1" and source["path"] == str(deb)
    monkeypatch.setenv(kernel.SOURCE_ENV, str(tmp_path / "missing.deb"))
    with pytest.raises(kernel.KernelError, match="is not a file"):
        kernel.resolve()
