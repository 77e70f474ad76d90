"""Test helpers users can run too: tiny random models of the real architectures (`tiny_models`, needs torch),
a model-free scripted bot (`ScriptedBOT`) and `command` (a browser action, sent as one view of a widget would)."""

from .commands import command
from .scripted import ScriptedBOT, echo_reply, front_end, wait_until

__all__ = ["ScriptedBOT", "command", "echo_reply", "front_end", "wait_until"]
