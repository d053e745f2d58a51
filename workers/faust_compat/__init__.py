"""The only code that touches private names of faust-streaming, aiokafka and mode.

newswire's delivery (workers.delivery) corrects faust-streaming 0.15.3 in two
ways, both here:

* :mod:`.patches` -- seven numbered, documented class patches (what Faust does
  wrong, the upstream report, the correction, the test that proves it);
* :mod:`.internals` -- accessors for private state the delivery layer reads or
  acts on (Faust's transactional producers and their locks, its
  unacknowledged-message set, the aiokafka client under its consumer thread,
  the group coordinator's rejoin, its fetch buffers).

:func:`install` checks the installed versions against :data:`.versions.VERIFIED`
first and refuses to start on others (``NEWSWIRE_ALLOW_UNVERIFIED_VERSIONS``
overrides, for testing a new release), then applies the patches.  Nothing is
patched at import.  ``tests/compat`` pins the shape of every private name used
here; ``tests/unit/faust_compat/test_private_names.py`` checks that no other module uses one.
"""

from __future__ import annotations

import logging

from .patches import Hooks, SkipSink, add_gap
from .versions import VERIFIED, UnverifiedVersion, check_versions, installed_versions

__all__ = ["Hooks", "SkipSink", "UnverifiedVersion", "VERIFIED", "add_gap", "check_versions", "install",
           "installed_versions"]

log = logging.getLogger("newswire.faust_compat")


def install(*, allow_unverified: bool = False) -> Hooks:
    """Check the library versions, then apply the patches (once per process).  Returns the hooks in force."""
    mismatches = check_versions(allow_unverified=allow_unverified)
    if mismatches:
        log.warning("running on library versions the Faust corrections were not verified on",
                    extra={"versions": mismatches})
    from . import patches

    return patches.apply()
