"""Which faust-streaming, aiokafka and mode versions the corrections were verified on, and the check at start-up.

The patches (:mod:`.patches`) and accessors (:mod:`.internals`) rely on
private names whose shape no release promises.  A version they were not
verified on may have moved any of them; delivery could then break with no
error.  So the worker refuses to start on an unverified version unless
``NEWSWIRE_ALLOW_UNVERIFIED_VERSIONS`` is set, for whoever tests a new
release (run ``tests/compat`` first: it fails when a touched internal changed).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from importlib import metadata

from ..errors import ConfigError

__all__ = ["VERIFIED", "UnverifiedVersion", "check_versions", "installed_versions"]

#: Distribution name -> the versions every patch and accessor was verified on.
VERIFIED: Mapping[str, tuple[str, ...]] = {
    "faust-streaming": ("0.15.3",),
    "aiokafka": ("0.14.0",),
    "mode-streaming": ("0.7.1",),
}


class UnverifiedVersion(ConfigError):
    """An installed faust-streaming / aiokafka / mode version the Faust corrections were not verified on."""


def installed_versions(version_of: Callable[[str], str] = metadata.version) -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for name in VERIFIED:
        try:
            versions[name] = version_of(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def check_versions(*, allow_unverified: bool, version_of: Callable[[str], str] = metadata.version) -> list[str]:
    """Raise :class:`UnverifiedVersion` unless every library is at a verified version; returns the mismatches.

    With ``allow_unverified`` the mismatches are returned (for one warning line)
    instead of raised.
    """
    mismatches = [
        f"{name} {found or 'not installed'} (verified: {', '.join(VERIFIED[name])})"
        for name, found in installed_versions(version_of).items()
        if found not in VERIFIED[name]
    ]
    if mismatches and not allow_unverified:
        raise UnverifiedVersion(
            "newswire's Faust corrections were not verified on " + "; ".join(mismatches)
            + ". Install the pinned versions (requirements.lock), or set NEWSWIRE_ALLOW_UNVERIFIED_VERSIONS=true "
            "to start anyway after running tests/compat and the delivery tests on them.")
    return mismatches
