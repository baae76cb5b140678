"""The LLM strategy: the planner decides, the model words it, we check every word.

Whatever comes back is refused (→ ``Fallback``, and the offline strategy answers that turn)
when it is not the planned action and topic, repeats an earlier question, is empty or too
long, or would reveal a topic's hidden context or the instructions themselves.
"""

from __future__ import annotations

import json
import re
from typing import Any

from core.config import Settings
from core.interviewer import llm, prompts
from core.interviewer.planner import Move
from core.sessions import settings_of

SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["message", "action", "topic", "reasoning"],
    "properties": {
        "message": {"type": "string"},
        "action": {"type": "string",
                   "enum": ["ask", "probe", "next_topic", "wrap_up", "close"]},
        "topic": {"type": ["string", "null"]},
        "reasoning": {"type": "string"},
    },
}
ACCEPTED = {"ask": {"ask", "next_topic"}, "probe": {"probe"}, "wrap_up": {"wrap_up"}}
MAX_MESSAGE = 1000
SHINGLE = 5  # a run of this many words shared with hidden text counts as a leak


class Fallback(Exception):
    """This turn goes to the offline strategy; the reason is logged and audited."""


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9%']+", text.lower())


def _shingles(text: str, n: int = SHINGLE) -> set[tuple[str, ...]]:
    words = _words(text)
    return {tuple(words[i:i + n]) for i in range(len(words) - n + 1)}


def leaks(message: str, hidden: list[str], n: int = SHINGLE, figures: bool = True) -> bool:
    """True when the message shares an n-word run with hidden text, or (with ``figures``) a
    figure such as "12%" or "2024" that only the hidden text contains."""
    said = _shingles(message, n)
    said_words = set(_words(message))
    for text in hidden:
        if said & _shingles(text, n):
            return True
        if figures and said_words & {w for w in _words(text) if re.search(r"\d.", w)}:
            return True
    return False


def _topic_dicts(topics: dict[str, Any]) -> list[dict[str, str]]:
    return [{"key": t.key, "label": t.label, "priority": t.priority,
             "description": t.description, "probing_guidance": t.probing_guidance,
             "context": t.context} for t in topics.values()]


def summary(state: dict[str, Any], topics: dict[str, Any]) -> str:
    """Older answers as a bounded summary: the last two (redacted) notes per topic."""
    lines = []
    for key in state["order"]:
        info = state["topics"][key]
        if info["status"] == "pending" or key not in topics:
            continue
        notes = "; ".join(f'"{n}"' for n in state.get("notes", {}).get(key, []))
        if notes:
            lines.append(f"- {topics[key].label}: {notes}")
    return "\n".join(lines)


def build_messages(
    session, topics: dict[str, Any], state: dict[str, Any], move: Move,
    history: list[tuple[str, str]], asked_back: bool, channel: str = "web",
) -> list[dict[str, str]]:
    system = prompts.system_prompt(session.session_type.name, session.anonymity,
                                   _topic_dicts(topics),
                                   threshold=settings_of(session).anonymity_threshold)
    messages = [{"role": "system", "content": system}]
    earlier = summary(state, topics)
    if earlier:  # it quotes the participant, so it travels as their data, never as ours
        messages.append({"role": "user", "content": f"(Summary of my earlier answers)\n{earlier}"})
    for role, text in history:
        messages.append({"role": "user" if role == "participant" else "assistant",
                         "content": text[:2000]})
    plan = {
        "action": move.action, "topic": move.topic,
        "instruction": prompts.PLAN_TEXT[move.action].format(
            topic=topics[move.topic].label if move.topic else None),
        "topics_so_far": {k: v["status"] for k, v in state["topics"].items()
                          if v["status"] != "pending"},
        "participant_asked_a_question": asked_back,
        "questions_already_asked": state["questions"][-12:],
    }
    if channel in prompts.CHANNEL_STYLE:  # per turn: the system prompt stays cacheable
        plan["channel"] = prompts.CHANNEL_STYLE[channel]
    messages.append({"role": "system", "content": "PLAN " + json.dumps(plan)})
    return messages


def compose(
    settings: Settings, session, topics: dict[str, Any], state: dict[str, Any], move: Move,
    answer: str | None, *, history: list[tuple[str, str]], asked_back: bool,
    channel: str = "web",
) -> tuple[str, dict[str, Any]]:
    messages = build_messages(session, topics, state, move, history, asked_back, channel)
    try:
        result = llm.complete_json(settings, messages, name="interviewer_turn", schema=SCHEMA)
    except llm.LLMUnavailable as exc:
        raise Fallback(str(exc)) from exc
    data = result.data
    message = data.get("message")
    if not isinstance(message, str) or not message.strip():
        raise Fallback("schema: empty message")
    message = message.strip()
    if len(message) > MAX_MESSAGE:
        raise Fallback(f"schema: message longer than {MAX_MESSAGE} characters")
    if channel == "sms" and len(message) > prompts.SMS_QUESTION:
        raise Fallback(f"too long for a text message ({len(message)} characters)")
    if data.get("action") not in ACCEPTED[move.action]:
        raise Fallback(f"off plan: action {data.get('action')!r}, planned {move.action!r}")
    if data.get("topic") != move.topic and move.action != "wrap_up":
        raise Fallback(f"off plan: topic {data.get('topic')!r}, planned {move.topic!r}")
    if message in state["questions"]:
        raise Fallback("repeats an earlier question")
    if leaks(message, [t.context for t in topics.values() if t.context]):
        raise Fallback("would reveal a topic's hidden context")
    # longer runs for the rules: a polite reply shares short phrases with them
    if leaks(message, [prompts.SYSTEM_RULES], n=8, figures=False):
        raise Fallback("would reveal the instructions")
    if asked_back and "automated" not in message.lower():
        message = f"{prompts.ASKED_BACK}\n\n{message}"  # always honest about what we are
    reasoning = {
        "strategy": "llm", "model": settings.openai_model, "action": move.action,
        "topic": move.topic, "why": str(data.get("reasoning", ""))[:1000],
        "rule": move.why,
        "tokens": {"prompt": result.prompt_tokens, "completion": result.completion_tokens},
    }
    return message, reasoning
