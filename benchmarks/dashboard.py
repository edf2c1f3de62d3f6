"""Dashboard benchmark in a real browser (Debian's Chromium via Playwright):

1. from `streamlit run` to a fully drawn Explore page (24 faces and both Plotly charts), seconds;
2. a lambda change (one arrow key on the slider) to new reconstructions and the moved highlight, seconds.

Run: `MIDLAB_DATA=../shared/data .venv/bin/python benchmarks/dashboard.py` (needs /usr/bin/chromium).
"""

import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
CHANGES = 10


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def main() -> None:
    port = free_port()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-quic"])
        page = browser.new_page(viewport={"width": 1600, "height": 1400})
        start = time.monotonic()
        server = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "dashboard/app.py", "--server.headless", "true",
             "--server.port", str(port), "--browser.gatherUsageStats", "false"],
            cwd=ROOT, env={**os.environ, "MIDLAB_RESULTS": "/nonexistent-results"},
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            while True:
                try:
                    page.goto(f"http://127.0.0.1:{port}", timeout=2000)
                    break
                except Exception:  # the server is not listening yet
                    time.sleep(0.1)
            images = page.locator("[data-testid='stImage'] img")
            images.nth(23).wait_for(timeout=60_000)
            page.locator(".js-plotly-plot").nth(1).wait_for(timeout=60_000)
            first_screen = time.monotonic() - start

            slider = page.locator("input[type='range'][aria-label='MID strength lambda']")
            image_latencies, highlight_latencies = [], []
            for i in range(CHANGES):
                before = images.nth(2).get_attribute("src")
                slider.focus()
                t0 = time.monotonic()
                page.keyboard.press("ArrowLeft" if i % 2 == 0 else "ArrowRight")
                page.wait_for_function(
                    "([selector, old]) => { const img = document.querySelectorAll(selector)[2];"
                    " return img && img.src !== old; }",
                    arg=["[data-testid='stImage'] img", before], timeout=30_000)
                image_latencies.append(time.monotonic() - t0)
                wanted = "λ=" + slider.get_attribute("aria-valuetext")
                # The highlighted point is labelled with its lambda in the tradeoff plot's SVG.
                page.wait_for_function(
                    "(label) => { const plot = document.querySelector('.js-plotly-plot');"
                    " return !!plot && [...plot.querySelectorAll('text')].some(t => t.textContent === label); }",
                    arg=wanted, timeout=30_000)
                highlight_latencies.append(time.monotonic() - t0)
        finally:
            server.terminate()
            server.wait(timeout=20)
            browser.close()
    print(f"machine: {os.cpu_count()} CPUs; Chromium headless")
    print(f"streamlit run -> fully drawn Explore page: {first_screen:.2f} s (goal <= 10 s)")
    for name, values in (("new reconstructions", image_latencies), ("highlighted point", highlight_latencies)):
        print(f"lambda change -> {name}, {CHANGES} changes: median {statistics.median(values):.3f} s, "
              f"max {max(values):.3f} s (goal <= 0.3 s)")


if __name__ == "__main__":
    main()
