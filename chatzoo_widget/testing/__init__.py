"""Test helpers users can run too: tiny random models of the real architectures (`tiny_models`, needs torch)
and a model-free scripted bot (`ScriptedBOT`)."""

from .scripted import ScriptedBOT, echo_reply, front_end, wait_until

__all__ = ["ScriptedBOT", "echo_reply", "front_end", "wait_until"]
