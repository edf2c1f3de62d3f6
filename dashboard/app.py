"""MID Lab dashboard entry point: `python -m streamlit run dashboard/app.py` (or `make run`)."""

import sys
from pathlib import Path

import streamlit as st

# `streamlit run dashboard/app.py` puts only dashboard/ on sys.path; the engine lives beside it in core/.
ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# Presenter mode (?presenter=1): larger type, no sidebar, no header bar, no developer menu, for a projector; the
# title above the body text, captions smaller than it, and little padding, so a page's first screen holds more.
PRESENTER_CSS = """
<style>
html, body, [class*="st-"] { font-size: 1.25rem; }
h1, h1 * { font-size: 2.2rem !important; line-height: 1.2 !important; }
[data-testid="stCaptionContainer"], [data-testid="stCaptionContainer"] *, [data-testid="stImageCaption"],
[data-testid="stImageCaption"] * { font-size: 0.85rem !important; }
[data-testid="stMainBlockContainer"] { padding: 1rem 2rem 3rem !important; }
[data-testid="stVerticalBlock"] { gap: 0.5rem; }
.st-key-explore-faces [data-testid="stImage"] img { max-height: 15vh; object-fit: contain; }
[data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"], [data-testid="stToolbar"],
[data-testid="stHeader"],
[data-testid="stMainMenu"], #MainMenu { display: none !important; }
</style>
"""

presenter = st.query_params.get("presenter") == "1"
st.set_page_config(page_title="MID Lab", page_icon=":material/visibility:", layout="wide",
                   initial_sidebar_state="collapsed" if presenter else "auto")
if presenter:
    st.html(PRESENTER_CSS)
pages = [
    st.Page("app_pages/explore.py", title="Explore", icon=":material/face:", default=True),
    st.Page("app_pages/story.py", title="Story", icon=":material/slideshow:"),
    st.Page("app_pages/train.py", title="Train", icon=":material/model_training:"),
    st.Page("app_pages/attack_lab.py", title="Attack lab", icon=":material/science:"),
    st.Page("app_pages/results.py", title="Results table", icon=":material/table_chart:"),
    st.Page("app_pages/compare.py", title="Compare defenses", icon=":material/balance:"),
    st.Page("app_pages/findings.py", title="Findings", icon=":material/fact_check:"),
    st.Page("app_pages/learn.py", title="Learn", icon=":material/school:"),
]
st.navigation(pages, position="hidden" if presenter else "sidebar").run()
