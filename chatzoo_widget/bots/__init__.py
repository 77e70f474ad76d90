"""Bots: the ChatZoo pipeline and its implementations."""

from .base import ChatBOT, GenerationRequest, ReplyStats, ReplyStream, validate_query
from .settings import GENERATION_SETTINGS, Setting, SettingsSpec

__all__ = ["ChatBOT", "GenerationRequest", "ReplyStats", "ReplyStream", "Setting", "SettingsSpec",
           "GENERATION_SETTINGS", "validate_query"]
