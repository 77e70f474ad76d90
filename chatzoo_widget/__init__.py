"""ChatZoo Widget: compare chat language models side by side in Jupyter.

    from chatzoo_widget import ChatZooWidget
    ChatZooWidget(["smollm2-135m", {"name": "smol-hot", "model": "smollm2-135m", "settings": {"temperature": 1.2}}])

Importing the package does not import torch or transformers; they load with the first model.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# name -> module that defines it; imported on first use so `import chatzoo_widget` stays fast.
_LAZY = {
    "ChatZooWidget": "chatzoo_widget.widget",
    "ChatManager": "chatzoo_widget.manager",
    "BusyError": "chatzoo_widget.manager",
    "ChatBOT": "chatzoo_widget.bots.base",
    "ReplyStats": "chatzoo_widget.bots.base",
    "Setting": "chatzoo_widget.bots.settings",
    "SettingsSpec": "chatzoo_widget.bots.settings",
    "TransformersChatBOT": "chatzoo_widget.bots.transformers",
    "RemoteChatBOT": "chatzoo_widget.bots.remote",
    "load_bot": "chatzoo_widget.registry",
    "register_model": "chatzoo_widget.registry",
    "MODEL_DICT": "chatzoo_widget.registry",
}

__all__ = sorted(_LAZY)

if TYPE_CHECKING:  # pragma: no cover
    from .bots.base import ChatBOT, ReplyStats
    from .bots.remote import RemoteChatBOT
    from .bots.settings import Setting, SettingsSpec
    from .bots.transformers import TransformersChatBOT
    from .manager import BusyError, ChatManager
    from .registry import MODEL_DICT, load_bot, register_model
    from .widget import ChatZooWidget


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'chatzoo_widget' has no attribute {name!r}")
