"""Where the lab keeps things on the host."""

import os

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def cache_root():
    """Images, shared by every lab and kept between runs."""
    return os.environ.get("SITEVPN_LAB_CACHE", "/var/cache/sitevpn-lab")


def state_root():
    """One folder per running lab: disks, keys, inventory, logs. Removed by `down`."""
    return os.environ.get("SITEVPN_LAB_STATE", os.path.join(REPO_ROOT, ".lab"))
