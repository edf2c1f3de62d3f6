"""MID Lab dashboard entry point: `python -m streamlit run dashboard/app.py` (or `make run`)."""

import sys
from pathlib import Path

import streamlit as st

# `streamlit run dashboard/app.py` puts only dashboard/ on sys.path; the engine lives beside it in core/.
ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

st.set_page_config(page_title="MID Lab", page_icon=":material/visibility:", layout="wide")
pages = [st.Page("app_pages/results.py", title="Sweep results", icon=":material/table_chart:", default=True)]
st.navigation(pages).run()
