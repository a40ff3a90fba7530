"""The README stays true: its commands are CI's, its CLI reference is current."""

from __future__ import annotations

import re
import subprocess
import sys

from .conftest import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")


def _bash_blocks(text: str) -> list[str]:
    return [b.strip() for b in re.findall(r"```bash\n(.*?)```", text, flags=re.S)]


def test_readme_gives_the_two_setup_commands():
    blocks = _bash_blocks(README)
    run, test = blocks[0], blocks[1]
    assert run == "pip install -e . && python -m dashboard --dataset emoji"
    assert test.endswith("pip install -e \".[test]\" && python -m pytest")


def test_ci_runs_the_readme_test_command():
    test_command = _bash_blocks(README)[1]
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert test_command in ci.splitlines()


def test_cli_reference_is_current():
    proc = subprocess.run([sys.executable, "-m", "cogapp", "--check", str(ROOT / "README.md")],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, "README's CLI reference is stale: run `cog -r README.md`\n" + proc.stdout + proc.stderr


def test_every_command_is_documented():
    from dashboard.cli import cli

    for name in cli.commands:
        assert f"python -m dashboard {name}" in README or f"  {name} " in README, name
