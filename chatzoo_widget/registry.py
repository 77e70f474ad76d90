"""Which bot class serves which model, and `load_bot`, the one way to load a model by name, path or URL.

    MODEL_DICT   type name -> bot class ("chat", "base", "moss", "chatglm", "firefly", "godel", "remote", ...)
    NAME_TABLE   hub path -> type name, so `type=` is only needed for models the registry does not know
    ALIASES      short name -> hub path (or the offline copy) + default load options

    load_bot("smollm2-135m")                              # offline default (packaged GGUF, cached plain copy)
    load_bot("YeungNLP/firefly-1b4")                      # type from NAME_TABLE
    load_bot("/models/my-llama", type="chat", dtype="bfloat16")
    load_bot("moss-int4")                                 # MOSS (native, CodeGen) loaded in 4 bit by bitsandbytes
    load_bot("http://localhost:8000/v1", model="gpt")     # an OpenAI-compatible server

Importing this module is cheap: family classes (and torch/transformers) load on first use.
"""

from __future__ import annotations

import contextlib
import difflib
import importlib
import itertools
import json
import os
import threading
from typing import Any, Callable, Hashable, Iterator, Mapping

from .bots.base import ChatBOT


class _LazyClasses(dict):
    """A dict of type name -> class whose values may be "module:Class" strings, imported on first access."""

    def _resolve(self, key: str) -> Any:
        value = dict.__getitem__(self, key)
        if isinstance(value, str):
            module, _, attr = value.partition(":")
            value = getattr(importlib.import_module(module), attr)
            dict.__setitem__(self, key, value)
        return value

    def __getitem__(self, key: str) -> Any:
        return self._resolve(key)

    def get(self, key: str, default: Any = None) -> Any:
        return self._resolve(key) if key in self else default

    def values(self) -> Iterator[Any]:  # type: ignore[override]
        return (self._resolve(k) for k in list(self.keys()))

    def items(self) -> Iterator[tuple[str, Any]]:  # type: ignore[override]
        return ((k, self._resolve(k)) for k in list(self.keys()))


MODEL_DICT: dict[str, Any] = _LazyClasses(
    chat="chatzoo_widget.families.chat:ChatTemplateBOT",
    moss="chatzoo_widget.families.moss:MossBOT",
    chatglm="chatzoo_widget.families.chatglm:ChatGLMBOT",
    firefly="chatzoo_widget.families.firefly:FireflyBOT",
    godel="chatzoo_widget.families.godel:GodelBOT",
    base="chatzoo_widget.families.base:BaseModelBOT",
    remote="chatzoo_widget.bots.remote:RemoteChatBOT",
)
"""Type name -> bot class. Families take `(model_name_or_path, *, name=..., tokenizer_path=..., **load_options)`."""

NAME_TABLE: dict[str, str] = {
    "fnlp/moss-moon-003-sft": "moss",
    "fnlp/moss-moon-003-sft-plugin": "moss",
    "fnlp/moss-moon-003-sft-int8": "moss",
    "fnlp/moss-moon-003-sft-int4": "moss",
    "fnlp/moss-moon-003-sft-plugin-int8": "moss",
    "fnlp/moss-moon-003-sft-plugin-int4": "moss",
    "THUDM/chatglm-6b": "chatglm",
    "YeungNLP/firefly-1b4": "firefly",
    "YeungNLP/firefly-2b6": "firefly",
    "microsoft/GODEL-v1_1-base-seq2seq": "godel",
    "microsoft/GODEL-v1_1-large-seq2seq": "godel",
    "HuggingFaceTB/SmolLM2-135M-Instruct": "chat",
    "google/gemma-3-270m": "base",
}
"""Hub path -> type name."""


def _smollm2() -> dict[str, Any]:
    from .offline import smollm2_source

    return smollm2_source()


def _gemma3() -> dict[str, Any]:
    from .offline import gemma3_source

    return gemma3_source()


