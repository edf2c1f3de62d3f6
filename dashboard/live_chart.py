"""A Plotly chart that redraws in place, for the plots that follow the lambda slider.

st.plotly_chart gives a chart whose figure changed a new element id, so the browser builds a new plot from
scratch on every lambda change (a remount, about 0.3 s in headless Chromium on 2 cores). This component keeps
one plot and hands each new figure to Plotly.react, which redraws only what changed (about 30 ms). plotly.js
is the installed plotly package's own, served by Streamlit's static file serving (`.streamlit/config.toml`);
where that is off or the file cannot be put in place, the page falls back to st.plotly_chart."""

import shutil
from collections.abc import Callable
from pathlib import Path

import plotly
import plotly.graph_objects as go
import streamlit as st

STATIC_DIR = Path(__file__).resolve().parent / "static"  # served at <base>/app/static/ by Streamlit
PLOTLY_JS = STATIC_DIR / "plotly.min.js"

_JS = """
let loading = null;
function plotlyJs(src) {
  if (window.Plotly) return Promise.resolve(window.Plotly);
  if (!loading) {
    loading = new Promise((resolve, reject) => {
      const script = document.createElement('script');
      script.src = src;
      script.onload = () => resolve(window.Plotly);
      script.onerror = () => { loading = null; reject(new Error('cannot load ' + src)); };
      document.head.appendChild(script);
    });
  }
  return loading;
}

// Instant feedback: the highlight follows the slider the moment it moves, before the server has rerun the
// page (Streamlit sends a slider's value after a short debounce). The server's next figure then agrees.
function follow(plot, Plotly, ring) {
  if (plot.midlabObserver) plot.midlabObserver.disconnect();
  if (!ring) return;
  // The slider's element may be replaced when the page redraws: watch the document for it, not one node.
  plot.midlabObserver = new MutationObserver((changes) => {
    if (!plot.isConnected) {  // the page changed and the plot is gone: stop watching
      plot.midlabObserver.disconnect();
      return;
    }
    for (const change of changes) {
      if (change.target.getAttribute('aria-label') !== ring.slider) continue;
      const value = change.target.getAttribute('aria-valuetext');
      const point = ring.points[value];
      if (!point || value === plot.midlabShown) continue;  // React re-sets the attribute on every redraw
      plot.midlabShown = value;
      Plotly.restyle(plot, {x: [[point[0]]], y: [[point[1]]], text: [['λ=' + value]]}, [ring.trace]);
    }
  });
  plot.midlabObserver.observe(document.body, {subtree: true, attributes: true, attributeFilter: ['aria-valuetext']});
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
    plot.midlabShown = data.ring && data.ring.shown;
    follow(plot, window.Plotly, data.ring);
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
                     "ring": ring},
               key=key, height=figure.layout.height or 450, **callbacks)
