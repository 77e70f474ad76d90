"""Loading a checkpoint into a class ChatZoo chooses, with a config ChatZoo builds: no AutoConfig lookup, no
remote code. Used by the native MOSS (CodeGen) and ChatGLM-6B paths of the family bots."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


def checkpoint_file(source: str, filename: str, *, required: bool = True) -> str | None:
    """The local path of `filename` in a model folder or a hub repository (the local cache when offline).

    Missing and not required: None. Missing and required: FileNotFoundError naming the file and the source.
    """
    if os.path.isdir(source):
        path = Path(source) / filename
        if path.is_file():
            return str(path)
    else:
        from transformers.utils.hub import cached_file

        path = cached_file(source, filename, _raise_exceptions_for_missing_entries=False,
                           _raise_exceptions_for_connection_errors=False)
        if path:
            return str(path)
    if required:
        raise FileNotFoundError(f"{filename} not found in {source!r}: the checkpoint's own tokenizer files are needed")
    return None


class NativeLoader:
    """Stands in for an Auto class: `from_pretrained` / `from_config` of `model_class`, always with `config`."""

    def __init__(self, model_class: type, config: Any):
        self.model_class = model_class
        self.config = config
        self.__name__ = model_class.__name__

    def from_pretrained(self, path: str, **kwargs: Any) -> Any:
        kwargs.pop("trust_remote_code", None)  # nothing remote runs on this path
        return self.model_class.from_pretrained(path, config=self.config, **kwargs)

    def from_config(self, config: Any = None, **kwargs: Any) -> Any:
        kwargs.pop("trust_remote_code", None)
        return self.model_class._from_config(config or self.config, **kwargs)


def plan_device_map(bot: Any, loader: NativeLoader, device_map: Any) -> Any:
    """accelerate's device map for `device_map="auto"` on a native model, keeping `no_split_module_classes` whole
    (the same plan TransformersChatBOT makes for built-in architectures)."""
    if not isinstance(device_map, str) or bot.quantization:
        return device_map
    from accelerate import init_empty_weights

    dtype = bot.planning_dtype()
    with init_empty_weights():
        empty = loader.from_config(**({"dtype": dtype} if dtype is not None else {}))
        empty.tie_weights()  # tied weights count once, and accelerate checks they are tied
    return bot.plan_on(empty, dtype)


__all__ = ["NativeLoader", "checkpoint_file", "plan_device_map"]
