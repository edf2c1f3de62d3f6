"""MID Lab's engine: configs, data, models, attacks, the store and the command line; never imports streamlit."""

from core import interrupts  # noqa: F401  -- `python -m core`: Ctrl-C from the first moment (core/interrupts.py)
