"""``python -m workers.feeds feeds ...`` / ``python -m workers.feeds worker``.

The feed-enabled ``newswire`` command for as long as workers/cli.py does not
register ``feeds`` and import :mod:`workers.feeds.agents` in the worker; it
adds exactly that and delegates everything else to :func:`workers.cli.main`.
"""

from __future__ import annotations

import asyncio
import sys


def main(argv: list[str]) -> int:
    if argv[:1] == ["feeds"]:
        from .cli import main as feeds_main

        return feeds_main(argv[1:])
    if argv[:1] == ["worker"]:
        from workers.settings import Settings
        from workers.topics import ensure_topics

        from .topics import feed_topic_specs

        asyncio.run(ensure_topics(Settings.from_env(), feed_topic_specs(Settings.from_env())))
        from . import agents  # noqa: F401  (registers the feed agent, tables and timer)
    from workers.cli import main as newswire_main

    return newswire_main(argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
