"""Dashboard benchmark in a real browser (Debian's Chromium via Playwright):

1. from `streamlit run` (and from opening the page) to Explore's first screen (the slider, 24 faces, the four
   metric cards and the sentence under them), and to the whole page (both Plotly charts drawn too), seconds, and the
   bytes the page transferred for each (HTTP responses and websocket frames, as Chromium counts them);
2. a lambda change (one arrow key on the slider) to new reconstructions, new metric cards and sentence (all swapped
   in the browser from what the page was sent once) and the moved highlight, from the key press and from the
   slider's move, timed in the page by a MutationObserver (Playwright's polling would add tens of milliseconds);
   then the server's rerun confirming it, and the bytes each change transferred.

Run: `MIDLAB_DATA=../shared/data .venv/bin/python benchmarks/dashboard.py` (needs /usr/bin/chromium).
"""

import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
CHANGES = 10


WATCH = """() => {
  const slider = document.querySelector("input[type='range'][aria-label='MID strength lambda']");
  const before = slider.getAttribute('aria-valuetext');
  const oldSource = document.querySelectorAll("[data-testid='stImage'] img")[2].src;
  const panel = () => (document.querySelector('.midlab-panel') || {}).textContent;
  const oldPanel = panel();
  window.__image = null; window.__ring = null; window.__moved = null; window.__cards = null;
  const start = performance.now();
  const check = () => {
    const now = performance.now() - start;
    if (window.__moved === null && slider.isConnected && slider.getAttribute('aria-valuetext') !== before) {
      window.__moved = now;
    }
    const image = document.querySelectorAll("[data-testid='stImage'] img")[2];
    if (window.__image === null && image && image.src !== oldSource) window.__image = now;
    if (window.__cards === null && panel() !== oldPanel) window.__cards = now;
    const value = slider.isConnected ? slider.getAttribute('aria-valuetext') : null;
    const plot = document.querySelector('.js-plotly-plot');
    const ring = plot && [...plot.querySelectorAll('.scatterlayer .trace')].pop();
    if (window.__ring === null && value && value !== before && ring &&
        [...ring.querySelectorAll('text')].some(t => t.textContent === 'λ=' + value)) window.__ring = now;
  };
  window.__watch = new MutationObserver(check);
  window.__watch.observe(document.body, {subtree: true, childList: true, attributes: true, characterData: true});
}"""


# The first screen is drawn: the slider, the 24 faces (loaded), the four cards and the sentence.
FIRST_SCREEN = """() => {
  const faces = [...document.querySelectorAll("[data-testid='stImage'] img")];
  const sentence = document.querySelector('.midlab-sentence');
  return document.querySelector("input[type='range'][aria-label='MID strength lambda']") && faces.length >= 24 &&
    faces.every(face => face.complete && face.naturalWidth > 0) &&
    document.querySelectorAll('.midlab-card').length === 4 && sentence &&
    (sentence.hidden || sentence.textContent !== '');
}"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_server(url: str, server: subprocess.Popen) -> float:
    """Poll the server's health endpoint until it answers; the time it first did."""
    while server.poll() is None:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return time.monotonic()
        except OSError:  # not listening yet
            time.sleep(0.05)
    raise RuntimeError("streamlit exited before it answered")


class Transfer:
    """Bytes the page received, as Chromium's network layer counts them: every HTTP response (headers and body, as
    sent) and every websocket frame's payload."""

    def __init__(self, page) -> None:
        self.bytes = 0
        session = page.context.new_cdp_session(page)
        session.on("Network.loadingFinished", lambda event: self._add(event["encodedDataLength"]))
        session.on("Network.webSocketFrameReceived", lambda event: self._add(self._frame(event["response"])))
        session.send("Network.enable")

    def _add(self, count: float) -> None:
        self.bytes += int(count)

    @staticmethod
    def _frame(frame: dict) -> int:
        data = frame["payloadData"]
        return len(data) * 3 // 4 if frame["opcode"] == 2 else len(data.encode())  # binary frames come base64'd


def settled(page) -> None:
    """Wait until the server's rerun has finished and the page shows its own images (none swapped in)."""
    page.wait_for_selector("[data-testid='stApp'][data-test-script-state='notRunning']", timeout=30_000)
    page.wait_for_function("() => !document.querySelectorAll(\"[data-testid='stImage'] img\")[2].src"
                           ".startsWith('data:')", timeout=30_000)


