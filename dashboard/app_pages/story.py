"""Story: the lesson in eight screens for a projector, told from the stored results (core/story.py writes the
words). The step is in the URL (?step=3); left/right arrow keys, Page Up/Down (a presenter's clicker) and the
buttons step through it."""

import numpy as np
import streamlit as st

from core.errors import DataError, GalleryError
from core.figures import ATTACK_NAMES
from core.gallery import attack_siblings
from core.images import tile
from core.story import DEFAULT_PEOPLE, attack_of, featured_index, short_names, story_steps
from dashboard import loaders
from dashboard.charts import spread_figure, tradeoff_figure
from dashboard.state import lambda_text
from dashboard.text import plain

# Arrow keys click the step buttons, unless the key goes to a control (a slider, a text field). One listener per
# browser tab, installed on the first visit; on other pages it finds no step button and does nothing.
_KEYS_JS = """
export default function () {
  if (window.midlabStoryKeys) return;
  window.midlabStoryKeys = true;
  document.addEventListener('keydown', (event) => {
    if (event.altKey || event.ctrlKey || event.metaKey || event.shiftKey) return;
    const which = {ArrowRight: 'next', PageDown: 'next', ArrowLeft: 'prev', PageUp: 'prev'}[event.key];
    const target = event.target;
    if (!which || (target.closest && target.closest('input, textarea, select, [role="slider"], [contenteditable]'))) {
      return;
    }
    const button = document.querySelector('.st-key-story-' + which + ' button');
    if (button && !button.disabled) {
      event.preventDefault();
      button.click();
    }
  });
}
"""
_keys = st.components.v2.component("midlab.story_keys", js=_KEYS_JS)


def step_from_url(count: int) -> int:
    """The step (1-based) the URL names; a missing or absurd one is the first, with a notice for the absurd."""
    value = st.query_params.get("step", "1")
    try:
        step = int(value)
    except ValueError:
        step = 0
    if not 1 <= step <= count:
        st.toast(f"Ignored step={plain(repr(value))} from the link: the story has steps 1 to {count}.")
        step = 1
    return step


def go(step: int) -> None:
    st.query_params["step"] = str(step)


def faces_image(rows: list[np.ndarray], scale: int = 3) -> np.ndarray:
    """Rows of faces (each uint8 (N, H, W)) stacked into one image, one row per entry (a shorter one padded), enlarged
    `scale` times (the browser draws an image no wider than its pixels)."""
    tiles = [tile(row, columns=len(row)) for row in rows]
    width = max(t.shape[1] for t in tiles)
    image = np.concatenate([np.pad(t, ((0, 0), (0, width - t.shape[1]))) for t in tiles])
    return image.repeat(scale, axis=0).repeat(scale, axis=1)


def picture(step, sweep, siblings) -> None:
    """The step's picture, from the featured sweep; what cannot be drawn here is said, not drawn."""
    people = list(range(min(DEFAULT_PEOPLE, len(sweep.names))))
    names = " · ".join(plain(short_names(sweep.names)[label]) for label in people)
    if step.picture in ("originals", "attack"):
        shown = {}
        try:
            shown["private photos"] = loaders.sweep_originals(sweep)[0]
        except DataError as error:
            st.warning(f"The private photos are read from the dataset, which is not available here: {plain(error)}")
        if step.picture == "attack":
            judged = sweep.run(step.lambdas[0]).attack.per_identity
            verdicts = " ".join("✓" if judged[label].top1 else "✗" for label in people)
            shown[f"reconstructions (the judge: {verdicts})"] = loaders.reconstructions(sweep, step.lambdas[0])
        if shown:  # half the people per row, each row of photos above its row of reconstructions: larger faces
            halves = [people[:(len(people) + 1) // 2], people[(len(people) + 1) // 2:]]
            rows = [faces[half] for half in halves if half for faces in shown.values()]
            st.image(faces_image(rows), caption=f"{names}: {', under them '.join(shown)}", width="stretch")
    elif step.picture == "spread":
        figure = spread_figure(sweep, step.lambdas[0])
        if figure is not None:
            st.plotly_chart(figure.update_layout(height=360), width="stretch", key="story_spread")
    elif step.picture == "faces":
        rows = [loaders.reconstructions(sweep, value)[people] for value in step.lambdas]
        st.image(faces_image(rows), width="stretch",
                 caption=f"{names}: one row per lambda ({', '.join(lambda_text(v) for v in step.lambdas)})")
    elif step.picture == "attacks":
        others = [(ATTACK_NAMES[attack_of(s.typed)], s.typed.summary) for s in siblings]
        figure = tradeoff_figure(sweep.typed.summary, step.lambdas[0], name=ATTACK_NAMES[attack_of(sweep.typed)],
                                 others=others, config=sweep.typed.settings)
        st.plotly_chart(figure.update_layout(height=400), width="stretch", key="story_attacks")


sweeps = loaders.require_sweeps()
featured = sweeps[featured_index([s.typed for s in sweeps])]
siblings = attack_siblings(featured, sweeps)
steps = story_steps(featured.typed, [s.typed for s in siblings], [s.typed for s in sweeps],
                    [results for _, results in loaders.comparisons()],
                    [results for _, results in loaders.studies()])
number = step_from_url(len(steps))
step = steps[number - 1]

st.title(step.title)
text, pictured = st.columns(2, gap="large") if step.picture != "none" else (st.container(), None)
with text:
    st.markdown(step.text)
    if step.missing:
        st.info(step.missing)
if pictured is not None:
    # A picture takes at most half the screen's height, so that every step fits one screen (a projector's 720 px).
    st.html("<style>.st-key-story-picture [data-testid='stImage'] img { max-height: 50vh; object-fit: contain; }"
            "</style>")
    with pictured.container(key="story-picture"):
        try:
            picture(step, featured, siblings)
        except GalleryError as error:
            st.error(plain(error))

back, where, forward = st.columns([1, 4, 1], vertical_alignment="center")
back.button("Back", key="story-prev", icon=":material/arrow_back:", disabled=number == 1, on_click=go,
            args=(number - 1,), width="stretch")
where.caption(f"Story, step {number} of {len(steps)} · the arrow keys step too · every figure is read from the "
              f"stored results ({featured.typed.data.dataset.upper()}, "
              f"{ATTACK_NAMES[attack_of(featured.typed)]}, {featured.origin})")
forward.button("Next", key="story-next", icon=":material/arrow_forward:", disabled=number == len(steps), on_click=go,
               args=(number + 1,), width="stretch")
st.html("<style>.st-key-story-keys { display: none; }</style>")  # the key listener draws nothing
with st.container(key="story-keys"):
    _keys(key="keys")
