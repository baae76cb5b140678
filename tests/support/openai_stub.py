"""A loopback OpenAI-compatible server (POST /v1/chat/completions) for the LLM interviewer.

It reads the PLAN message our strategy sends and answers in the chosen ``mode``:
good, malformed, schema (off-plan), slow, refusal, leak (quotes hidden context), error.
"""

from __future__ import annotations

import json
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