ALIASES: dict[str, dict[str, Any]] = {
    "smollm2-135m": {"path": _smollm2, "type": "chat", "name": "SmolLM2-135M-Instruct"},
    "gemma3-270m": {"path": _gemma3, "type": "base", "name": "gemma-3-270m"},
    "firefly-1b4": {"path": "YeungNLP/firefly-1b4"},
    "firefly-2b6": {"path": "YeungNLP/firefly-2b6"},
    "moss": {"path": "fnlp/moss-moon-003-sft"},
    "moss-plugin": {"path": "fnlp/moss-moon-003-sft-plugin"},
    # The hub's -int8/-int4 checkpoints need GPTQ kernels written for transformers 4 (MossBOT refuses them and
    # points here); these quantize the sft weights with bitsandbytes while loading instead (on a GPU or on CPU).
    "moss-int8": {"path": "fnlp/moss-moon-003-sft", "quantization": "8bit"},
    "moss-int4": {"path": "fnlp/moss-moon-003-sft", "quantization": "4bit"},
    "chatglm-6b": {"path": "THUDM/chatglm-6b"},
    "godel-base": {"path": "microsoft/GODEL-v1_1-base-seq2seq"},
    "godel-large": {"path": "microsoft/GODEL-v1_1-large-seq2seq"},
}
"""Short name -> {"path": hub path, local folder or a function giving load options, "type": ..., load options}."""

#: hub id -> alias of its packaged offline copy, used when the hub id is not in the local Hugging Face cache
OFFLINE_COPIES = {"google/gemma-3-270m": "gemma3-270m"}

#: config model_type -> family, for local copies of the seed models
CONFIG_TYPES = {"moss": "moss", "chatglm": "chatglm"}


def _lookup(table: Mapping[str, Any], key: str) -> str | None:
    if key in table:
        return key
    low = key.lower()
    return next((k for k in table if k.lower() == low), None)


def known_names() -> list[str]:
    """Every alias and hub path `load_bot` knows without `type=`."""
    return sorted(set(ALIASES) | set(NAME_TABLE), key=str.lower)


def known_types() -> list[str]:
    return sorted(dict.keys(MODEL_DICT))


def closest_names(name: str, n: int = 5) -> list[str]:
    names = known_names()
    low = {k.lower(): k for k in names}
    hits = difflib.get_close_matches(name.lower(), list(low), n=n, cutoff=0.4)
    return [low[h] for h in hits]


def _is_url(s: str) -> bool:
    return s.lower().startswith(("http://", "https://"))


def _looks_local(s: str) -> bool:
    return s.startswith(("/", "./", "../", "~", "\\")) or (len(s) > 1 and s[1] == ":") or os.path.exists(s)


def folder_type(folder: str) -> str:
    """The family of a local model folder: its config's model_type or its folder name if the registry knows
    them, else "chat" (the tokenizer's chat template)."""
    try:
        with open(os.path.join(folder, "config.json"), encoding="utf-8") as f:
            config = json.load(f)
    except (OSError, ValueError):
        config = {}
    if config.get("model_type") in CONFIG_TYPES:
        return CONFIG_TYPES[config["model_type"]]
    known = _lookup(NAME_TABLE, str(config.get("_name_or_path") or ""))
    if known:
        return NAME_TABLE[known]
    base = os.path.basename(os.path.normpath(folder)).lower()
    for hub, family in NAME_TABLE.items():
        if hub.split("/")[-1].lower() == base:
            return family
    return "chat"


def _in_hub_cache(repo_id: str) -> bool:
    from .offline import in_hub_cache

    return in_hub_cache(repo_id)


