"""The reproducibility manifest: what it takes to get a column's replies again.

    manifest(manager, column) -> records.Manifest

The model as the user named it, the checkpoint it resolved to, the hub revision (the commit hash of the Hugging Face
cache snapshot it was read from), how it was loaded, the settings in force, and the versions of the libraries
that shape the output. A column whose model failed to load gets the fields known so far and its error. Python
side only: the widget never sends a manifest to the browser (it names the models, which an arena hides).
"""

from __future__ import annotations

import importlib.metadata
import os
import re
from typing import Any, Mapping

from ..manager import ChatManager, Column
from ..records import Manifest

#: the libraries whose versions change what a model writes
LIBRARIES = ("chatzoo_widget", "transformers", "torch", "bitsandbytes")
_SNAPSHOT = re.compile(r"[\\/]models--[^\\/]+[\\/]snapshots[\\/]([0-9a-f]{7,64})(?:[\\/]|$)")
_SECRET_OPTION = re.compile(r"(?i)(api_?key|token|secret|password)$")


def versions() -> dict[str, str | None]:
    """Installed versions of the libraries that shape the output (None: not installed). Nothing is imported."""
    out: dict[str, str | None] = {}
    for name in LIBRARIES:
        try:
            out[name] = importlib.metadata.version(name.replace("_", "-"))
        except importlib.metadata.PackageNotFoundError:
            try:
                out[name] = importlib.metadata.version(name)
            except importlib.metadata.PackageNotFoundError:
                out[name] = None
    return out


def hub_revision(path_or_repo: str | None, cache_dir: str | os.PathLike | None = None) -> str | None:
    """The commit hash of the Hugging Face cache snapshot a model comes from: read from a snapshot folder's path
    (…/models--org--name/snapshots/<hash>), or for a hub id from the cache's record of the revision it resolved
    (refs/main). None for other folders and for ids not in the cache."""
    if not path_or_repo:
        return None
    found = _SNAPSHOT.search(os.path.abspath(path_or_repo) if os.path.isdir(path_or_repo) else path_or_repo)
    if found:
        return found.group(1)
    if os.path.isdir(path_or_repo) or path_or_repo.count("/") != 1:
        return None
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover - comes with transformers
        return None
    try:
        cached = try_to_load_from_cache(path_or_repo, "config.json", cache_dir=cache_dir)
    except Exception:  # noqa: BLE001 - an id the cache cannot hold is simply not there
        return None
    if isinstance(cached, str):
        found = _SNAPSHOT.search(cached)
        return found.group(1) if found else None
    return None


def _public(options: Mapping[str, Any]) -> dict[str, Any]:
    """Load options without keys or tokens (an api_key passed as a load option stays out)."""
    return {k: (str(v) if not isinstance(v, (str, int, float, bool, type(None), dict, list)) else v)
            for k, v in options.items() if not _SECRET_OPTION.search(k)}


def _planned(column: Column) -> dict[str, Any]:
    """What the registry says the column's model is, without loading anything (for a column whose load failed)."""
    try:
        from .. import registry

        type_name, path, options = registry._plan(column.model, column.load_options.get("type"),
                                                  {k: v for k, v in column.load_options.items() if k != "type"})
    except Exception:  # noqa: BLE001 - the load error says why
        return {}
    return {"type": type_name, "path": path if isinstance(path, str) else None, **_public(options)}


def manifest(manager: ChatManager, key: str) -> Manifest:
    """The manifest of one column (by name or id); see the module docstring."""
    column = manager.get(key)
    options = _public(column.load_options)
    out = Manifest(
        name=column.name, model=column.model, path=None, hub_revision=None,
        type=options.get("type"), family=None, dtype=options.get("dtype"),
        quantization=options.get("quantization"), device_map=options.get("device_map"),
        tokenizer_path=options.get("tokenizer_path"), load_options=options,
        settings=manager.effective_settings(column), seed=None,
        think_tags=list(column.think_tags) if column.think_tags else None,
        keep_reasoning=column.keep_reasoning, versions=versions(),
        status=column.status, error=column.error,
    )
    bot = column.bot
    if bot is None:
        planned = _planned(column)
        for field in ("type", "path", "dtype", "quantization", "device_map", "tokenizer_path"):
            if out.get(field) is None and planned.get(field) is not None:
                out[field] = planned[field]
        if column.load.done() and column.load.exception() is not None and not out["error"]:
            out["error"] = str(column.load.exception())
    else:
        info = bot.describe()
        out["family"] = info.get("family") or bot.family
        if getattr(bot, "remote", False):
            from ..compare.blind import redact

            out.update(type="remote", base_url=redact(str(getattr(bot, "base_url", "") or "")),
                       server_model=getattr(bot, "model", None) or info.get("model"))
            out["path"] = out["base_url"]
        else:
            path = getattr(bot, "model_name_or_path", None) or info.get("path")
            out["path"] = path
            out["hub_revision"] = hub_revision(path)
            out["tokenizer_path"] = getattr(bot, "tokenizer_path", None) or path
            out["dtype"] = info.get("dtype") or out["dtype"]
            out["quantization"] = info.get("quantization", out["quantization"])
            out["device_map"] = (getattr(bot, "device_map", None) if getattr(bot, "device_map", None) is not None
                                 else info.get("device_map", out["device_map"]))
            if out["type"] is None:
                out["type"] = out["family"]
    seed = out["settings"].get("seed")
    out["seed"] = seed if isinstance(seed, int) and seed >= 0 else None
    return out


def manifests(manager: ChatManager) -> dict[str, Manifest]:
    """Every column's manifest, by column name."""
    return {c.name: manifest(manager, c.id) for c in list(manager.columns.values())}


__all__ = ["LIBRARIES", "hub_revision", "manifest", "manifests", "versions"]
