"""What follows the lambda slider in the browser, before the server reruns the page: a Plotly chart that redraws
in place; the shown faces, swapped for those of the slider's new lambda; the metric cards and the sentence under
them, drawn by the component for the slider's lambda.

st.plotly_chart gives a chart whose figure changed a new element id, so the browser builds a new plot from
scratch on every lambda change (a remount, about 0.3 s in headless Chromium on 2 cores). This component keeps
one plot and hands each new figure to Plotly.react, which redraws only what changed (about 30 ms). plotly.js
is the installed plotly package's own, served by Streamlit's static file serving (`.streamlit/config.toml`);
where that is off or the file cannot be put in place, the page falls back to st.plotly_chart.

The faces, cards and sentences of every lambda are sent once (their data does not change with lambda, so
Streamlit's message cache sends it again only as a reference) and swapped in the moment the slider moves."""

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import plotly
import plotly.graph_objects as go
import streamlit as st

STATIC_DIR = Path(__file__).resolve().parent / "static"  # served at <base>/app/static/ by Streamlit
PLOTLY_JS = STATIC_DIR / "plotly.min.js"

# Calls onValue(the value text) whenever the slider labelled `label` shows a value, at once: Streamlit sends a
# slider's value to the server only after a short debounce. The slider's element may be replaced when the page
# redraws: the document is watched, not one node. One observer per owner, replaced on each call.
_WATCH_SLIDER_JS = """
function watchSlider(owner, label, onValue) {
  if (owner.midlabObserver) owner.midlabObserver.disconnect();
  owner.midlabObserver = new MutationObserver((changes) => {
    if (!owner.isConnected) {  // the page changed and the owner is gone: stop watching
      owner.midlabObserver.disconnect();
      return;
    }
    for (const change of changes) {
      if (change.target.getAttribute('aria-label') === label) onValue(change.target.getAttribute('aria-valuetext'));
    }
  });
  owner.midlabObserver.observe(document.body, {subtree: true, attributes: true, attributeFilter: ['aria-valuetext']});
}
"""

_JS = _WATCH_SLIDER_JS + """
// plotly.js is 4.8 MB of script to parse: it is fetched once the browser is first idle, so that what is above the
// charts (the faces, the cards and the sentence) is drawn first.
function idle() {
  return new Promise((resolve) => (window.requestIdleCallback ? requestIdleCallback(resolve, {timeout: 2000})
    : setTimeout(resolve, 0)));
}

let loading = null;
function plotlyJs(src) {
  if (window.Plotly) return Promise.resolve(window.Plotly);
  if (!loading) {
    loading = idle().then(() => new Promise((resolve, reject) => {
      const script = document.createElement('script');
      script.src = src;
      script.onload = () => resolve(window.Plotly);
      script.onerror = () => { loading = null; reject(new Error('cannot load ' + src)); };
      document.head.appendChild(script);
    }));
  }
  return loading;
}

// Instant feedback: the highlight follows the slider the moment it moves, before the server has rerun the
// page. The server's next figure then agrees.
function follow(plot, Plotly, ring) {
  if (!ring) {
    if (plot.midlabObserver) plot.midlabObserver.disconnect();
    return;
  }
  watchSlider(plot, ring.slider, (value) => {
    const point = ring.points[value];
    if (!point || value === plot.midlabShown) return;  // React re-sets the attribute on every redraw
    plot.midlabShown = value;
    Plotly.restyle(plot, {x: [[point[0]]], y: [[point[1]]], text: [['λ=' + value]]}, [ring.trace]);
  });
}

export default function (component) {
  const { data, parentElement, setTriggerValue } = component;
  let plot = parentElement.querySelector('div.midlab-live-plot');
  if (!plot) {
    plot = document.createElement('div');
    plot.className = 'midlab-live-plot';
    parentElement.appendChild(plot);
  }
  plot.midlabPick = setTriggerValue;
  // One draw at a time: a newer figure waits for the previous draw, so draws never interleave.
  plot.midlabQueue = (plot.midlabQueue || Promise.resolve()).then(() => plotlyJs(data.src)).then((Plotly) => {
    const figure = JSON.parse(data.figure);
    return Plotly.react(plot, figure.data, figure.layout, {displaylogo: false, responsive: true});
  }).then(() => {
    const ring = data.ring && JSON.parse(data.ring);
    plot.midlabShown = ring && ring.shown;
    follow(plot, window.Plotly, ring);
    if (!plot.midlabBound) {
      plot.midlabBound = true;
      plot.on('plotly_click', (event) => {
        const point = event.points && event.points[0];
        if (point && point.customdata !== undefined && point.customdata !== null) {
          plot.midlabPick('picked', point.customdata);
        }
      });
    }
  }).catch((error) => {
    plot.textContent = 'The plot could not be drawn: ' + error.message;
  });
}
"""


