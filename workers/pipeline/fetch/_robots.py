"""robots.txt rules as RFC 9309 defines them.

The standard library's ``urllib.robotparser`` predates the RFC: it uses the
first matching rule instead of the longest and ignores ``*`` and ``$``
wildcards, so it answers differently from the crawlers site owners test with.
This parser follows the RFC: the group(s) naming our product token (else
``*``) apply, merged; the longest matching pattern wins; on a tie ``Allow``
wins; ``/robots.txt`` itself is always allowed.

:class:`RobotsCache` keeps parsed rules per origin with a TTL and a size bound.
"""

from __future__ import annotations

import re
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote

__all__ = ["RobotsRules", "RobotsCache", "product_token", "ALLOW_ALL"]

# RFC 9309 asks crawlers to parse at least 500 KiB.
MAX_ROBOTS_BYTES = 512 * 1024
_SAFE_IN_PATTERN = "/*$?=&;:@!,+~%-._()'[]"


def product_token(user_agent: str) -> str:
    """``"newswire/0.1 (+https://...)"`` -> ``"newswire"``: what robots.txt groups name."""
    token = re.split(r"[/\s]", user_agent.strip(), maxsplit=1)[0]
    return token.lower() or "*"


@dataclass(frozen=True, slots=True)
class _Rule:
    allow: bool
    length: int
    regex: re.Pattern[str]


def _compile(pattern: str) -> re.Pattern[str]:
    pattern = quote(pattern, safe=_SAFE_IN_PATTERN)  # non-ASCII as %XX, as paths arrive
    anchored = pattern.endswith("$")
    if anchored:
        pattern = pattern[:-1]
    body = ".*".join(re.escape(part) for part in pattern.split("*"))
    return re.compile(body + (r"\Z" if anchored else ""), re.DOTALL)


class RobotsRules:
    """The rules of one robots.txt that apply to one user agent."""

    __slots__ = ("_rules",)

    def __init__(self, rules: list[_Rule] | None = None) -> None:
        # Longest first so the first match is the winner; Allow before Disallow on ties.
        self._rules = sorted(rules or [], key=lambda r: (-r.length, not r.allow))

    @classmethod
    def parse(cls, text: str, user_agent: str) -> RobotsRules:
        token = product_token(user_agent)
        named: list[_Rule] = []
        star: list[_Rule] = []
        agents: list[str] = []
        in_rules = False  # a user-agent line after rules starts a new group
        for raw_line in text.splitlines():
            line = raw_line.split("#", 1)[0].strip()
            if ":" not in line:
                continue
            key, _, value = line.partition(":")
            key, value = key.strip().lower(), value.strip()
            if key == "user-agent":
                if in_rules:
                    agents, in_rules = [], False
                agents.append(value.lower())
                continue
            if key not in ("allow", "disallow"):
                continue  # sitemap, crawl-delay, ...: not about access
            in_rules = True
            if not value:  # "Disallow:" with nothing means no restriction
                continue
            rule = _Rule(allow=key == "allow", length=len(value), regex=_compile(value))
            if token in agents:
                named.append(rule)
            if "*" in agents:
                star.append(rule)
        return cls(named if named else star)

    def allowed(self, path_and_query: str) -> bool:
        path = path_and_query or "/"
        if path == "/robots.txt":
            return True
        for rule in self._rules:
            if rule.regex.match(path):
                return rule.allow
        return True


ALLOW_ALL = RobotsRules()


class RobotsCache:
    """Rules per origin (scheme, host, port) with a TTL; the oldest entries go first when full."""

    def __init__(self, ttl_s: float, max_entries: int = 20_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl_s = ttl_s
        self._max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[tuple[str, str, int], tuple[float, RobotsRules]] = OrderedDict()

    def get(self, origin: tuple[str, str, int]) -> RobotsRules | None:
        entry = self._entries.get(origin)
        if entry is None:
            return None
        expires_at, rules = entry
        if self._clock() >= expires_at:
            del self._entries[origin]
            return None
        return rules

    def put(self, origin: tuple[str, str, int], rules: RobotsRules) -> None:
        self._entries[origin] = (self._clock() + self._ttl_s, rules)
        self._entries.move_to_end(origin)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)
