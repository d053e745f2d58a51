"""The Kafka server jars, resolved from Maven Central with ``mvn`` into a cache once.

The version is pinned in ``workers/local/broker/pom.xml``
(``org.apache.kafka:kafka_2.13``); the cache is shared by every broker
directory, the local cluster and ``make kafka-jars``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from ...errors import ConfigError
from .layout import file_lock, packaged
from .tools import require_tool, shorten

__all__ = ["KAFKA_VERSION", "CACHE_MARKER", "jar_cache_dir", "ensure_jars", "cache_is_complete", "pom_hash"]

KAFKA_VERSION = "4.1.1"
# Marker written into the jar cache once Maven resolved it completely; it holds
# the hash of the pom so a changed pin resolves again.
CACHE_MARKER = ".newswire-complete"


def jar_cache_dir() -> Path:
    """``NEWSWIRE_KAFKA_CACHE`` or ``~/.cache/newswire/kafka-<version>`` (XDG_CACHE_HOME honoured)."""
    explicit = os.environ.get("NEWSWIRE_KAFKA_CACHE")
    if explicit:
        return Path(explicit).expanduser().absolute()
    cache_home = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache_home / "newswire" / f"kafka-{KAFKA_VERSION}"


def pom_hash() -> str:
    return hashlib.sha256(packaged("pom.xml")).hexdigest()


def cache_is_complete(cache: Path, expected_pom_hash: str | None = None) -> bool:
    """Whether ``cache`` was filled by Maven from the current pom and still holds every jar it listed."""
    marker = cache / CACHE_MARKER
    try:
        recorded = json.loads(marker.read_text())
    except (OSError, ValueError):
        return False
    jars = recorded.get("jars", [])
    wanted = expected_pom_hash if expected_pom_hash is not None else pom_hash()
    return recorded.get("pom_sha256") == wanted and bool(jars) and all((cache / jar).is_file() for jar in jars)


def ensure_jars() -> Path:
    """Resolve the Kafka server jars into :func:`jar_cache_dir` once and return that directory.

    A complete cache (marker file with the current pom's hash, every listed jar
    present) is used as is, without ``mvn``; so is a ``NEWSWIRE_KAFKA_CACHE``
    that holds ``kafka_2.13-<version>.jar`` without a marker (e.g. the
    ``libs/`` of a Kafka distribution), which is never written to.
    Resolution goes to a temporary sibling directory that replaces the cache
    only when Maven succeeded, under a file lock, so concurrent starts neither
    run Maven twice nor see half a cache.
    """
    cache = jar_cache_dir()
    pom = packaged("pom.xml")
    current_hash = pom_hash()
    if cache_is_complete(cache, current_hash):
        return cache
    provided = os.environ.get("NEWSWIRE_KAFKA_CACHE") and not (cache / CACHE_MARKER).exists()
    if provided and (cache / f"kafka_2.13-{KAFKA_VERSION}.jar").is_file():
        return cache
    cache.parent.mkdir(parents=True, exist_ok=True)
    with file_lock(cache.parent / f".{cache.name}.lock"):
        if cache_is_complete(cache, current_hash):
            return cache
        mvn = require_tool("mvn", "install Apache Maven 3.8+ (e.g. `apt-get install maven`) so the Kafka "
                                  f"{KAFKA_VERSION} jars can be fetched, or set NEWSWIRE_KAFKA_CACHE to a "
                                  "directory that holds them")
        staging = Path(tempfile.mkdtemp(prefix=f".{cache.name}-", dir=cache.parent))
        try:
            (staging / "pom.xml").write_bytes(pom)
            libs = staging / "libs"
            _run_maven(mvn, staging, libs)
            jars = sorted(p.name for p in libs.glob("*.jar"))
            if f"kafka_2.13-{KAFKA_VERSION}.jar" not in jars:
                raise ConfigError(f"Maven finished but kafka_2.13-{KAFKA_VERSION}.jar is missing in {libs}; "
                                  "remove the cache directory and retry")
            (libs / CACHE_MARKER).write_text(json.dumps({"pom_sha256": current_hash, "jars": jars}, indent=1))
            if cache.exists():
                shutil.rmtree(cache)
            libs.rename(cache)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return cache


def _run_maven(mvn: str, project: Path, output: Path) -> None:
    command = [mvn, "-B", "-ntp", "-Dstyle.color=never", "-f", str(project / "pom.xml"),
               "dependency:copy-dependencies", "-DincludeScope=runtime", f"-DoutputDirectory={output}"]
    done = subprocess.run(command, cwd=project, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          stdin=subprocess.DEVNULL, text=True)
    if done.returncode != 0:
        errors = [line.removeprefix("[ERROR]").strip() for line in done.stdout.splitlines()
                  if line.startswith("[ERROR]")]
        reason = next((e for e in errors if e), f"exit code {done.returncode}")
        raise ConfigError(f"Maven could not resolve org.apache.kafka:kafka_2.13:{KAFKA_VERSION} ({shorten(reason)}); "
                          "check access to Maven Central (or your ~/.m2/settings.xml mirror) and retry")
