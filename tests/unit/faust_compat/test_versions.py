"""The worker refuses faust-streaming / aiokafka / mode versions the corrections were not verified on."""

from __future__ import annotations

from importlib import metadata

import pytest

from workers.faust_compat import VERIFIED, UnverifiedVersion, check_versions, installed_versions


def versions(**overrides: str):
    def version_of(name: str) -> str:
        if name in overrides:
            return overrides[name]
        return VERIFIED[name][0]

    return version_of


def test_the_installed_versions_are_the_verified_ones():
    # The lock file pins what the patches were verified on; a drift here is the start-up refusal.
    assert all(found in VERIFIED[name] for name, found in installed_versions().items())
    assert check_versions(allow_unverified=False) == []


def test_an_unverified_version_is_refused_with_a_clear_message():
    with pytest.raises(UnverifiedVersion) as err:
        check_versions(allow_unverified=False, version_of=versions(**{"faust-streaming": "0.16.0"}))
    message = str(err.value)
    assert "faust-streaming 0.16.0 (verified: 0.15.3)" in message
    assert "NEWSWIRE_ALLOW_UNVERIFIED_VERSIONS" in message


def test_a_missing_library_is_refused():
    def version_of(name: str) -> str:
        if name == "aiokafka":
            raise metadata.PackageNotFoundError(name)
        return VERIFIED[name][0]

    with pytest.raises(UnverifiedVersion, match="aiokafka not installed"):
        check_versions(allow_unverified=False, version_of=version_of)


def test_the_override_starts_anyway_and_names_the_mismatch():
    mismatches = check_versions(allow_unverified=True, version_of=versions(aiokafka="0.15.0"))
    assert mismatches == ["aiokafka 0.15.0 (verified: 0.14.0)"]


def test_the_worker_command_refuses_before_touching_kafka(monkeypatch, capsys, tmp_path):
    from workers.cli import command
    from workers.faust_compat import versions as versions_module

    monkeypatch.setattr(versions_module, "installed_versions",
                        lambda version_of=None: {"faust-streaming": "9.9.9", "aiokafka": "0.14.0",
                                                 "mode-streaming": "0.7.1"})
    monkeypatch.setenv("NEWSWIRE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("NEWSWIRE_BOOTSTRAP_SERVERS", "127.0.0.1:1")  # nothing listens: must not get that far
    assert command.main(["worker"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("newswire: newswire's Faust corrections were not verified on faust-streaming 9.9.9")
