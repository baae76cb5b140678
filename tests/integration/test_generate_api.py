"""HR drafts a SessionType from a description, reviews and edits it, publishes, uses it."""

from tests.support.factories import make_session

DESCRIPTION = "I want to understand why our mid-level engineers are leaving"


def test_generate_returns_an_editable_draft_that_must_be_published_before_use(api, library):
    resp = api.post("/session-types/generate", {"description": DESCRIPTION})
    assert resp.status_code == 201
    draft = resp.get_json()
    assert draft["status"] == "draft" and draft["builtin"] is False
    assert draft["generation"]["strategy"] == "offline"
    assert 5 <= len(draft["topics"]) <= 7
    labels = " ".join(t["label"].lower() for t in draft["topics"])
    assert "leaving" in labels and "growth" in labels

    refused = api.post("/sessions", {"session_type": draft["slug"], "name": "Too early"})
    assert refused.status_code == 409
    assert refused.get_json()["error"]["code"] == "draft_session_type"

    topics = draft["topics"]
    edited = [{"id": topics[1]["id"], "label": "Career growth for mid-levels",
               "priority": "high"}] + [{"id": t["id"]} for t in topics[2:]] + [
        {"label": "Compensation", "description": "Is pay competitive?", "priority": "medium"}]
    resp = api.patch(f"/session-types/{draft['id']}", {"topics": edited, "status": "published",
                                                        "name": "Engineer attrition"})
    assert resp.status_code == 200, resp.get_json()
    published = resp.get_json()
    assert published["status"] == "published" and published["name"] == "Engineer attrition"
    assert [t["label"] for t in published["topics"]][0] == "Career growth for mid-levels"
    assert published["topics"][0]["description"] == topics[1]["description"]  # kept
    assert published["topics"][-1]["key"] == "compensation"

    session = make_session(api, slug=draft["slug"])
    assert [t["label"] for t in session["topics"]] == [t["label"] for t in published["topics"]]


def test_generating_twice_gives_distinct_slugs(api, library):
    first = api.post("/session-types/generate", {"description": DESCRIPTION}).get_json()
    second = api.post("/session-types/generate", {"description": DESCRIPTION}).get_json()
    assert first["slug"] != second["slug"]


def test_blank_or_missing_description_is_400(api, library):
    for body in ({}, {"description": "   "}, {"description": 12}, {"description": "x" * 2001}):
        resp = api.post("/session-types/generate", body)
        assert resp.status_code == 400
        assert "description" in resp.get_json()["error"]["message"]


def test_shipped_types_cannot_be_edited(api, library):
    resp = api.patch("/session-types/stay-interview", {"name": "Mine now"})
    assert resp.status_code == 409
    assert api.get("/session-types/stay-interview").get_json()["name"] == "Stay Interview"


def test_generate_through_the_llm_stub(make_app):
    from tests.conftest import ADMIN_TOKEN
    from tests.support.factories import ApiClient
    from tests.support.stub_server import Reply, StubServer

    draft = {"name": "Engineer exits", "purpose": "Learn why engineers leave.",
             "anonymity": "named", "topics": [
                 {"label": f"Topic {i}", "description": "What HR wants to learn.",
                  "probing_guidance": "Ask for an example.", "priority": "high",
                  "context": "Background.", "opening_question": f"What about topic {i}?",
                  "probes": ["Could you say more?", "What is an example?", "Why is that?"]}
                 for i in range(5)]}
    import json

    body = {"id": "x", "object": "chat.completion", "created": 0, "model": "m",
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": json.dumps(draft)}}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20}}
    with StubServer(default=Reply(200, body)) as stub:
        app = make_app(openai_api_key="k", openai_base_url=stub.url + "/v1")
        api = ApiClient(app.test_client(), ADMIN_TOKEN)
        resp = api.post("/session-types/generate", {"description": DESCRIPTION})
    assert resp.status_code == 201
    out = resp.get_json()
    assert out["generation"]["strategy"] == "llm" and out["name"] == "Engineer exits"
    assert [t["key"] for t in out["topics"]] == [f"topic-{i}" for i in range(5)]