@st.cache_resource(max_entries=1, show_spinner=False)
def plotly_js_served() -> bool:
    """Whether the browser can load plotly.js from this server: static serving is on and the installed plotly's
    plotly.min.js is in dashboard/static (copied there once per server, atomically, when missing or stale)."""
    if not st.get_option("server.enableStaticServing"):
        return False
    source = Path(plotly.__file__).resolve().parent / "package_data" / "plotly.min.js"
    try:
        if not PLOTLY_JS.is_file() or PLOTLY_JS.stat().st_size != source.stat().st_size:
            STATIC_DIR.mkdir(exist_ok=True)
            partial = PLOTLY_JS.with_suffix(".partial")
            shutil.copyfile(source, partial)
            partial.replace(PLOTLY_JS)
    except OSError:
        return False
    return True


# A component's data holds only text: Streamlit looks for a dataframe in every other value of its first level,
# which imports pandas and pyarrow (about a second of the first render under load).
_live_plot = st.components.v2.component("midlab.live_plot", js=_JS, isolate_styles=False)


def live_plotly_chart(figure: go.Figure, figure_json: str, key: str, on_pick: Callable[[], None] | None = None,
                      ring: dict | None = None) -> None:
    """Draw `figure` (its JSON given, as it is cached) so that a new figure updates the plot in place; with
    `on_pick`, a click on a point with customdata calls it, and it finds the value in
    st.session_state[key]['picked']. `ring` makes trace `ring['trace']` follow the slider labelled
    `ring['slider']` in the browser: {'slider': aria-label, 'trace': index, 'shown': the slider value text it
    shows now, 'points': {value text: [x, y]}}."""
    selection = {"on_select": on_pick, "selection_mode": "points"} if on_pick else {}
    if not plotly_js_served():
        st.plotly_chart(figure, key=key, width="stretch", **selection)
        return
    base = st.get_option("server.baseUrlPath").strip("/")
    callbacks = {"on_picked_change": on_pick} if on_pick else {}
    _live_plot(data={"figure": figure_json, "src": f"{'/' + base if base else ''}/app/static/plotly.min.js",
                     "ring": None if ring is None else json.dumps(ring)},
               key=key, height=figure.layout.height or 450, **callbacks)


