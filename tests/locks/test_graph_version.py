"""The facebook-business pin speaks the Graph API version adgate speaks."""

from __future__ import annotations

from importlib import metadata

from facebook_business.apiconfig import ads_api_config  # type: ignore[import-untyped]

from app.config import DEFAULTS
from app.sandbox import GRAPH_VERSION
from tests.locks.lockfile import RUNTIME, read_lock


def locked_sdk() -> str:
    (line,) = [line for line in read_lock(RUNTIME) if line.name == "facebook-business"]
    return line.version


def test_the_installed_sdk_is_the_locked_one() -> None:
    """The SDK the tests run is the version the lock (and so a deployment) installs."""
    assert metadata.version("facebook-business") == locked_sdk()
    assert ads_api_config["SDK_VERSION"] == f"v{locked_sdk()}"


def test_the_sdk_speaks_adgates_graph_version() -> None:
    """Raising the SDK pin means raising META_API_VERSION and the sandbox with it."""
    declared = ads_api_config["API_VERSION"]  # facebook_business/apiconfig.py
    assert declared == DEFAULTS["META_API_VERSION"], (
        f"facebook-business {locked_sdk()} speaks {declared}, "
        f"adgate's META_API_VERSION is {DEFAULTS['META_API_VERSION']}"
    )
    assert declared == GRAPH_VERSION, f"the sandbox speaks {GRAPH_VERSION}, the SDK {declared}"
