"""Typed generation settings.

Every setting a bot accepts has a type, a range and a step, so the widget can draw a slider or a toggle and
reject nonsense before any model work starts. A family adds its own settings by extending the spec.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, Iterable, Literal, Mapping

SettingType = Literal["int", "float", "bool", "str"]
# Where a setting goes: "generate" kwargs, the prompt builder ("prompt"), or the pipeline itself ("control").
SettingTarget = Literal["generate", "prompt", "control"]

_PY_TYPES: dict[str, tuple[type, ...]] = {"int": (int,), "float": (int, float), "bool": (bool,), "str": (str,)}


@dataclass(frozen=True)
class Setting:
    """One typed setting: the widget draws it, `validate` guards it."""

    name: str
    type: SettingType
    default: Any
    min: float | None = None
    max: float | None = None
    step: float | None = None
    description: str = ""
    target: SettingTarget = "generate"
    multiline: bool = False  # for "str": a text area rather than a line

    def describe_range(self) -> str:
        if self.type == "bool":
            return "true or false"
        if self.type == "str":
            return "a string"
        return f"{self.type} from {_fmt(self.min)} to {_fmt(self.max)}"

    def validate(self, value: Any) -> Any:
        """Return the value coerced to this setting's type, or raise ValueError naming the setting and range."""
        given = value
        ok_types = _PY_TYPES[self.type]
        # bool is an int in Python; refuse it for numbers and numbers for bools.
        if isinstance(value, bool) != (self.type == "bool") or not isinstance(value, ok_types):
            if self.type == "int" and isinstance(value, float) and value.is_integer():
                value = int(value)
            else:
                raise ValueError(
                    f"setting {self.name!r} must be {self.describe_range()}, got {value!r} ({type(value).__name__})"
                )
        if self.type == "float":
            value = float(value)
            if math.isnan(value):
                raise ValueError(f"setting {self.name!r} must be {self.describe_range()}, got nan")
        if self.type in ("int", "float"):
            if (self.min is not None and value < self.min) or (self.max is not None and value > self.max):
                raise ValueError(f"setting {self.name!r} must be {self.describe_range()}, got {given!r}")
        return value

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "default": self.default,
            "min": self.min,
            "max": self.max,
            "step": self.step,
            "description": self.description,
            "target": self.target,
            "multiline": self.multiline,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "Setting":
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})


def logprobs_wanted(control: Mapping[str, Any]) -> int | None:
    """How many alternatives a reply keeps per token (0: the token alone), or None when logprobs are off."""
    if not control.get("logprobs"):
        return None
    return int(control.get("top_logprobs") or 0)


def _fmt(x: float | None) -> str:
    if x is None:
        return "unbounded"
    return str(int(x)) if float(x).is_integer() else str(x)


@dataclass
class SettingsSpec:
    """An ordered set of settings; validates and merges user settings on copies."""

    settings: dict[str, Setting] = field(default_factory=dict)

    @classmethod
    def of(cls, items: Iterable[Setting]) -> "SettingsSpec":
        return cls({s.name: s for s in items})

    def __contains__(self, name: str) -> bool:
        return name in self.settings

    def __getitem__(self, name: str) -> Setting:
        return self.settings[name]

    def __iter__(self):
        return iter(self.settings.values())

    def names(self) -> list[str]:
        return list(self.settings)

    def with_settings(self, *items: Setting) -> "SettingsSpec":
        """A copy with settings added or replaced (a family's own settings or defaults)."""
        merged = dict(self.settings)
        for s in items:
            merged[s.name] = s
        return SettingsSpec(merged)

    def without(self, *names: str) -> "SettingsSpec":
        return SettingsSpec({k: v for k, v in self.settings.items() if k not in names})

    def with_defaults(self, **defaults: Any) -> "SettingsSpec":
        """A copy whose defaults are changed (each checked against its setting's range)."""
        merged = dict(self.settings)
        for name, value in defaults.items():
            if name not in merged:
                raise ValueError(self.unknown_message(name))
            merged[name] = replace(merged[name], default=merged[name].validate(value))
        return SettingsSpec(merged)

    def defaults(self) -> dict[str, Any]:
        return {s.name: s.default for s in self.settings.values()}

    def unknown_message(self, name: str) -> str:
        return f"unknown setting {name!r}; known settings: {', '.join(self.settings)}"

    def validate(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Check every value; return a new dict of coerced values. Raises ValueError on the first bad one."""
        out: dict[str, Any] = {}
        for name, value in values.items():
            if name not in self.settings:
                raise ValueError(self.unknown_message(name))
            out[name] = self.settings[name].validate(value)
        return out

    def to_json(self) -> list[dict[str, Any]]:
        return [s.to_json() for s in self.settings.values()]

    @classmethod
    def from_json(cls, items: Iterable[Mapping[str, Any]]) -> "SettingsSpec":
        return cls.of(Setting.from_json(i) for i in items)


MAX_NEW_TOKENS = Setting("max_new_tokens", "int", 256, 1, 4096, 1, "Most tokens to generate in one reply")
TEMPERATURE = Setting("temperature", "float", 0.7, 0.0, 2.0, 0.05, "Sampling temperature (0 = greedy)")
TOP_P = Setting("top_p", "float", 0.9, 0.0, 1.0, 0.01, "Nucleus sampling: keep tokens up to this probability mass")
TOP_K = Setting("top_k", "int", 50, 0, 200, 1, "Sample among the k likeliest tokens (0 = no limit)")
REPETITION_PENALTY = Setting("repetition_penalty", "float", 1.0, 1.0, 2.0, 0.01, "Penalty for repeating tokens")
NUM_BEAMS = Setting("num_beams", "int", 1, 1, 8, 1, "Beam search width (1 = no beam search)")
DO_SAMPLE = Setting("do_sample", "bool", True, description="Sample (true) or pick the likeliest token (false)")
SEED = Setting("seed", "int", -1, -1, 2**31 - 1, 1, "Random seed for sampling (-1 = random)", target="control")
#: Token probabilities (issue 21): pipeline controls, not generate() kwargs. `top_logprobs` is read only while
#: `logprobs` is on (a slider left at 5 never makes a send fail); its range is OpenAI's.
LOGPROBS = Setting("logprobs", "bool", False, description="Keep each generated token's log-probability",
                   target="control")
MAX_TOP_LOGPROBS = 20
TOP_LOGPROBS = Setting("top_logprobs", "int", 0, 0, MAX_TOP_LOGPROBS, 1,
                       "Likeliest alternatives kept per token, with their log-probabilities (needs logprobs)",
                       target="control")
SYSTEM_PROMPT = Setting(
    "system_prompt", "str", "", description="System prompt put before the conversation", target="prompt", multiline=True
)

GENERATION_SETTINGS = SettingsSpec.of(
    [MAX_NEW_TOKENS, TEMPERATURE, TOP_P, TOP_K, REPETITION_PENALTY, NUM_BEAMS, DO_SAMPLE, SEED, LOGPROBS, TOP_LOGPROBS]
)
"""The common settings every local bot knows; families add SYSTEM_PROMPT or their own."""
