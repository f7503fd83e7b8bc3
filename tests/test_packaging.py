"""The package's metadata agrees with the requirements files, and the console script is the CLI."""

from pathlib import Path

import pytest

import effnetv2

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

ROOT = Path(__file__).resolve().parents[1]


def _requirements(name: str) -> list[str]:
    lines = (ROOT / name).read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith(("#", "-r"))]


def test_pyproject_dependencies_match_the_requirements_files():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["dependencies"] == _requirements("requirements.txt")
    assert project["optional-dependencies"]["dev"] == _requirements("requirements-dev.txt")
    assert project["scripts"]["effnetv2"] == "effnetv2.cli:main"


def test_the_public_api_is_deliberate():
    assert len(set(effnetv2.__all__)) == len(effnetv2.__all__)
    assert all(hasattr(effnetv2, name) for name in effnetv2.__all__)
    assert "backend" not in effnetv2.__all__ and "testing" not in effnetv2.__all__