_FACES_JS = _WATCH_SLIDER_JS + """
// Put `text` into an element's only text node, keeping the node React rendered (React updates it in place later).
function setText(element, text) {
  if (!element) return;
  const walker = document.createTreeWalker(element, NodeFilter.SHOW_TEXT);
  const node = walker.nextNode();
  if (node && !walker.nextNode() && node.nodeValue !== text) node.nodeValue = text;
}

function swapFaces(data, value) {
  const sources = data.sources[value];
  if (!sources) return;
  data.targets.forEach((target, i) => {
    const box = document.querySelector('.st-key-' + target);
    if (!box) return;
    const image = box.querySelector('img');
    if (image && image.getAttribute('src') !== sources[i]) image.setAttribute('src', sources[i]);
    setText(box.querySelector("[data-testid='stImageCaption']"), data.captions[value][i]);
  });
}

function element(tag, className, parent) {
  const made = document.createElement(tag);
  made.className = className;
  parent.appendChild(made);
  return made;
}

// The cards and the sentence of one lambda, drawn in the component's own element (texts set as text, never HTML).
function showPanel(root, panel) {
  let box = root.querySelector('div.midlab-panel');
  if (!box) {
    box = element('div', 'midlab-panel', root);
    element('div', 'midlab-cards', box);
    element('p', 'midlab-sentence', box);
  }
  const row = box.querySelector('.midlab-cards');
  if (row.children.length !== panel.cards.length) {  // a lambda another judge scored has no panel card
    row.replaceChildren();
    panel.cards.forEach(() => {
      const card = element('div', 'midlab-card', row);
      ['midlab-card-label', 'midlab-card-value', 'midlab-card-delta'].forEach((name) => element('div', name, card));
    });
  }
  row.querySelectorAll('.midlab-card').forEach((card, i) => {
    const shown = panel.cards[i];
    card.title = shown.help;
    card.querySelector('.midlab-card-label').textContent = shown.label;
    card.querySelector('.midlab-card-value').textContent = shown.value;
    const delta = card.querySelector('.midlab-card-delta');
    delta.textContent = shown.delta === null ? '' : (shown.delta.startsWith('-') ? '↓ ' : '↑ ') + shown.delta;
    delta.dataset.colour = shown.colour || '';
  });
  const sentence = box.querySelector('.midlab-sentence');
  sentence.textContent = panel.sentence || '';
  sentence.hidden = !panel.sentence;
}

export default function (component) {
  const { parentElement } = component;
  if (parentElement.midlabJson !== component.data.json) {  // decoded once, so that a swap shows at once
    parentElement.midlabJson = component.data.json;
    parentElement.midlabData = JSON.parse(component.data.json);
    parentElement.midlabPanel = undefined;  // another sweep's panels: draw them again
    parentElement.midlabPreloaded = Object.values(parentElement.midlabData.sources).flat().map((src) => {
      const image = new Image();
      image.src = src;
      return image;
    });
  }
  const data = parentElement.midlabData;
  const show = (value) => {  // the panel of a value, drawn once per value shown
    if (!data.panels[value] || (value === parentElement.midlabPanel &&
                                parentElement.querySelector('div.midlab-panel'))) return;
    parentElement.midlabPanel = value;
    showPanel(parentElement, data.panels[value]);
  };
  // The faces are swapped only when the slider shows another value: React re-sets the attribute on every redraw,
  // and the server's own images (which then agree) must not be swapped back. The panel is the component's own:
  // it always shows the slider's value, which after the server's rerun is the server's lambda.
  const showPanelOfSlider = (frames) => {  // the slider is drawn before this component; wait a few frames if not yet
    const slider = document.querySelector(`[aria-label="${data.slider}"][aria-valuetext]`);
    if (!slider) {
      if (frames > 0) requestAnimationFrame(() => showPanelOfSlider(frames - 1));
      return;
    }
    const value = slider.getAttribute('aria-valuetext');
    if (parentElement.midlabShown === undefined) parentElement.midlabShown = value;
    show(value);
  };
  showPanelOfSlider(120);
  watchSlider(parentElement, data.slider, (moved) => {
    show(moved);
    if (moved === parentElement.midlabShown) return;
    parentElement.midlabShown = moved;
    swapFaces(data, moved);
  });
}
"""

_FACES_CSS = """
.midlab-cards { display: grid; grid-auto-flow: column; grid-auto-columns: minmax(0, 1fr); gap: 1rem; }
.midlab-card { border: 1px solid rgba(49, 51, 63, 0.2); border-radius: 0.5rem; padding: 0.75rem 1rem;
  cursor: help; min-width: 0; }
.midlab-card-label { font-size: 0.875rem; }
.midlab-card-value { font-size: 2.25rem; line-height: 1.3; }
.midlab-card-delta { font-size: 0.875rem; min-height: 1.3em; }
.midlab-card-delta[data-colour="green"] { color: rgb(9, 171, 59); }
.midlab-card-delta[data-colour="red"] { color: rgb(255, 43, 43); }
.midlab-card-delta[data-colour="gray"] { color: rgba(49, 51, 63, 0.6); }
.midlab-sentence { margin: 0.75rem 0 0; }
"""

_live_faces = st.components.v2.component("midlab.live_faces", js=_FACES_JS, css=_FACES_CSS, isolate_styles=False)


def live_faces(slider: str, targets: list[str], sources: dict[str, list[str]], captions: dict[str, list[str]],
               panels: dict[str, dict], key: str) -> None:
    """Follow the slider labelled `slider` in the browser: the image in the container keyed targets[i]
    (st.container(key=...)) gets sources[value][i] and its caption captions[value][i], and the component draws
    panels[value] (dashboard.lambda_cards: the metric cards and the sentence), where value is the slider's value
    text. Its data must not change with the slider's value, so that it is sent once (Streamlit's message cache
    then sends it as a reference)."""
    _live_faces(data={"json": json.dumps({"slider": slider, "targets": targets, "sources": sources,
                                          "captions": captions, "panels": panels})}, key=key)
