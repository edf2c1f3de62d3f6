"""Dashboard benchmark in a real browser (Debian's Chromium via Playwright):

1. from `streamlit run` to a fully drawn Explore page (24 faces and both Plotly charts), seconds;
2. a lambda change (one arrow key on the slider) to new reconstructions and the moved highlight, seconds, timed in
   the page by a MutationObserver (Playwright's polling would add tens of milliseconds).

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


WATCH = """() => {
  const slider = document.querySelector("input[type='range'][aria-label='MID strength lambda']");
  const before = slider.getAttribute('aria-valuetext');
  const oldSource = document.querySelectorAll("[data-testid='stImage'] img")[2].src;
  window.__image = null; window.__ring = null; window.__moved = null;
  const start = performance.now();
  const check = () => {
    const now = performance.now() - start;
    if (window.__moved === null && slider.isConnected && slider.getAttribute('aria-valuetext') !== before) {
      window.__moved = now;
    }
    const image = document.querySelectorAll("[data-testid='stImage'] img")[2];
    if (window.__image === null && image && image.src !== oldSource) window.__image = now;
    const value = slider.isConnected ? slider.getAttribute('aria-valuetext') : null;
    const plot = document.querySelector('.js-plotly-plot');
    const ring = plot && [...plot.querySelectorAll('.scatterlayer .trace')].pop();
    if (window.__ring === null && value && value !== before && ring &&
        [...ring.querySelectorAll('text')].some(t => t.textContent === 'λ=' + value)) window.__ring = now;
  };
  window.__watch = new MutationObserver(check);
  window.__watch.observe(document.body, {subtree: true, childList: true, attributes: true, characterData: true});
}"""


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
            image_latencies, highlight_latencies, slider_latencies = [], [], []
            for i in range(CHANGES):
                slider.focus()
                # Timed in the page by a MutationObserver, from just before the key press: when the third image
                # (the first person's reconstruction at the chosen lambda) gets a new source, and when the
                # tradeoff plot's highlight ring (its last trace) is labelled with the slider's new value.
                page.evaluate(WATCH)
                page.keyboard.press("ArrowLeft" if i % 2 == 0 else "ArrowRight")
                page.wait_for_function("() => window.__image !== null && window.__ring !== null", timeout=30_000)
                image, ring, moved = page.evaluate("() => { window.__watch.disconnect(); "
                                                   "return [window.__image, window.__ring, window.__moved]; }")
                image_latencies.append(image / 1000)
                highlight_latencies.append(ring / 1000)
                slider_latencies.append(moved / 1000)
        finally:
            server.terminate()
            server.wait(timeout=20)
            browser.close()
    print(f"machine: {os.cpu_count()} CPUs; Chromium headless")
    print(f"streamlit run -> fully drawn Explore page: {first_screen:.2f} s (goal <= 10 s)")
    moved = statistics.median(slider_latencies)
    print(f"key press -> slider shows the new lambda: median {moved:.3f} s (the browser's own delay, here)")
    for name, values in (("new reconstructions", image_latencies), ("highlighted point", highlight_latencies)):
        print(f"lambda change -> {name}, {CHANGES} changes: median {statistics.median(values):.3f} s, "
              f"max {max(values):.3f} s from the key press; median "
              f"{statistics.median(v - m for v, m in zip(values, slider_latencies, strict=True)):.3f} s from the "
              "slider's move (goal <= 0.3 s)")

if __name__ == "__main__":
    main()
