"""The Explore page's controls and their state in the URL, so that a link reproduces a screen.

URL values are only ever compared with known options (never used as paths); an unknown one is ignored
with a notice, which shows it as plain text. The people shown are one `ids` parameter per person
(`?ids=s1&ids=s10`), so a name may hold any character; a comma-separated `ids` of older links still works.
"""

import math

import streamlit as st

from core.attack_config import ATTACKS
from core.errors import ConfigError
from core.gallery import Sweep
from core.limits import parse_number
from core.story import DEFAULT_PEOPLE, default_lambda, featured_index
from dashboard.text import plain

URL_KEYS = ("sweep", "data", "attack", "view", "lam", "ids")
VIEW_HELP = ("How the attacker queries a MID model: a fresh random code z on every query (sample, as deployed), "
             "the average of several samples (mean), or the code's mean mu (a white-box attacker).")


def _from_url_once() -> None:
    """Copy the URL's values into the session on the first run of a session."""
    if st.session_state.get("_url_read"):
        return
    st.session_state["_url_read"] = True
    params = st.query_params
    for key in ("sweep", "data", "attack", "view"):
        if key in params:
            st.session_state[f"_url_{key}"] = params[key]
    if "lam" in params:
        try:
            st.session_state["_url_lam"] = parse_number(params["lam"])
        except ConfigError:
            st.toast(f"Ignored lam={plain(repr(params['lam']))} from the link: not a number.")
    if "ids" in params:
        st.session_state["_url_ids"] = params.get_all("ids")


def people_from_link(values: list[str], names: list[str]) -> tuple[list[str], list[str]]:
    """The known people a link names, each once and in the link's order, and the values naming no one. A value
    is a name; one that is not, but holds commas, is an older link's comma-separated list (a name with a comma
    in it is taken whole)."""
    known, unknown = set(names), []
    wanted: list[str] = []
    for value in values:
        for name in [value] if value in known or "," not in value else value.split(","):
            if name in known:
                wanted.append(name)
            elif name:
                unknown.append(name)
    return list(dict.fromkeys(wanted)), list(dict.fromkeys(unknown))


def settle_choice(key: str, wanted: str | None, options: list[str], param: str) -> None:
    """Set a control's state to `wanted` (from a link) when it is one of the options, else say it was ignored;
    a state that is not an option falls back to the first one."""
    if wanted is not None:
        if wanted in options:
            st.session_state[key] = wanted
        else:
            st.toast(f"Ignored {param}={plain(repr(wanted))} from the link: not one of {plain(', '.join(options))}.")
    if st.session_state.get(key) not in options:
        st.session_state[key] = options[0]


def _choose(label: str, options: list[str], key: str, help_text: str) -> str:
    settle_choice(key, st.session_state.pop(f"_url_{key}", None), options, key)
    return st.sidebar.selectbox(label, options, key=key, help=help_text)


def _setting(sweep: Sweep) -> dict[str, str]:
    attack = sweep.typed.settings.attack
    return {"data": sweep.typed.data.dataset, "attack": attack.attack, "view": attack.view, "sweep": sweep.key}


