"""Text that MID Lab does not write itself (names of identity folders, values from a link, paths, error messages
that quote them) shown as plain text.

Streamlit renders the text of st.markdown, st.toast, st.warning, st.error, st.info, captions and image captions
as Markdown, and Plotly renders a trace's name as HTML: a folder or a link value such as `[prize](https://...)`
or `![x](https://.../pixel.png)` would otherwise become a link or a remote image inside MID Lab's own notice.
"""

import html
import re
import string

_MARKDOWN = re.compile(f"([{re.escape(string.punctuation)}])")


def plain(value: object) -> str:
    """`value` as text that Markdown shows exactly as written (whitespace runs, newlines included, become one
    space): every ASCII punctuation character, the only ones Markdown gives a meaning, is backslash-escaped."""
    return _MARKDOWN.sub(r"\\\1", " ".join(str(value).split()))


def plain_html(value: object) -> str:
    """`value` as text that Plotly's labels (a subset of HTML: links, bold, line breaks) show as written."""
    return html.escape(" ".join(str(value).split()))
