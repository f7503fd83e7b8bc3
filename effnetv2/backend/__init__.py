"""The app's back end, free of Gradio: one module per tab or concern. ``app.py`` only lays out and wires.

- :mod:`.limits`: the engine's bounds narrowed for a small server, upload/queue/session limits.
- :mod:`.torch_thread`: the one long-lived thread all torch work runs on.
- :mod:`.uploads`: the app's temporary folder: disk and age budget, the upload gate, removal at shutdown.
- :mod:`.strings`: interface strings (EN / zh-CN) and language negotiation.
- :mod:`.classify`: the Classify tab (inference paths, top-k, Grad-CAM, missing-weights notice).
- :mod:`.latency`: the Latency tab.
- :mod:`.lab`: the MBConv vs Fused-MBConv lab (presets, toggles, stage table, comparison).
- :mod:`.walkthrough`, :mod:`.walkthrough_text`: the paper walkthrough's measurements and its prose.
- :mod:`.charts`, :mod:`.diagrams`: plotly figures from typed results and from the block classes.

Every function takes plain values and returns plain or typed values, so the tests and other front ends call
exactly what the browser calls. Bad input raises an ``EffNetV2Error`` with a one-line message.
"""
