"""`prunekit view`: the real command in a subprocess, driven in headless Chromium as a person would."""

from __future__ import annotations

import json
import queue
import re
import shutil
import signal
import socket
import subprocess
import threading
from pathlib import Path

import numpy as np
import pytest
from cli import _exe, assert_one_line_error, prunekit

from conftest import cli_env

pytest.importorskip("viser")

STATUS = re.compile(r"frame (\d+) · (preview|refined) (\d+)×(\d+)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def nerf_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("view") / "run"
    # seed 1 at 200 iterations: a model with visible structure (the 20-iteration smoke model is a blank)
    proc = prunekit(
        "run", "nerf", "--preset", "smoke", "--iters", "200", "--retrain-iters", "50", "--seed", "1", "--out", out
    )
    assert proc.returncode == 0, proc.stderr
    return out


class Server:
    """`prunekit view` in a subprocess; ``url`` once it printed its ready line."""

    def __init__(self, run: Path, *args: str) -> None:
        exe = _exe()  # the venv's prunekit, found even when its bin/ is not on PATH
        self.port = free_port()
        self.proc = subprocess.Popen(
            [exe, "view", str(run), "--port", str(self.port), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=cli_env(),
            # started as a script's background job starts it: SIGINT ignored; prunekit installs its own
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.log: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        self.url = self.wait_for("viewer ready at ").split("viewer ready at ")[1].split()[0]

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put("")  # end of output

    def wait_for(self, text: str, timeout: float = 120) -> str:
        while True:
            line = self.lines.get(timeout=timeout)
            self.log.append(line)
            if text in line:
                return line
            if line == "":
                raise AssertionError(f"prunekit view ended before {text!r}: {''.join(self.log)}")

    def stop(self) -> int | None:
        """Ctrl-C, as a person stops it; the exit code (None: killed after it ignored Ctrl-C for 300 s).

        Never raises, so an error in the test body is the one reported; the output's rest goes to ``log``.
        """
        self.proc.send_signal(signal.SIGINT)
        try:
            code = self.proc.wait(timeout=300)  # a safety net, not a pace: the test waits for the exit itself
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            code = None
        while (line := self.lines.get(timeout=60)) != "":
            self.log.append(line)
        return code


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.skip("Chromium is not installed (Debian: apt-get install chromium)")
    return path


def status(page) -> tuple[int, str, int, int]:
    text = page.get_by_text(STATUS).first.inner_text()
    number, kind, width, height = STATUS.search(text).groups()
    return int(number), kind, int(width), int(height)


def refined_after(page, after: int, timeout: float = 120_000) -> int:
    """Wait (on the page's own status line) for a refined frame numbered above ``after``; its number."""
    page.wait_for_function(
        """([after]) => {
            const m = document.body.innerText.match(/frame (\\d+) · refined/);
            return m !== null && Number(m[1]) > after;
        }""",
        arg=[after],
        timeout=timeout,
    )
    return status(page)[0]


def canvas_pixels(page, path: Path) -> np.ndarray:
    """A screenshot of the 3-D view (left of the control panel), as an array."""
    from PIL import Image

    page.screenshot(path=str(path), clip={"x": 0, "y": 0, "width": 520, "height": 600})
    return np.asarray(Image.open(path).convert("RGB"), dtype=np.float64)


def test_view_in_a_real_browser(nerf_run, tmp_path):
    sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright
    executable = chromium()
    server = Server(nerf_run, "--preview", "8", "--height", "32")
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=executable, headless=True)
            page = browser.new_page(viewport={"width": 900, "height": 600})
            page.goto(server.url)
            first = refined_after(page, 0)
            page.get_by_text("Show cameras").click()  # the frustums off: the canvas is the rendered frame alone
            before_number = refined_after(page, first)
            before = canvas_pixels(page, tmp_path / "before.png")
            panel = page.inner_text("body")
            assert "parameters" in panel and "test PSNR" in panel and "s / frame" in panel

            page.mouse.move(260, 300)  # orbit: drag across the 3-D view
            page.mouse.down()
            page.mouse.move(380, 330, steps=12)
            page.mouse.up()
            after_number = refined_after(page, before_number)
            after = canvas_pixels(page, tmp_path / "after.png")
            _, _, width, height = status(page)
            assert height == 32 and width > 0

            page.get_by_text("Nearest test view, with ground truth").click()
            page.get_by_text(re.compile(r"dense -?\d+\.\d+ dB, pruned -?\d+\.\d+ dB")).first.wait_for(timeout=120_000)
            page.screenshot(path=str(tmp_path / "viewer.png"))
            browser.close()
    finally:
        code = server.stop()
    assert after_number > before_number
    assert before.std() > 3 and after.std() > 3, "a blank frame"
    assert np.abs(after - before).mean() > 1, "the frame did not change when the camera moved"
    assert code is not None, "prunekit view did not exit within 300 s of Ctrl-C:\n" + "".join(server.log)
    assert code == 0 and any("viewer stopped" in line for line in server.log), "".join(server.log)


def test_view_refuses_bad_input(nerf_run, tmp_path):
    assert_one_line_error(prunekit("view", tmp_path / "missing"), "not a run folder")
    foreign = tmp_path / "digits_run"
    foreign.mkdir()
    (foreign / "report.json").write_text(json.dumps({"target": "digits"}))
    assert_one_line_error(prunekit("view", foreign), "nothing to show")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        assert_one_line_error(prunekit("view", nerf_run, "--port", taken.getsockname()[1]), "in use")
    assert_one_line_error(prunekit("view", nerf_run, "--port", "70000"), "--port")


def test_view_without_the_extra_says_how_to_install(nerf_run, tmp_path):
    shadow = tmp_path / "shadow" / "viser"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('viser is not installed')\n")
    proc = prunekit("view", nerf_run, env={"PYTHONPATH": str(shadow.parent)})
    assert_one_line_error(proc, "pip install", "[viewer]")
