"""Smoke test of the browser harness itself (no ChatZoo code): Lab opens a notebook, the kernel runs cells, a
plain output and an ipywidgets slider render. Fails fast when the harness rather than the widget is broken."""

import sys

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


@pytest.mark.timeout(90, method="signal")
def test_lab_runs_cells_and_renders_ipywidgets(open_notebook):
    page = open_notebook(
        ["import os, sys\nprint('harness-ok', os.environ['HF_HUB_OFFLINE'], sys.executable)",
         "import ipywidgets\nipywidgets.IntSlider(value=7, description='smoke')"],
        wait_widget=False)
    out = page.locator(".jp-OutputArea-output").filter(has_text="harness-ok")
    expect(out).to_contain_text("harness-ok 1", timeout=10_000)
    expect(out).to_contain_text(sys.executable, timeout=10_000)  # the kernel runs this interpreter
    slider = page.locator(".jp-OutputArea-output .widget-slider")
    expect(slider).to_be_visible(timeout=15_000)
    expect(slider.locator(".widget-readout")).to_have_text("7", timeout=10_000)
