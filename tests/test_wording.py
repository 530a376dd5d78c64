"""The project speaks of itself only: no "session" in the prose of the repository (Markdown, docstrings,
comments, help texts). An API's own name such as onnxruntime's ``InferenceSession`` is allowed."""

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ALLOWED = re.compile(r"InferenceSession|SessionOptions|self\.session|\.session\b")


def _tracked() -> list[Path]:
    try:
        names = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):  # not a checkout (an sdist): read the tree instead
        return [p for p in ROOT.rglob("*") if p.is_file() and ".git" not in p.parts]
    return [ROOT / n for n in names.splitlines()]


def offending(text: str) -> list[str]:
    return [line for line in text.splitlines() if re.search(r"session", ALLOWED.sub("", line), re.IGNORECASE)]


def test_no_file_of_the_repository_speaks_of_sessions():
    found = []
    for path in _tracked():
        if path.suffix not in (".md", ".py", ".toml", ".sh", ".txt", "") or path == Path(__file__):
            continue
        try:
            lines = offending(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, OSError):
            continue
        found += [f"{path.relative_to(ROOT)}: {line.strip()[:80]}" for line in lines]
    assert not found, "\n".join(found)


def test_the_check_sees_the_word_and_allows_an_apis_name():
    assert offending("measured in session 5 on a Xeon") and offending("this Session's machine")
    assert not offending("engine = ort.InferenceSession(path)") and not offending("self.session.run(None, {})")
