"""The reproducibility manifest: model as named, checkpoint, hub revision, loading, settings, seed, versions."""

from __future__ import annotations

import json
import shutil

import pytest

from chatzoo_widget import ChatZooWidget, RemoteChatBOT
from chatzoo_widget.compare import comparison_document, export, hub_revision, manifest
from chatzoo_widget.manager import ChatManager
from chatzoo_widget.testing import ScriptedBOT, wait_until

REVISION = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture(scope="module")
def hub_cache(tmp_path_factory, tiny_chat_dir):
    """A Hugging Face cache holding the tiny chat model as org/tiny-chat at REVISION."""
    root = tmp_path_factory.mktemp("hub")
    repo = root / "models--org--tiny-chat"
    shutil.copytree(tiny_chat_dir, repo / "snapshots" / REVISION)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(REVISION)
    return root


def test_hub_revision_from_a_snapshot_folder_and_from_a_cached_hub_id(hub_cache, tmp_path):
    snapshot = hub_cache / "models--org--tiny-chat" / "snapshots" / REVISION
    assert hub_revision(str(snapshot)) == REVISION
    assert hub_revision("org/tiny-chat", cache_dir=hub_cache) == REVISION
    assert hub_revision("org/not-cached", cache_dir=hub_cache) is None
    assert hub_revision(str(tmp_path)) is None  # a plain folder has no revision


def test_manifest_of_a_local_model_loaded_from_the_cache(hub_cache):
    snapshot = str(hub_cache / "models--org--tiny-chat" / "snapshots" / REVISION)
    m = ChatManager()
    m.add({"name": "tiny", "model": snapshot, "type": "chat", "settings": {"seed": 7, "temperature": 0.5}})
    assert wait_until(lambda: m.get("tiny").status == "ready", timeout=300)
    info = manifest(m, "tiny")
    assert info["name"] == "tiny" and info["model"] == snapshot and info["path"] == snapshot
    assert info["hub_revision"] == REVISION
    assert info["type"] == "chat" and info["family"] == "chat"
    assert info["dtype"] == "float32" and info["quantization"] is None and info["device_map"] is None
    assert info["tokenizer_path"] == snapshot
    assert info["settings"]["temperature"] == 0.5 and info["seed"] == 7
    assert set(info["versions"]) == {"chatzoo_widget", "transformers", "torch", "bitsandbytes"}
    assert info["versions"]["transformers"] and info["status"] == "ready" and info["error"] is None
    assert info["think_tags"] == ["<think>", "</think>"] and info["keep_reasoning"] is False
    json.dumps(info)  # plain data


def test_manifest_of_a_column_that_failed_to_load_has_what_is_known_and_the_error(tmp_path):
    m = ChatManager()
    missing = str(tmp_path / "no-such-model")
    m.add({"name": "broken", "model": missing, "load_options": {"dtype": "bfloat16"}})
    assert wait_until(lambda: m.get("broken").status == "error", timeout=60)
    info = manifest(m, "broken")
    assert info["name"] == "broken" and info["model"] == missing and info["dtype"] == "bfloat16"
    assert info["status"] == "error" and info["family"] is None
    assert "no-such-model" in info["error"]
    assert info["versions"]["chatzoo_widget"]


def test_manifest_of_a_remote_column_names_the_url_and_server_model_never_the_key():
    m = ChatManager()
    m.add({"name": "far", "model": RemoteChatBOT("http://127.0.0.1:9/v1", model="served-model", api_key="sk-SECRET")})
    info = manifest(m, "far")
    assert info["type"] == "remote" and info["base_url"] == "http://127.0.0.1:9/v1"
    assert info["server_model"] == "served-model"
    assert "sk-SECRET" not in json.dumps(info)


def test_widget_manifest_and_export_json_carry_it_but_the_browser_download_does_not(tmp_path):
    w = ChatZooWidget([ScriptedBOT("a"), ScriptedBOT("b")])
    try:
        assert set(w.manifest()) == {"a", "b"}
        assert w.manifest("a")["family"] == "scripted"
        with pytest.raises(KeyError, match="no column named 'zzz'"):
            w.manifest("zzz")
        w.send("hi", wait=True)
        doc = json.loads(w.export(str(tmp_path / "x.json")).read_text())
        assert doc["manifests"]["b"]["name"] == "b"
        assert "manifests" not in comparison_document(w.manager, w._book)
        restored = ChatZooWidget.load(str(tmp_path / "x.json"), models=[ScriptedBOT("a"), ScriptedBOT("b")])
        restored.close()
    finally:
        w.close()
