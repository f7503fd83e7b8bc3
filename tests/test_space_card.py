"""The README's front matter is the Space card: the Hub refuses a card outside its documented fields and limits.

Fields and limits from the Hub's Spaces configuration reference (https://huggingface.co/docs/hub/spaces-config-reference):
``colorFrom``/``colorTo`` one of eight colours, ``short_description`` at most 60 characters, ``sdk`` one of the
Hub's SDKs; the rest is checked against this repository (the app file, the installed Gradio, the checkpoints).
"""

import re
from pathlib import Path

import gradio
import pytest
import yaml

from effnetv2.checkpoints import CHECKPOINTS, DEFAULT_CHECKPOINT

ROOT = Path(__file__).resolve().parents[1]
COLORS = {"red", "yellow", "green", "blue", "indigo", "purple", "pink", "gray"}
SDKS = {"gradio", "docker", "static", "streamlit"}
SHORT_DESCRIPTION_MAX = 60
HUB_FILES = {(c.repo_id, c.filename) for c in CHECKPOINTS.values() if c.repo_id}


def front_matter(readme: str) -> dict:
    """The YAML between the README's first two ``---`` lines (a card without one is an error, not a skip)."""
    match = re.match(r"---\n(.*?)\n---\n", readme, re.S)
    assert match, "README.md has no front matter"
    return yaml.safe_load(match.group(1))


@pytest.fixture(scope="module")
def card() -> dict:
    return front_matter((ROOT / "README.md").read_text(encoding="utf-8"))


def test_sdk_and_its_version_match_the_installed_gradio(card):
    assert card["sdk"] in SDKS and card["sdk"] == "gradio"
    assert str(card["sdk_version"]).split(".")[0] == gradio.__version__.split(".")[0]
    assert re.fullmatch(r"\d+\.\d+\.\d+", str(card["sdk_version"]))


def test_app_file_exists(card):
    assert (ROOT / card["app_file"]).is_file()


def test_colors_are_the_hubs(card):
    assert card["colorFrom"] in COLORS and card["colorTo"] in COLORS


def test_short_description_fits_the_hubs_limit(card):
    text = card["short_description"]
    assert isinstance(text, str) and 0 < len(text) <= SHORT_DESCRIPTION_MAX, (len(text), text)


def test_python_version_is_a_string(card):
    """YAML reads ``3.10`` as the number 3.1: the version must be quoted."""
    assert isinstance(card["python_version"], str) and re.fullmatch(r"3\.\d+", card["python_version"])


def test_models_are_checkpoints_of_the_package(card):
    repos = {repo for repo, _ in HUB_FILES}
    assert card["models"] and set(card["models"]) <= repos, set(card["models"]) - repos


def test_preloaded_files_are_real_checkpoint_files_and_include_the_default(card):
    """``preload_from_hub`` entries read ``repo file1,file2 [commit]``: each file must be a checkpoint's."""
    preloaded = set()
    for entry in card["preload_from_hub"]:
        repo, files, *commit = entry.split()
        assert len(commit) <= 1 and all(re.fullmatch(r"[0-9a-f]{40}", c) for c in commit), entry
        preloaded |= {(repo, f) for f in files.split(",")}
    assert preloaded <= HUB_FILES, preloaded - HUB_FILES
    default = CHECKPOINTS[DEFAULT_CHECKPOINT]
    assert (default.repo_id, default.filename) in preloaded


def test_the_checks_refuse_a_card_the_hub_would_refuse():
    """The checks can fail: the card this README had before (79-character short_description)."""
    old = front_matter("---\nshort_description: " + "x" * 79 + "\ncolorFrom: orange\n---\n")
    assert len(old["short_description"]) > SHORT_DESCRIPTION_MAX and old["colorFrom"] not in COLORS