def pick_sweep(sweeps: list[Sweep]) -> Sweep:
    """Dataset, attack and view selectors over what is stored; a fourth selector when several sweeps match. A
    session starts on core.story.FEATURED's sweep (GMI, on LFW when it is stored)."""
    _from_url_once()
    if "sweep" not in st.session_state:
        st.session_state.update(_setting(sweeps[featured_index([s.typed for s in sweeps])]))
    wanted_key = st.session_state.pop("_url_sweep", None)
    by_key = {s.key: s for s in sweeps}
    # A link to a results file that has since joined a sweep (core.gallery.join_sweeps) opens that sweep.
    joined = {member: s for s in reversed(sweeps) for member in s.member_keys} | by_key
    if wanted_key is not None and wanted_key not in joined:
        st.toast(f"Ignored sweep={plain(repr(wanted_key))} from the link: no such results here.")
    elif wanted_key is not None:
        st.session_state.update({f"_url_{k}": v for k, v in _setting(joined[wanted_key]).items() if k != "sweep"})
        st.session_state["sweep"] = joined[wanted_key].key
    datasets = list(dict.fromkeys(_setting(s)["data"] for s in sweeps))
    dataset = _choose("Dataset", datasets, "data", "Whose private photos the models were trained on.")
    sweeps = [s for s in sweeps if _setting(s)["data"] == dataset]
    stored = {_setting(s)["attack"] for s in sweeps}
    attack = _choose("Attack", [name for name in ATTACKS if name in stored], "attack",
                     "The model inversion attack whose reconstructions are shown: MI-Face paints pixels by the "
                     "model's gradients; GMI searches a face generator trained on other people's photos; the "
                     "inversion network decodes the model's output probabilities (black-box).")
    views = sorted({_setting(s)["view"] for s in sweeps if _setting(s)["attack"] == attack})
    view = _choose("Attacker's view", views, "view", VIEW_HELP)
    keys = [s.key for s in sweeps if _setting(s)["attack"] == attack and _setting(s)["view"] == view]
    if st.session_state.get("sweep") not in keys:
        st.session_state["sweep"] = keys[0]
    if len(keys) > 1:
        st.sidebar.selectbox("Results", keys, key="sweep", format_func=lambda k: by_key[k].label,
                             help="Several sweeps match: the shipped zoo and your own runs.")
    return by_key[st.session_state["sweep"]]


LAMBDA_SLIDER = "MID strength lambda"


def lambda_text(value: float) -> str:
    """A lambda as the slider shows it."""
    return f"{value:g}"


def pick_lambda(sweep: Sweep) -> float:
    """The lambda slider, snapped to the sweep's grid (a value from a link or another sweep moves to the nearest)."""
    grid = sweep.lambdas
    wanted = st.session_state.pop("_url_lam", st.session_state.get("lam", default_lambda(sweep.typed)))
    if wanted not in grid:
        wanted = min(grid, key=lambda v: abs(math.log10(v + 1e-6) - math.log10(max(wanted, 0) + 1e-6)))
    st.session_state["lam"] = wanted
    return st.select_slider(
        LAMBDA_SLIDER, options=grid, key="lam", format_func=lambda_text,
        help="The weight of the KL term: 0 is an ordinary classifier, larger squeezes more information out of "
             "the model's code z. The slider snaps to the models that were trained.")


def pick_identities(sweep: Sweep, default: int = DEFAULT_PEOPLE) -> list[str]:
    """The people whose faces are shown; by default the first ones by name (core.story.DEFAULT_PEOPLE)."""
    names = sweep.names
    values = st.session_state.pop("_url_ids", None)
    if values is not None:
        wanted, unknown = people_from_link(values, names)
        if unknown:
            st.toast(f"Ignored unknown people from the link: {'; '.join(plain(name) for name in unknown[:5])}.")
        st.session_state["ids"] = wanted[:12] or names[:default]
    if not st.session_state.get("ids") or any(name not in names for name in st.session_state["ids"]):
        st.session_state["ids"] = names[:default]
    return st.sidebar.multiselect("People", names, key="ids", max_selections=12,
                                  help="Whose faces to show (up to 12); the metrics cover everyone.")


def write_url(sweep: Sweep, mid_lambda: float, identities: list[str]) -> None:
    """Mirror the screen into the URL, keeping other parameters (such as presenter mode)."""
    values = {"sweep": [sweep.key], "data": [st.session_state["data"]], "attack": [st.session_state["attack"]],
              "view": [st.session_state["view"]], "lam": [f"{mid_lambda:g}"], "ids": identities}
    for key, value in values.items():
        if st.query_params.get_all(key) != value:
            st.query_params[key] = value


def lambda_from_chart() -> None:
    """Clicking a point of the tradeoff plot selects its lambda: the live chart reports the point's customdata
    as 'picked'; st.plotly_chart, its fallback, as a selection of points."""
    state = st.session_state["tradeoff"]
    points = (state.get("selection") or {}).get("points", [])
    picked = [value for value in [state.get("picked"), *(p.get("customdata") for p in points)] if value is not None]
    if picked:
        st.session_state["lam"] = float(picked[0])
