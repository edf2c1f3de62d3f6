"""A real browser (Debian's Chromium driven by Playwright) against `streamlit run` on a free local port:
the first screen shows the faces and the Plotly chart, moving lambda changes the reconstructions at once in the
browser, every page fits its screen, and the arrow keys step through the Story."""

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import pytest

from tests.test_explore import featured

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
OUTPUT = ROOT / "test-output"
pytestmark = pytest.mark.browser


def require_browser() -> None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing = "the playwright package"
    else:
        missing = "" if Path(CHROMIUM).exists() else CHROMIUM
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"browser tests need {missing} (.ci/run installs it)", pytrace=False)
        pytest.skip(f"browser tests need {missing}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def streamlit_server(env: dict[str, str]) -> Iterator[str]:
    """`streamlit run dashboard/app.py` on a free local port with `env` added; yields its URL."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "dashboard/app.py", "--server.headless", "true",
         "--server.port", str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    break
        except OSError:
            time.sleep(0.3)
    else:
        process.kill()
        pytest.fail(f"streamlit did not start: {process.stdout.read().decode()[-2000:]}")
    try:
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)


@contextmanager
def chromium_page() -> Iterator:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-quic",
                  "--no-first-run", "--disable-component-update", "--disable-sync"])
        try:
            yield browser.new_page(viewport={"width": 1600, "height": 1400})
        finally:
            browser.close()


@pytest.fixture(scope="module")
def server(data_dir, tmp_path_factory):
    require_browser()
    with streamlit_server({"MIDLAB_RESULTS": str(tmp_path_factory.mktemp("results")),
                           "MIDLAB_DATA": str(data_dir)}) as url:
        yield url


@pytest.fixture(scope="module")
def page(server):
    with chromium_page() as page:
        yield page


def reconstruction_sources(page) -> list[str]:
    return page.locator("[data-testid='stImage'] img").evaluate_all("images => images.map(i => i.src)")


def test_first_screen_then_moving_lambda(server, page):
    start = time.monotonic()
    page.goto(server)
    page.locator("[data-testid='stImage'] img").nth(23).wait_for(timeout=60_000)
    page.locator(".js-plotly-plot").first.wait_for(timeout=60_000)
    first_render = time.monotonic() - start
    OUTPUT.mkdir(exist_ok=True)
    page.screenshot(path=str(OUTPUT / "explore.png"), full_page=True)
    before = reconstruction_sources(page)
    assert len(before) == 24

    page.locator("input[type='range'][aria-label='MID strength lambda']").focus()
    page.keyboard.press("End")  # the largest lambda
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and reconstruction_sources(page)[2::3] == before[2::3]:
        time.sleep(0.2)
    after = reconstruction_sources(page)
    assert after[2::3] != before[2::3], "moving lambda did not change the reconstructions"
    page.wait_for_url(f"**lam={featured().lambdas[-1]:g}**", timeout=10_000)
    # The faces swapped in by the browser are then confirmed by the server's own images, and stay.
    page.wait_for_function(f"() => [...document.querySelectorAll(\"{FACE}\")].every(i => !i.src.startsWith('data:'))",
                           timeout=30_000)
    page.wait_for_selector("[data-testid='stApp'][data-test-script-state='notRunning']", timeout=30_000)
    page.wait_for_timeout(500)
    confirmed = reconstruction_sources(page)
    assert not any(src.startswith("data:") for src in confirmed) and confirmed[2::3] != before[2::3]
    page.screenshot(path=str(OUTPUT / "explore_large_lambda.png"), full_page=True)
    print(f"first full render {first_render:.1f} s")


def test_presenter_link_hides_the_sidebar(server, page):
    page.goto(f"{server}/?presenter=1&data=orl&lam=0.03&ids=s1,s2")
    page.locator("[data-testid='stImage'] img").nth(5).wait_for(timeout=60_000)
    assert not page.locator("[data-testid='stSidebar']").is_visible()
    assert page.locator("[data-testid='stImage'] img").count() == 6


def test_clicking_a_point_of_the_tradeoff_plot_selects_its_lambda(server, page):
    page.goto(f"{server}/?data=orl&lam=0&ids=s1")
    slider = page.locator("input[type='range'][aria-label='MID strength lambda']")
    slider.wait_for(timeout=60_000)
    page.locator(".js-plotly-plot").first.wait_for(timeout=60_000)
    assert slider.get_attribute("aria-valuetext") == "0"
    # The first trace's markers are in lambda order; the last one is the largest lambda.
    points = page.locator(".js-plotly-plot").first.locator(".scatterlayer .trace").first.locator(".points path")
    # On a busy machine the plot can redraw just as the click lands; click again, a few times at most.
    for _ in range(5):
        points.last.click(force=True)
        deadline = time.monotonic() + 6
        while time.monotonic() < deadline and slider.get_attribute("aria-valuetext") != "0.1":
            time.sleep(0.2)
        if slider.get_attribute("aria-valuetext") == "0.1":
            break
    assert slider.get_attribute("aria-valuetext") == "0.1"
    page.wait_for_url("**lam=0.1**", timeout=10_000)


@pytest.mark.slow
def test_a_model_trained_to_extend_the_shipped_sweep_joins_it(tiny_zoo, data_dir, tmp_path, page):
    """Train at a new lambda on the Train page by clicks; Explore's slider then reaches it, badged."""
    require_browser()
    zoo_dir, store = tiny_zoo
    env = {"MIDLAB_ZOO": str(zoo_dir), "MIDLAB_STORE": str(store), "MIDLAB_RESULTS": str(tmp_path / "results"),
           "MIDLAB_DATA": str(data_dir)}
    OUTPUT.mkdir(exist_ok=True)
    # A page of the module's browser (one Playwright per process), at the size the other screenshots have.
    context = page.context.browser.new_context(viewport={"width": 1600, "height": 1400})
    with streamlit_server(env) as url, closing(context):
        page = context.new_page()
        page.goto(f"{url}/train")
        page.locator("input[aria-label='Lambdas']").fill("0.5")
        page.get_by_role("button", name="Train and attack").click()
        page.get_by_text("Done: 1 model").wait_for(timeout=240_000)
        page.locator(".js-plotly-plot").first.wait_for(timeout=30_000)
        page.screenshot(path=str(OUTPUT / "extend_train.png"), full_page=True)

        page.goto(f"{url}/?lam=0.5&ids=s1,s2,s3,s4")
        slider = page.locator("input[type='range'][aria-label='MID strength lambda']")
        slider.wait_for(timeout=60_000)
        page.locator(".js-plotly-plot").first.wait_for(timeout=60_000)
        assert slider.get_attribute("aria-valuetext") == "0.5"
        assert page.get_by_text("trained here", exact=True).first.is_visible()
        page.screenshot(path=str(OUTPUT / "extend_explore.png"), full_page=True)
        page.locator(".js-plotly-plot").first.scroll_into_view_if_needed()
        page.screenshot(path=str(OUTPUT / "extend_explore_plot.png"))
        slider.focus()
        page.keyboard.press("End")  # the sweep's largest lambda, shipped: no badge up top (it is in the details)
        page.wait_for_url("**lam=1**", timeout=30_000)
        badge = page.locator(".stMarkdownBadge", has_text="trained here")  # the plot's legend says it too
        badge.first.wait_for(state="hidden", timeout=30_000)
        assert slider.get_attribute("aria-valuetext") == "1"


# Every page by its URL path (st.navigation derives them from the page files); Explore is the default page.
PAGES = ["", "story", "train", "attack_lab", "results", "compare", "findings", "learn"]
SCREENS = [(1280, 720), (1500, 900), (1920, 1080)]  # a projector, the width the Learn page was cut at, full HD

# In the main block, a container that clips or scrolls its content and is wider inside than out, a formula whose
# right edge passes its column's, and any other element that runs past the main block's right edge.
# Data frames scroll by design (their grid has a visible scroll bar), so they are left out.
FIND_OVERFLOWS = """() => {
  const main = document.querySelector('[data-testid="stMainBlockContainer"]');
  const right = main.getBoundingClientRect().right;
  const name = el => {
    const holder = el.closest('[data-testid]');
    const text = (el.textContent || holder.textContent || '').trim().slice(0, 50);
    return el.tagName.toLowerCase() + (holder ? ` in ${holder.dataset.testid}` : '') + ` "${text}"`;
  };
  const found = [];
  for (const el of main.querySelectorAll('*')) {
    if (el.closest('[data-testid="stDataFrame"]') || el.closest('[data-testid="stDataFrameResizable"]')) continue;
    const box = el.getBoundingClientRect();
    if (box.width <= 1 || box.height <= 1) continue;  // hidden, or visually hidden for screen readers (1x1 px)
    const style = getComputedStyle(el);
    if (el.matches('.katex-display')) {
      // KaTeX ends a stacked formula with a 2 px strut (.vlist-s), inside the formula's scroll width.
      if (el.scrollWidth > el.clientWidth + 2) found.push(`${name(el)} scrolls ${el.scrollWidth - el.clientWidth} px`);
      const column = el.closest('[data-testid="stColumn"]') || main;
      const past = box.right - column.getBoundingClientRect().right;
      if (past > 1) found.push(`${name(el)} runs ${Math.round(past)} px past its column`);
    } else if (['hidden', 'clip', 'auto', 'scroll'].includes(style.overflowX) && el.scrollWidth > el.clientWidth + 1) {
      found.push(`${name(el)} clips or scrolls ${el.scrollWidth - el.clientWidth} px`);
    } else if (box.right > right + 1) {
      let clipped = false;
      for (let up = el.parentElement; up && up !== main; up = up.parentElement) {
        if (getComputedStyle(up).overflowX !== 'visible') { clipped = true; break; }
      }
      if (!clipped) found.push(`${name(el)} runs ${Math.round(box.right - right)} px past the page`);
    }
  }
  return [...new Set(found)];
}"""


def open_page(page, url: str) -> None:
    """Load a page and wait until its script has finished and nothing on it is still loading."""
    page.goto(url)
    page.locator("[data-testid='stMainBlockContainer'] h1").first.wait_for(timeout=90_000)
    page.wait_for_selector("[data-testid='stApp'][data-test-script-state='notRunning']", timeout=90_000)
    page.wait_for_load_state("networkidle", timeout=30_000)


def test_every_page_fits_its_screen(server, page):
    """At a projector's 1280x720, at 1500x900 and at 1920x1080 no element of any page overflows its container: no
    formula is cut off, no text runs out of its column; and no page shows the developer toolbar. One browser and
    one server for all pages; screenshots at 1280x720."""
    OUTPUT.mkdir(exist_ok=True)
    problems = []
    try:
        for path in PAGES:
            page.set_viewport_size({"width": SCREENS[0][0], "height": SCREENS[0][1]})
            open_page(page, f"{server}/{path}")
            # Users get no developer toolbar (.streamlit/config.toml: client.toolbarMode).
            assert page.locator("[data-testid='stAppDeployButton'], [data-testid='stMainMenu']").count() == 0
            for width, height in SCREENS:
                page.set_viewport_size({"width": width, "height": height})
                page.wait_for_timeout(400)  # the layout and Plotly's resize settle
                if (width, height) == SCREENS[0]:
                    page.screenshot(path=str(OUTPUT / f"fit_{path or 'explore'}_{width}x{height}.png"))
                problems += [f"{path or 'explore'} at {width}x{height}: {found}"
                             for found in page.evaluate(FIND_OVERFLOWS)]
    finally:
        page.set_viewport_size({"width": 1600, "height": 1400})
    assert not problems, "\n".join(problems)


# Counts what the page sends the server over its websocket, and drops it while window.__blockSend is set: with
# nothing reaching the server, no rerun can answer.
HOLD_SENDS = """
window.__sent = 0;
const send = WebSocket.prototype.send;
WebSocket.prototype.send = function (...args) {
  window.__sent += 1;
  if (!window.__blockSend) return send.apply(this, args);
};
"""
FACE = "[data-testid='stImage'] img"
SLIDER = "input[type='range'][aria-label='MID strength lambda']"


@pytest.fixture
def fresh_page(page):
    """A page of its own (a new browser context), at a projector's 1280x720."""
    context = page.context.browser.new_context(viewport={"width": 1280, "height": 720})
    yield context.new_page()
    context.close()


def panel_texts(page) -> tuple[list[str], str]:
    """The metric cards' texts and the sentence under them, as the page shows them."""
    return page.locator(".midlab-card").all_inner_texts(), page.locator(".midlab-sentence").inner_text()


def test_the_slider_swaps_faces_cards_and_sentence_without_the_server(server, fresh_page):
    """Every lambda's faces, metric cards and sentence are in the page: with the websocket held (no rerun can
    happen), a key press on the slider still shows the new lambda's reconstructions, their captions, its cards and
    its sentence within a frame or two; and they are what the server shows at that lambda."""
    page = fresh_page
    lambdas = featured().lambdas  # the sweep Explore opens on, whatever the zoo holds
    before_value, after_value = f"{lambdas[-2]:g}", f"{lambdas[-1]:g}"
    page.add_init_script(HOLD_SENDS)
    page.goto(f"{server}/?lam={before_value}")
    page.locator(FACE).nth(23).wait_for(timeout=60_000)
    page.locator(".midlab-card").nth(3).wait_for(timeout=60_000)
    page.wait_for_selector("[data-testid='stApp'][data-test-script-state='notRunning']", timeout=60_000)
    page.wait_for_load_state("networkidle", timeout=30_000)
    before = reconstruction_sources(page)
    captions = page.locator("[data-testid='stImageCaption']").all_inner_texts()
    cards, sentence = panel_texts(page)
    assert len(cards) == 5 and f"lambda = {before_value} " in sentence  # the judge panel's card last
    page.locator(SLIDER).focus()
    page.evaluate("() => { window.__blockSend = true; window.__sent = 0; }")
    page.keyboard.press("ArrowRight")
    page.wait_for_function(f"() => document.querySelectorAll(\"{FACE}\")[2].src !== {before[2]!r}", timeout=2000)
    page.wait_for_function(f"() => document.querySelector('.midlab-sentence').textContent !== {sentence!r}",
                           timeout=2000)
    after = reconstruction_sources(page)
    assert after[0::3] == before[0::3] and after[1::3] == before[1::3]  # the private photos and lambda = 0 stay
    assert all(a != b and a.startswith("data:image/png") for a, b in zip(after[2::3], before[2::3], strict=True))
    now = page.locator("[data-testid='stImageCaption']").all_inner_texts()
    assert all(c.startswith(f"λ={after_value} ") for c in now[2::3]) and now[2::3] != captions[2::3]
    swapped_cards, swapped_sentence = panel_texts(page)
    assert swapped_cards != cards and f"lambda = {after_value} " in swapped_sentence
    # The slider does ask for a rerun (after its debounce), and that request never leaves the page.
    page.wait_for_function("() => window.__sent >= 1", timeout=10_000)
    page.evaluate("() => { window.__blockSend = false; }")
    # The server, asked for that lambda, shows the same cards and sentence.
    page.goto(f"{server}/?lam={after_value}")
    page.wait_for_selector("[data-testid='stApp'][data-test-script-state='notRunning']", timeout=60_000)
    page.wait_for_function(f"() => (document.querySelector('.midlab-sentence') || {{}}).textContent === "
                           f"{swapped_sentence!r}", timeout=30_000)
    assert panel_texts(page) == (swapped_cards, swapped_sentence)


def test_presenter_first_screen_shows_the_slider_and_the_faces(server, fresh_page):
    """On a projector (presenter mode, 1280x720) the slider and all 24 faces are on the first screen, and the title
    is larger than the body text."""
    page = fresh_page
    page.goto(f"{server}/?presenter=1")
    page.locator(FACE).nth(23).wait_for(timeout=60_000)
    page.wait_for_selector("[data-testid='stApp'][data-test-script-state='notRunning']", timeout=60_000)
    page.wait_for_timeout(500)
    OUTPUT.mkdir(exist_ok=True)
    page.screenshot(path=str(OUTPUT / "explore_presenter_1280x720.png"))
    bottoms = page.locator(f"{FACE}, {SLIDER}").evaluate_all("els => els.map(e => e.getBoundingClientRect().bottom)")
    assert len(bottoms) == 25 and max(bottoms) <= 720, bottoms
    title, body = page.evaluate("""() => [document.querySelector('h1'),
        document.querySelector('[data-testid="stMarkdownContainer"] p')]
        .map(e => parseFloat(getComputedStyle(e).fontSize))""")
    assert title > body


# The bottom of the main block's last element, and the window's height.
CONTENT_BOTTOM = """() => {
  const block = document.querySelector('[data-testid="stMainBlockContainer"] > div');
  return [block.getBoundingClientRect().bottom, window.innerHeight];
}"""


def test_the_arrow_keys_step_the_story_and_every_step_fits_a_projector(server, fresh_page):
    page = fresh_page
    OUTPUT.mkdir(exist_ok=True)
    open_page(page, f"{server}/story?step=1")
    title = page.locator("[data-testid='stMainBlockContainer'] h1").first
    assert title.inner_text().startswith("1. ")
    title.click()  # the keys go to the page, not to a control
    page.keyboard.press("ArrowRight")
    page.wait_for_url("**step=2**", timeout=10_000)
    page.wait_for_function("() => document.querySelector('h1').innerText.startsWith('2. ')", timeout=10_000)
    page.wait_for_selector(".st-key-story-prev button:not([disabled])", timeout=10_000)  # drawn after the title
    page.keyboard.press("ArrowLeft")
    page.wait_for_url("**step=1**", timeout=10_000)
    page.wait_for_function("() => document.querySelector('h1').innerText.startsWith('1. ')", timeout=10_000)
    too_tall = []
    for presenter in ("", "&presenter=1"):
        for step in range(1, 9):
            open_page(page, f"{server}/story?step={step}{presenter}")
            page.wait_for_timeout(300)
            page.screenshot(path=str(OUTPUT / f"story_step{step}{'_presenter' if presenter else ''}_1280x720.png"))
            bottom, height = page.evaluate(CONTENT_BOTTOM)
            if bottom > height:
                too_tall.append(f"step {step}{presenter}: content ends at {bottom:.0f} px of {height}")
    assert not too_tall, "\n".join(too_tall)
