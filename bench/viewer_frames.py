"""Frame time of `prunekit view`, dense vs pruned, measured through the real viewer in headless Chromium.

Starts ``prunekit view RUN_DIR``, opens it in Debian's Chromium (Playwright), shows each model alone at
rest for ``--frames`` refined frames (nudging the camera between them), reads the panel's frame times and
writes a screenshot of the split view. Needs the ``viewer`` and ``browser`` extras and ``chromium``.

    python bench/viewer_frames.py runs/demo [--height 64] [--screenshot docs/images/viewer.png] [--out FILE.json]
"""

from __future__ import annotations

import argparse
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from common import add_out, cpu_model, save

REFINED = re.compile(r"frame (\d+) · refined")
ROW = re.compile(r"^(dense|pruned)\s+([\d,]+)\s+([\d.]+ dB|—)\s+([\d.]+)$", re.M)


def start(run: Path, port: int, height: int) -> tuple[subprocess.Popen, str]:
    exe = shutil.which("prunekit")
    proc = subprocess.Popen(
        [exe, "view", str(run), "--port", str(port), "--height", str(height)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    for line in proc.stdout:
        if "viewer ready at " in line:
            return proc, line.split("viewer ready at ")[1].split()[0]
    raise SystemExit("prunekit view stopped before it was ready")


def refined(page, after: int) -> int:
    page.wait_for_function(
        "([a]) => { const m = document.body.innerText.match(/frame (\\d+) · refined/); return m && Number(m[1]) > a; }",
        arg=[after],
        timeout=600_000,
    )
    return int(REFINED.search(page.inner_text("body")).group(1))


def choose(page, mode: str) -> None:
    """Pick ``mode`` in the panel's Show menu (a Mantine select, not a native one)."""
    page.get_by_role("combobox").first.click()
    page.get_by_role("option", name=mode, exact=True).click()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--height", type=int, default=64)
    parser.add_argument("--frames", type=int, default=5)
    parser.add_argument("--port", type=int, default=7017)
    parser.add_argument("--screenshot", type=Path, default=None)
    add_out(parser, "viewer_frames")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    proc, url = start(args.run, args.port, args.height)
    times: dict[str, list[float]] = {"dense": [], "pruned": []}
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=shutil.which("chromium"), headless=True)
            page = browser.new_page(viewport={"width": 1280, "height": 720})
            page.goto(url)
            number = refined(page, 0)
            for mode in ("dense", "pruned"):
                choose(page, mode)
                number = refined(page, number)
                for _ in range(args.frames):
                    page.mouse.move(400, 360)
                    page.mouse.down()
                    page.mouse.move(410, 362, steps=2)
                    page.mouse.up()
                    number = refined(page, number)
                    row = {m[0]: float(m[3]) for m in ROW.findall(page.inner_text("body"))}
                    times[mode].append(row[mode])
            choose(page, "split")
            number = refined(page, number)
            if args.screenshot:
                for close in page.locator(".mantine-Notification-closeButton").all():
                    close.click()  # the "software WebGL" notice of a headless browser
                page.get_by_text("Show cameras").click()
                page.get_by_text("Show cameras").click()
                refined(page, number + 1)
                time.sleep(0.5)  # let the browser paint the last frame it received
                page.screenshot(path=str(args.screenshot))
            browser.close()
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=120)
    dense, pruned = (sorted(times[m])[len(times[m]) // 2] for m in ("dense", "pruned"))
    print(f"CPU: {cpu_model()}; refined frames {args.height} px high, median of {args.frames} per model")
    print("| model | s / frame | ÷ dense |\n|---|---|---|")
    print(f"| dense | {dense:.3f} | 1.000 |\n| pruned | {pruned:.3f} | {pruned / dense:.3f} |")
    save(args.out, {"run": args.run, "height": args.height, "frames": args.frames}, frame_seconds=times)


if __name__ == "__main__":
    sys.exit(main())
