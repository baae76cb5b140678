"""A loopback OpenAI-compatible server (POST /v1/chat/completions) for the LLM interviewer.

It reads the PLAN message our strategy sends and answers in the chosen ``mode``:
good, malformed, schema (off-plan), slow, refusal, leak (quotes hidden context), error.
"""

from __future__ import annotations

import json
import re
import time

from tests.support.stub_server import Recorded, Reply, StubServer

MODES = ("good", "malformed", "schema", "slow", "refusal", "leak", "error")


def completion(content: str | None, *, refusal: str | None = None,
               prompt_tokens: int = 0) -> dict:
    return {
        "id": "chatcmpl-stub", "object": "chat.completion", "created": int(time.time()),
        "model": "stub-model",
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": content,
                                 "refusal": refusal}}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": 20,
                  "total_tokens": prompt_tokens + 20},
    }


class OpenAIStub(StubServer):
    def __init__(self, mode: str = "good", slow_seconds: float = 3.0):
        self.mode, self.slow_seconds, self.turn = mode, slow_seconds, 0
        super().__init__(responder=self._answer)

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    def calls(self) -> list[dict]:
        return [r.json() for r in self.requests if r.path.endswith("/chat/completions")]

    def _answer(self, request: Recorded) -> Reply:
        body = request.json()
        messages = body["messages"]
        plan = json.loads(messages[-1]["content"].removeprefix("PLAN "))
        prompt_tokens = sum(len(m["content"]) for m in messages) // 4  # a rough token count
        self.turn += 1
        if self.mode == "error":
            return Reply(500, {"error": {"message": "upstream exploded", "type": "server"}})
        if self.mode == "refusal":
            return Reply(200, completion(None, refusal="I can't help with that."))
        if self.mode == "malformed":
            return Reply(200, completion('{"message": "Tell me more", "action": '))
        topic, action = plan["topic"], plan["action"]
        text = (f"Thanks for sharing. Question {self.turn}: what would you like HR to know "
                f"about {topic or 'anything else'}?")
        if self.mode == "schema":
            action, topic = "close", "made-up-topic"
        if self.mode == "leak":
            hidden = messages[0]["content"].split("hidden context: ")[1].split("\n")[0]
            text = f"Between us, {hidden} — how do you feel about that?"
        reply = Reply(200, completion(json.dumps({
            "message": text, "action": action, "topic": topic,
            "reasoning": f"stub followed the plan ({plan['action']})",
        }), prompt_tokens=prompt_tokens))
        if self.mode == "slow":
            reply.delay = self.slow_seconds
        return reply


class InsightsStub(StubServer):
    """Answers the LLM insights engine's three steps (``insights_map``, ``insights_reduce``,
    ``insights_summary``) plausibly: a map cites, for each theme below, every passage whose
    text carries its words, with the sentence that does as a quote; a reduce merges themes
    and questions of one label; a summary picks the first quotes and one action per pattern.

    ``fail(step, body)`` may return a Reply to send instead (an HTTP error, invalid JSON);
    ``tamper(step, answer, data)`` may change an answer before it is sent. The bench uses
    it too (it imports no pytest)."""

    THEMES = (  # label, signal, words (the answer bank's planted themes)
        ("Exhaustion and on-call load", "burnout",
         r"exhausted|on-call|stretched thin|overwhelmed"),
        ("Pay below the market", "pay_recognition", r"underpaid|salary|bonus this year"),
        ("Thinking of leaving", "flight_risk",
         r"recruiter|if nothing changes|looking for a new job"),
        ("Office parking", None, r"parking"),
        ("Outdated documentation", None, r"documentation"),
    )
    SENTENCE = re.compile(r"(?<=[.!?])\s+")

    def __init__(self, *, fail=None, tamper=None):
        self.fail, self.tamper = fail, tamper
        super().__init__(responder=self._answer)

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    def calls(self, step: str | None = None) -> list[dict]:
        bodies = [r.json() for r in self.requests if r.path.endswith("/chat/completions")]
        return [b for b in bodies if step is None or step_of(b) == step]

    def _answer(self, request: Recorded) -> Reply:
        body = request.json()
        step = step_of(body)
        reply = self.fail(step, body) if self.fail else None
        if reply is not None:
            return reply
        data = data_of(body)
        answer = getattr(self, f"_{step}")(data)
        if self.tamper:
            answer = self.tamper(step, answer, data)
        tokens = sum(len(m["content"]) for m in body["messages"]) // 4  # a rough count
        return Reply(200, completion(json.dumps(answer), prompt_tokens=tokens))

    def _sentence(self, text: str, words: str) -> str:
        return next((s for s in self.SENTENCE.split(text) if re.search(words, s, re.I)), text)

    def _map(self, passages: list[dict]) -> dict:
        said = [p for p in passages if not p.get("asked")]
        themes = []
        for label, signal, words in self.THEMES:
            cited = [p for p in said if re.search(words, p["text"], re.I)]
            if cited:
                themes.append({
                    "label": label, "description": f"{label} came up.", "signal": signal,
                    "terms": label.lower().split()[:3], "passages": [p["id"] for p in cited],
                    "quotes": [{"passage": p["id"], "text": self._sentence(p["text"], words)}
                               for p in cited[:2]]})
        topics: dict[str, list[dict]] = {}
        for p in said:
            topics.setdefault(p["topic"], []).append(p)
        questions: dict[str, list[str]] = {}
        for p in passages:
            if p.get("asked"):
                questions.setdefault(p["text"], []).append(p["id"])
        return {
            "themes": themes,
            "topics": [{"topic": t, "note": f"{len(ps)} answers on {t}.",
                        "quotes": [{"passage": ps[0]["id"],
                                    "text": self.SENTENCE.split(ps[0]["text"])[0]}]}
                       for t, ps in topics.items()],
            "questions": [{"question": q, "passages": ids} for q, ids in questions.items()],
        }

    def _reduce(self, data: dict) -> dict:
        def merge(items: list[dict], text: str) -> dict[str, list[dict]]:
            out: dict[str, list[dict]] = {}
            for item in items:
                out.setdefault(item[text], []).append(item)
            return out

        themes = merge(data["themes"], "label")
        questions = merge(data["questions"], "question")
        return {
            "themes": [{"label": label, "description": items[0]["description"],
                        "signal": items[0]["signal"], "terms": label.lower().split()[:3],
                        "members": [i["id"] for i in items]} for label, items in themes.items()],
            "topics": [{"topic": t["topic"], "note": t["notes"][0]} for t in data["topics"]],
            "questions": [{"question": q, "members": [i["id"] for i in items]}
                          for q, items in questions.items()],
        }

    def _summary(self, data: dict) -> dict:
        return {
            "health": f"Stub health over {data['figures']['interviews']} interviews.",
            "key_quotes": [q["id"] for q in data["quotes"][:4]],
            "actions": [{"text": f"Follow up on {p['label'].lower()}.", "pattern_id": p["id"],
                         "topic": None} for p in data["patterns"][:3]],
        }


def step_of(body: dict) -> str:
    return body["response_format"]["json_schema"]["name"].removeprefix("insights_")


def data_of(body: dict):
    """The data of an insights request: its user message after the heading line."""
    content = next(m["content"] for m in body["messages"] if m["role"] == "user")
    rest = content.split("\n", 1)[1]
    if step_of(body) == "map":
        return [json.loads(line) for line in rest.splitlines() if line.strip()]
    return json.loads(rest)
