"""The one module that imports the openai SDK: JSON-schema chat completions against any
OpenAI-compatible server, with a short timeout and at most one retry (a worker must never
hang on a model)."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

import openai
from openai import OpenAI

from core.config import Settings

log = logging.getLogger(__name__)


class LLMUnavailable(Exception):
    """Timeout, transport error, refusal or unparseable output: use the offline strategy."""


@dataclass(frozen=True)
class Completion:
    data: dict[str, Any]
    prompt_tokens: int
    completion_tokens: int


_clients: dict[tuple[str, str, float], OpenAI] = {}


def client(settings: Settings) -> OpenAI:
    key = (settings.openai_base_url, settings.openai_api_key, settings.openai_timeout)
    if key not in _clients:
        _clients[key] = OpenAI(
            api_key=settings.openai_api_key, base_url=settings.openai_base_url or None,
            timeout=settings.openai_timeout, max_retries=1,
        )
    return _clients[key]


def complete_json(
    settings: Settings, messages: list[dict[str, str]], *, name: str, schema: dict[str, Any],
    max_tokens: int = 600,
) -> Completion:
    """One strict structured-output call; raises LLMUnavailable for anything but valid JSON."""
    try:
        response = client(settings).chat.completions.create(
            model=settings.openai_model, messages=messages, temperature=0.3,
            max_tokens=max_tokens,
            response_format={"type": "json_schema",
                             "json_schema": {"name": name, "schema": schema, "strict": True}},
        )
    except openai.APIError as exc:  # timeouts, connection errors and HTTP errors
        raise LLMUnavailable(f"{type(exc).__name__}: {exc}") from exc
    if not response.choices:
        raise LLMUnavailable("no choices in the response")
    message = response.choices[0].message
    if getattr(message, "refusal", None):
        raise LLMUnavailable(f"refusal: {message.refusal}")
    try:
        data = json.loads(message.content or "")
    except json.JSONDecodeError as exc:
        raise LLMUnavailable(f"invalid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise LLMUnavailable("the JSON is not an object")
    usage = response.usage
    return Completion(data, getattr(usage, "prompt_tokens", 0) or 0,
                      getattr(usage, "completion_tokens", 0) or 0)
