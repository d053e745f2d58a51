"""The generated parts of README.md match the code, and CI runs the README's test command."""

from pathlib import Path

from scripts.gen_docs import README, render

ROOT = Path(__file__).resolve().parents[2]


def test_readme_configuration_reference_is_generated_from_settings():
    current = README.read_text()
    assert "<!-- config:start -->" in current
    assert current == render(current), "run: python scripts/gen_docs.py"


def test_every_setting_is_in_the_readme():
    from workers.settings import env_name, setting_fields

    readme = README.read_text()
    missing = [env_name(f) for f in setting_fields() if f"`{env_name(f)}`" not in readme]
    assert not missing


def test_ci_runs_the_readme_test_command():
    assert "make test" in README.read_text()
    assert "make test" in (ROOT / ".ci" / "run").read_text()