def _plan(name_or_path: Any, type: str | None, load_options: dict[str, Any]) -> tuple[str, Any, dict[str, Any]]:
    """(type name, path or path function, load options) for a name, a folder, a hub id or a URL."""
    if isinstance(name_or_path, os.PathLike):
        name_or_path = os.fspath(name_or_path)
    if not isinstance(name_or_path, str) or not name_or_path.strip():
        raise ValueError(f"a model must be a non-empty name, folder, hub id or URL, got {name_or_path!r}")
    s = name_or_path.strip()
    options = dict(load_options)
    if _is_url(s):
        return type or "remote", s, options
    alias = _lookup(ALIASES, s)
    expanded = os.path.expanduser(s)
    if alias is not None and not os.path.isdir(expanded):
        entry = dict(ALIASES[alias])
        path = entry.pop("path")
        alias_type = entry.pop("type", None)
        options = {**entry, **options}
        if callable(path):
            return type or alias_type or "chat", path, options
        hub = _lookup(NAME_TABLE, path)
        return type or alias_type or (NAME_TABLE[hub] if hub else "chat"), path, options
    if os.path.isdir(expanded):
        path = os.path.abspath(expanded)
        return type or folder_type(path), path, options
    hub = _lookup(NAME_TABLE, s)
    if hub in OFFLINE_COPIES and not _in_hub_cache(hub):
        return _plan(OFFLINE_COPIES[hub], type, options)
    if hub is not None:
        return type or NAME_TABLE[hub], hub, options
    if _looks_local(s):
        raise FileNotFoundError(f"no such model folder: {s!r}")
    if "/" in s:  # a hub id the registry does not know: the tokenizer's chat template serves it
        return type or "chat", s, options
    near = closest_names(s)
    hint = f"closest known names: {', '.join(near)}" if near else f"known names: {', '.join(known_names())}"
    raise ValueError(f"unknown model name {s!r}; {hint}. A local folder or a hub id ('org/name') works too")


#: transformers 5.24's from_pretrained is not thread-safe: two models loading at once in different threads (the
#: widget loads its columns in the background) can come out with weights left on the meta device or untied, and
#: then write gibberish. Local models therefore load one at a time; remote bots need no lock.
_LOAD_LOCK = threading.RLock()


def _loading(type_name: str) -> Any:
    return contextlib.nullcontext() if type_name == "remote" else _LOAD_LOCK


def load_bot(
    name_or_path: str | os.PathLike,
    *,
    type: str | None = None,
    tokenizer_path: str | os.PathLike | None = None,
    name: str | None = None,
    **load_options: Any,
) -> ChatBOT:
    """Load a bot by alias, hub path, local folder or http(s) URL.

    `type` picks the family (see `MODEL_DICT`) for paths the registry does not know; `tokenizer_path` loads the
    tokenizer from elsewhere; `load_options` go to the bot class (dtype, quantization, device_map,
    trust_remote_code, gguf_file, ... or, for a URL, model, api_key, timeout). `process=True` serves a local model
    from a child process of its own (true parallelism between columns, a copy of the weights each). Raises ValueError (unknown name,
    with the closest known names; unknown type; folder without a model; remote code without opt-in),
    FileNotFoundError (no such folder) or HubUnavailableError (not cached and the hub cannot be reached).
    """
    if type is not None and type not in MODEL_DICT:
        raise ValueError(f"unknown type {type!r}; known types: {', '.join(known_types())}")
    if load_options.pop("process", False):  # the model in a child process of its own (bots/process.py)
        if isinstance(name_or_path, str) and _is_url(name_or_path.strip()):
            raise ValueError("process=True runs a local model in its own process; a URL is served elsewhere already")
        from .bots.process import ProcessChatBOT

        return ProcessChatBOT(name_or_path, type=type, tokenizer_path=tokenizer_path, name=name, **load_options)
    type_name, path, options = _plan(name_or_path, type, load_options)
    if type_name not in MODEL_DICT:
        raise ValueError(f"unknown type {type_name!r}; known types: {', '.join(known_types())}")
    if callable(path):
        with _loading(type_name):  # the first time, it may convert a packaged model through transformers
            source = dict(path())
        path = source.pop("path")
        options = {**source, **options}
    if name is None:
        name = options.pop("name", None)
    else:
        options.pop("name", None)
    cls = MODEL_DICT[type_name]
    kwargs: dict[str, Any] = dict(options)
    if tokenizer_path is not None:
        if type_name == "remote":
            raise ValueError("tokenizer_path does not apply to a remote (URL) model")
        kwargs["tokenizer_path"] = os.fspath(tokenizer_path)
    if name is not None:
        kwargs["name"] = name
    try:
        with _loading(type_name):
            return cls(path, **kwargs)
    except OSError as exc:
        from .bots.transformers import HubUnavailableError

        if isinstance(exc, HubUnavailableError) and isinstance(name_or_path, str):
            near = [n for n in closest_names(name_or_path) if n != name_or_path]
            if near:
                raise HubUnavailableError(f"{exc} Known names close to it: {', '.join(near)}") from exc
        raise


