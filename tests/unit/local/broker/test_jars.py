"""The Kafka jars: the pinned pom, the cache used as is when complete, Maven run once, its failures on one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import workers
from tests.unit.local.broker.support import (
    assert_one_line,
    path_with,
    write_script,
)
from workers.errors import ConfigError
from workers.local import broker
from workers.local.broker import jars


def test_pom_pins_the_kafka_version_and_the_slf4j_1x_binding() -> None:
    pom = (Path(workers.__file__).parent / "local" / "broker" / "pom.xml").read_text()
    assert f"<kafka.version>{broker.KAFKA_VERSION}</kafka.version>" in pom
    assert "<artifactId>kafka_2.13</artifactId>" in pom
    assert "<artifactId>log4j-slf4j-impl</artifactId>" in pom  # slf4j-api 1.7 needs the 1.x binding
    assert "<artifactId>log4j-slf4j2-impl</artifactId>" not in pom


def test_missing_java_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", path_with(tmp_path))
    with pytest.raises(ConfigError) as raised:
        broker.start(broker.free_port(), tmp_path / "b")
    assert_one_line(raised.value.detail)
    assert "`java` was not found" in raised.value.detail and "install" in raised.value.detail


def test_missing_mvn_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", path_with(tmp_path, "java"))
    monkeypatch.setenv("NEWSWIRE_KAFKA_CACHE", str(tmp_path / "empty-cache"))
    with pytest.raises(ConfigError) as raised:
        broker.ensure_jars()
    assert_one_line(raised.value.detail)
    assert "`mvn` was not found" in raised.value.detail and "Maven" in raised.value.detail


def make_complete_cache(cache: Path, pom_hash: str) -> None:
    cache.mkdir(parents=True)
    names = [f"kafka_2.13-{broker.KAFKA_VERSION}.jar", "kafka-clients.jar"]
    for name in names:
        (cache / name).write_bytes(b"PK")
    (cache / jars.CACHE_MARKER).write_text(json.dumps({"pom_sha256": pom_hash, "jars": names}))


def test_complete_cache_is_used_without_maven(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    make_complete_cache(cache, jars.pom_hash())
    monkeypatch.setenv("NEWSWIRE_KAFKA_CACHE", str(cache))
    monkeypatch.setenv("PATH", path_with(tmp_path))  # no mvn: it must not be needed
    assert broker.ensure_jars() == cache


def test_a_provided_jar_directory_is_used_as_is(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    libs = tmp_path / "kafka_2.13-4.1.1" / "libs"  # e.g. an unpacked Kafka distribution, no marker
    libs.mkdir(parents=True)
    (libs / f"kafka_2.13-{broker.KAFKA_VERSION}.jar").write_bytes(b"PK")
    monkeypatch.setenv("NEWSWIRE_KAFKA_CACHE", str(libs))
    monkeypatch.setenv("PATH", path_with(tmp_path))  # no mvn
    assert broker.ensure_jars() == libs
    assert sorted(p.name for p in libs.iterdir()) == [f"kafka_2.13-{broker.KAFKA_VERSION}.jar"]  # untouched


@pytest.mark.parametrize("damage", ["stale pom hash", "jar missing"])
def test_incomplete_cache_is_resolved_again(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, damage: str) -> None:
    cache = tmp_path / "cache"
    make_complete_cache(cache, "0" * 64 if damage == "stale pom hash" else jars.pom_hash())
    if damage == "jar missing":
        (cache / "kafka-clients.jar").unlink()
    bin_dir = Path(path_with(tmp_path))
    calls = tmp_path / "mvn-calls"
    # A fake mvn that records its call and "resolves" one jar into -DoutputDirectory.
    write_script(bin_dir / "mvn", f'echo "$@" >> {calls}\n'
                                  'for a in "$@"; do case "$a" in -DoutputDirectory=*) out="${a#*=}";; esac; done\n'
                                  f'mkdir -p "$out" && touch "$out/kafka_2.13-{broker.KAFKA_VERSION}.jar"\n')
    monkeypatch.setenv("NEWSWIRE_KAFKA_CACHE", str(cache))
    monkeypatch.setenv("PATH", str(bin_dir))

    assert broker.ensure_jars() == cache
    assert "dependency:copy-dependencies" in calls.read_text()
    assert sorted(p.name for p in cache.glob("*.jar")) == [f"kafka_2.13-{broker.KAFKA_VERSION}.jar"]
    broker.ensure_jars()  # now complete: mvn is not run again
    assert len(calls.read_text().splitlines()) == 1


def test_maven_failure_is_one_actionable_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    bin_dir = Path(path_with(tmp_path))
    write_script(bin_dir / "mvn", 'echo "[INFO] Scanning for projects..."\n'
                                  'echo "[ERROR] Failed to execute goal: Could not resolve dependencies: '
                                  'Connection refused"\necho "[ERROR] "\nexit 1\n')
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.setenv("NEWSWIRE_KAFKA_CACHE", str(tmp_path / "cache"))
    with pytest.raises(ConfigError) as raised:
        broker.ensure_jars()
    message = raised.value.detail
    assert_one_line(message)
    assert "Could not resolve dependencies" in message and "Maven Central" in message
    assert not (tmp_path / "cache").exists()  # no half-resolved cache left behind
