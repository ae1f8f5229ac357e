# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private, controller side: the diagnose's verdict on a certificate tunnel whose peer certificate was refused.

pluto logs NSS's reason ('NSS: ERROR: IPsec certificate ... invalid: SEC_ERROR_REVOKED_CERTIFICATE'); each
reason is a cause of its own with its remedy. An ID that the peer's certificate does not carry shows as
'no certificate matched ... and '<ID>'' without an NSS error.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.sitevpn.ipsec.plugins.module_utils._log_patterns import CERT_ERROR_RE

RENEW = ("Re-run playbooks/site-to-site.yml: the keys role re-issues a certificate that is not good any more "
         "(`sitevpn_rotate_cert: [{name}]` re-issues it now).")
CAUSES = {
    "SEC_ERROR_REVOKED_CERTIFICATE": (
        "certificate revoked",
        "The peer's certificate is on the CA's revocation list (sitevpn_revoked_gateways / sitevpn_revoked_serials). "
        "If the peer is revoked on purpose, remove its tunnels (state: absent); if not, take it off the list: "
        "the keys role then issues it a new certificate (" + RENEW + ")"),
    "SEC_ERROR_EXPIRED_CERTIFICATE": (
        "certificate expired",
        "A certificate of {name} has expired (or the gateways' clocks disagree: check NTP on both). " + RENEW),
    "SEC_ERROR_UNKNOWN_ISSUER": (
        "unknown CA",
        "The peer's certificate was issued by a CA this gateway does not trust: both ends must have certificates "
        "of the same CA (sitevpn_ca_dir of the play). " + RENEW),
    "id": (
        "certificate ID mismatch",
        "The peer's certificate does not carry the ID the conn expects ({ids}): a certificate issued for another "
        "ID, or a conn edited by hand. " + RENEW),
}
# another CA: untrusted, invalid, or one of the same name whose key did not sign it (a rotation, measured)
CAUSES.update((code, CAUSES["SEC_ERROR_UNKNOWN_ISSUER"])
              for code in ("SEC_ERROR_UNTRUSTED_ISSUER", "SEC_ERROR_CA_CERT_INVALID", "SEC_ERROR_BAD_SIGNATURE"))
CERT_CAUSES = tuple(sorted(set(cause for cause, _remedy in CAUSES.values()))) + ("certificate refused",)


def certificate_causes(tunnel, t, lines, down_sas):
    """One finding per certificate cause in *lines* [(host, seen)] of the 'cert_invalid' log kind.
    True when there was one (the generic 'wrong key' finding then says nothing more)."""
    found = False
    for host, seen in lines:
        match = CERT_ERROR_RE.search(seen["line"])
        code = match.group("code") if match else "id"
        cause, remedy = CAUSES.get(code, ("certificate refused", "NSS refused the peer's certificate (%s). %s"
                                          % (code, RENEW)))
        ids = " / ".join(tunnel[side]["id"] for side in ("left", "right"))
        t.finding(cause, "down" if down_sas else "degraded", host, remedy.format(name=tunnel["name"], ids=ids),
                  ["%s: %s (x%d, last %s)" % (host, seen["line"], seen["count"], seen["last"])])
        found = True
    return found