_PROCESS_KEYS = itertools.count()


def _freeze(value: Any) -> Hashable:
    if isinstance(value, Mapping):
        return tuple(sorted((str(k), _freeze(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple, set, frozenset)):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    try:
        hash(value)
    except TypeError:
        return repr(value)
    return value


def bot_key(
    name_or_path: str | os.PathLike,
    type: str | None = None,
    tokenizer_path: str | os.PathLike | None = None,
    **load_options: Any,
) -> Hashable:
    """A hashable key naming what `load_bot` would load (checkpoint, family, tokenizer, options), so columns of the
    same checkpoint and options can share one bot. Cheap (nothing is loaded) and never raises: an input that
    `load_bot` will refuse gets a key of its own, and the error shows when it is loaded."""
    load_options.pop("name", None)
    if load_options.get("process"):  # a process of its own per column: never shared
        return ("process", next(_PROCESS_KEYS))
    try:
        type_name, path, options = _plan(name_or_path, type, load_options)
    except Exception:  # noqa: BLE001 - load_bot reports it
        return ("unresolved", repr(name_or_path), type, _freeze(tokenizer_path), _freeze(load_options))
    options.pop("name", None)
    if callable(path):
        path = f"{path.__module__}.{path.__qualname__}"
    tok = os.path.abspath(os.path.expanduser(os.fspath(tokenizer_path))) if tokenizer_path else None
    if tok and not os.path.isdir(tok):
        tok = os.fspath(tokenizer_path)
    return ("bot", type_name, path, tok, _freeze(options))


def register_model(
    type_name: str,
    cls: type | Callable[..., ChatBOT],
    names: tuple[str, ...] | list[str] = (),
    aliases: Mapping[str, str | Mapping[str, Any]] | None = None,
) -> None:
    """Add a bot class under `type_name`, with hub paths (`names`) that select it and short `aliases`
    (alias -> path, or alias -> {"path": ..., load options}).

        register_model("mybot", MyBOT, names=["me/my-model"], aliases={"mine": "me/my-model"})
        load_bot("mine")
    """
    if not isinstance(type_name, str) or not type_name:
        raise ValueError("type_name must be a non-empty string")
    if isinstance(cls, type) and not issubclass(cls, ChatBOT):
        raise TypeError(f"{cls.__name__} is not a ChatBOT subclass")
    if not callable(cls):
        raise TypeError(f"cls must be a ChatBOT class, got {cls!r}")
    MODEL_DICT[type_name] = cls
    for n in names:
        NAME_TABLE[n] = type_name
    for alias, target in (aliases or {}).items():
        entry = {"path": target} if isinstance(target, (str, os.PathLike)) else dict(target)
        if "path" not in entry:
            raise ValueError(f"alias {alias!r} needs a path")
        entry.setdefault("type", type_name)
        ALIASES[alias] = entry


__all__ = [
    "ALIASES",
    "CONFIG_TYPES",
    "MODEL_DICT",
    "NAME_TABLE",
    "OFFLINE_COPIES",
    "bot_key",
    "closest_names",
    "folder_type",
    "known_names",
    "known_types",
    "load_bot",
    "register_model",
]
