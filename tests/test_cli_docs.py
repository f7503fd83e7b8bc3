"""docs/cli.md holds every command's --help as the CLI prints it: this test keeps it so.

Regenerate after a CLI change with ``python tests/test_cli_docs.py``.
"""

import argparse
import os
import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[1] / "docs" / "cli.md"
HEADING = re.compile(r"^## `effnetv2 ?(\w*) --help`$", re.M)


def help_text(command: str) -> str:
    """What ``python -m effnetv2 [COMMAND] --help`` prints at 120 columns (argparse wraps to $COLUMNS)."""
    from effnetv2.cli import build_parser

    parser = build_parser()
    if command:
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parser = sub.choices[command]
    return parser.format_help().rstrip()


def generated() -> str:
    doc = DOC.read_text()
    out = doc[: HEADING.search(doc).start()]
    for command in HEADING.findall(doc):
        title = f"## `effnetv2 {command} --help`" if command else "## `effnetv2 --help`"
        out += f"{title}\n\n```text\n{help_text(command)}\n```\n\n"
    return out.rstrip() + "\n"


def test_every_help_text_in_the_docs_is_the_clis_own(monkeypatch):
    monkeypatch.setenv("COLUMNS", "120")
    expected = generated()
    assert "bench" in expected and "--threads" in expected  # every command's help ran (a stray % breaks them)
    assert DOC.read_text() == expected, "docs/cli.md is stale: run python tests/test_cli_docs.py"


if __name__ == "__main__":
    os.environ["COLUMNS"] = "120"
    DOC.write_text(generated())
