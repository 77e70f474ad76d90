"""A model-free bot that streams a scripted reply at a steady pace.

Tests and demos use it where a real model's timing would get in the way: a reply that is still streaming when
Stop is pressed, a bot that fails mid-stream, a fixed time to first token. It goes through the same pipeline
(settings validation, statistics, stop) as every other bot.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Iterator

from ..bots.base import ChatBOT, GenerationRequest, render_prompt_text
from ..bots.settings import GENERATION_SETTINGS, SYSTEM_PROMPT, SettingsSpec


def echo_reply(query: list[dict[str, str]]) -> str:
    """Default script: repeat the last HUMAN turn, numbered by how many turns came before."""
    humans = sum(1 for m in query if m["role"] == "HUMAN")
    return f"Reply {humans} to: {query[-1]['content']}"


class ScriptedBOT(ChatBOT):
    """Streams `reply(query)` word by word.

    Args:
        reply: text or a function of the query giving the reply.
        delay: seconds between words; `first_delay` before the first one.
        fail_after: raise RuntimeError after this many words (None: never).
    """

    family = "scripted"

    def __init__(
        self,
        name: str = "scripted",
        reply: str | Callable[[list[dict[str, str]]], str] = echo_reply,
        delay: float = 0.0,
        first_delay: float = 0.0,
        fail_after: int | None = None,
    ):
        self.reply = reply
        self.delay = delay
        self.first_delay = first_delay
        self.fail_after = fail_after
        self.prompts: list[list[dict[str, str]]] = []  # every prompt built, for tests to inspect
        super().__init__(name)

    def settings_spec(self) -> SettingsSpec:
        return GENERATION_SETTINGS.with_settings(SYSTEM_PROMPT).with_defaults(max_new_tokens=64)

    def get_prompt(self, query: list[dict[str, str]], system_prompt: str = "") -> list[dict[str, str]]:
        prompt = ([{"role": "SYSTEM", "content": system_prompt}] if system_prompt else []) + query
        self.prompts.append(prompt)
        return prompt

    @property
    def system_prompts(self) -> list[str]:
        """The system prompt of every prompt built so far ("" where there was none)."""
        return [p[0]["content"] if p and p[0]["role"] == "SYSTEM" else "" for p in self.prompts]

    def words(self, query: list[dict[str, str]]) -> list[str]:
        text = self.reply(query) if callable(self.reply) else self.reply
        return [w + " " for w in text.split(" ")[:-1]] + [text.split(" ")[-1]]

    def stream_generate(self, request: GenerationRequest) -> Iterator[str]:
        prompt = self.build_prompt(request.query, request.prompt_kwargs)
        request.stats.rendered_prompt = render_prompt_text(prompt)
        words = self.words([m for m in prompt if m["role"] != "SYSTEM"])
        request.stats.prompt_tokens = sum(len(m["content"].split()) for m in prompt)
        limit = request.gen_kwargs.get("max_new_tokens", len(words))
        if self.first_delay:
            request.stop_event.wait(self.first_delay)
        for i, word in enumerate(words[:limit]):
            if request.stop_event.is_set():
                return
            if self.fail_after is not None and i >= self.fail_after:
                raise RuntimeError(f"{self.name} failed after {i} words (scripted failure)")
            if i and self.delay:
                request.stop_event.wait(self.delay)
                if request.stop_event.is_set():
                    return
            request.clock.tokens(1)
            yield word
        if len(words) > limit:
            request.stats.finish_reason = "length"

    def count_tokens(self, text: str) -> int:
        return len(text.split())  # one token a word, as it streams

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "delay": self.delay}


def wait_until(predicate: Callable[[], bool], timeout: float = 10.0, interval: float = 0.01) -> bool:
    """Poll `predicate` until true or `timeout` seconds pass; returns its last value."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def front_end(widget: Any, **content: Any) -> None:
    """Deliver a custom message to a widget as the browser would (`model.send(content)`)."""
    widget._handle_custom_msg(content, [])