def main() -> None:
    port = free_port()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-quic"])
        page = browser.new_page(viewport={"width": 1600, "height": 1400})
        transfer = Transfer(page)
        start = time.monotonic()
        server = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "dashboard/app.py", "--server.headless", "true",
             "--server.port", str(port), "--browser.gatherUsageStats", "false"],
            cwd=ROOT, env={**os.environ, "MIDLAB_RESULTS": "/nonexistent-results"},
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            listening = wait_for_server(f"http://127.0.0.1:{port}", server) - start
            opened = time.monotonic()
            page.goto(f"http://127.0.0.1:{port}", timeout=60_000)  # once: a reload would count the page twice
            page.locator("[data-testid='stImage'] img").nth(23).wait_for(timeout=60_000)
            page.wait_for_function(FIRST_SCREEN, timeout=60_000)
            first_screen = time.monotonic()
            first_bytes = transfer.bytes
            page.locator(".js-plotly-plot").nth(1).wait_for(timeout=60_000)
            whole_page = time.monotonic()
            page.wait_for_load_state("networkidle", timeout=30_000)
            page_bytes = transfer.bytes

            slider = page.locator("input[type='range'][aria-label='MID strength lambda']")
            image_latencies, card_latencies, highlight_latencies, slider_latencies = [], [], [], []
            confirm_latencies, change_bytes = [], []
            for i in range(CHANGES):
                settled(page)
                slider.focus()
                before = transfer.bytes
                # Timed in the page by a MutationObserver, from just before the key press: when the third image
                # (the first person's reconstruction at the chosen lambda) gets a new source, and when the
                # tradeoff plot's highlight ring (its last trace) is labelled with the slider's new value.
                page.evaluate(WATCH)
                pressed = time.monotonic()
                page.keyboard.press("ArrowLeft" if i % 2 == 0 else "ArrowRight")
                page.wait_for_function("() => window.__image !== null && window.__ring !== null && "
                                       "window.__cards !== null", timeout=30_000)
                image, cards, ring, moved = page.evaluate(
                    "() => { window.__watch.disconnect(); "
                    "return [window.__image, window.__cards, window.__ring, window.__moved]; }")
                settled(page)
                confirm_latencies.append(time.monotonic() - pressed)
                page.wait_for_load_state("networkidle", timeout=30_000)
                change_bytes.append(transfer.bytes - before)
                image_latencies.append(image / 1000)
                card_latencies.append(cards / 1000)
                highlight_latencies.append(ring / 1000)
                slider_latencies.append(moved / 1000)
        finally:
            server.terminate()
            server.wait(timeout=20)
            browser.close()
    print(f"machine: {os.cpu_count()} CPUs, load average {' '.join(f'{v:.2f}' for v in os.getloadavg())} at the end; "
          "Chromium headless")
    print(f"streamlit run -> the server answers: {listening:.2f} s")
    print(f"first screen (slider, 24 faces, cards, sentence): {first_screen - start:.2f} s from streamlit run, "
          f"{first_screen - opened:.2f} s from opening the page (goal <= 6 s); {first_bytes / 1e6:.2f} MB transferred")
    print(f"whole page (both Plotly charts drawn too): {whole_page - start:.2f} s from streamlit run, "
          f"{whole_page - opened:.2f} s from opening the page; {page_bytes / 1e6:.2f} MB transferred")
    moved = statistics.median(slider_latencies)
    print(f"key press -> slider shows the new lambda: median {moved * 1000:.0f} ms (the browser's own delay, here)")
    for name, values, goal in (("new faces", image_latencies, " (goal <= 50 ms from the slider's move, <= 100 ms from "
                                "the key press)"), ("new cards and sentence", card_latencies, ""),
                               ("highlighted point", highlight_latencies, "")):
        print(f"lambda change -> {name}, {CHANGES} changes: median {statistics.median(values) * 1000:.0f} ms, "
              f"max {max(values) * 1000:.0f} ms from the key press; median "
              f"{statistics.median(v - m for v, m in zip(values, slider_latencies, strict=True)) * 1000:.0f} ms "
              f"from the slider's move{goal}")
    print(f"lambda change -> the server's rerun has confirmed it: median {statistics.median(confirm_latencies):.2f} s "
          f"from the key press; each change transferred a median {statistics.median(change_bytes) / 1e3:.0f} kB")


if __name__ == "__main__":
    main()
