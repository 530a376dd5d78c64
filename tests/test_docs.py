"""The documentation's code runs: every Python block of the README and the documentation site (the study
pages under docs/results excepted: their commands take hours) and every shell block marked quick. A shell
block that takes longer carries ``<!-- not run: why -->`` and is listed among the skipped tests with its
reason; an unmarked one fails. The command-line reference is the command line's own."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, cli_env

QUICK = "<!-- test: quick -->"
NOT_RUN = re.compile(r"<!-- not run: (.+?) -->")
BLOCK = re.compile(r"(?P<before>[^\n]*)\n```(?P<lang>\w+)\n(?P<code>.*?)\n```", re.S)


def _pages() -> list[Path]:
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    return [p for p in pages if "results" not in p.relative_to(ROOT).parts]


def _blocks(lang: str) -> list[tuple[str, str, str]]:
    found = []
    for page in _pages():
        text = page.read_text(encoding="utf-8")
        for m in BLOCK.finditer("\n" + text):
            if m.group("lang") == lang:
                line = text[: m.start()].count("\n") + 2
                found.append((f"{page.relative_to(ROOT)}:{line}", m.group("before").strip(), m.group("code")))
    return found


PYTHON = _blocks("python")
SHELL = _blocks("bash")


def test_the_pages_hold_blocks_to_run():
    assert len(PYTHON) >= 4 and any(before == QUICK for _, before, _ in SHELL)  # found what it should


@pytest.mark.parametrize("where, before, code", PYTHON, ids=[b[0] for b in PYTHON])
def test_a_python_block_runs(where, before, code, tmp_path):
    if NOT_RUN.search(before):
        pytest.skip(f"{where} is marked not run: {NOT_RUN.search(before).group(1)}")
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=cli_env(), capture_output=True, text=True)
    assert proc.returncode == 0, f"{where}:\n{proc.stderr[-2000:]}"


@pytest.mark.parametrize("where, before, code", SHELL, ids=[b[0] for b in SHELL])
def test_a_quick_shell_block_runs(where, before, code, tmp_path):
    if NOT_RUN.search(before):
        pytest.skip(f"{where} is marked not run: {NOT_RUN.search(before).group(1)}")
    assert before == QUICK, f"{where}: mark the block {QUICK} or <!-- not run: why -->"
    proc = subprocess.run(["bash", "-e", "-c", code], cwd=tmp_path, env=cli_env(), capture_output=True, text=True)
    assert proc.returncode == 0, f"{where}:\n{proc.stderr[-2000:]}"


def test_the_command_line_reference_is_current():
    script = ROOT / "docs" / "tools" / "cli_reference.py"
    proc = subprocess.run([sys.executable, str(script), "--check"], env=cli_env(), capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
