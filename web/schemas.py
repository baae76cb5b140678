"""Request bodies of the HR API. Pydantic validates them and the OpenAPI document reuses them."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, model_validator

from core.sessions import SessionSettings


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class PersonIn(Strict):
    name: str = Field(min_length=1, max_length=200)
    email: EmailStr
    phone: str | None = Field(None, max_length=40)
    slack_user_id: str | None = Field(None, max_length=40)
    teams_user_id: str | None = Field(None, max_length=200)
    timezone: str | None = Field(None, max_length=64)
    manager_email: EmailStr | None = None
    demographics: dict[str, str] | None = None


class TopicIn(Strict):
    """A topic in a full ordered list: with ``id`` an edit (only the fields sent change),
    without one a new topic (``label`` required)."""

    id: int | None = None
    key: str | None = Field(None, min_length=1, max_length=100, pattern=r"^[a-z0-9][a-z0-9-]*$")
    label: str | None = Field(None, min_length=1, max_length=200)
    description: str = Field("", max_length=4000)
    probing_guidance: str = Field("", max_length=4000)
    priority: Literal["low", "medium", "high"] = "medium"
    context: str = Field("", max_length=4000)
    opening_question: str = Field("", max_length=1000)
    probes: list[str] = Field(default_factory=list, max_length=10)
    enabled: bool = True

    @model_validator(mode="after")
    def _new_needs_label(self):
        if self.id is None and self.label is None:
            raise ValueError("a new topic (no id) needs a label")
        return self


class SessionCreate(Strict):
    session_type: int | str
    name: str = Field(min_length=1, max_length=200)
    settings: SessionSettings | None = None
    owner: str = Field("", max_length=200)
    tags: list[str] = Field(default_factory=list, max_length=50)


class SessionPatch(Strict):
    name: str | None = Field(None, min_length=1, max_length=200)
    tags: list[str] | None = Field(None, max_length=50)
    owner: str | None = Field(None, max_length=200)
    settings: dict | None = None
    topics: list[TopicIn] | None = Field(
        None, description="The full ordered list: listed order is the new order; a topic "
        "with an id is edited, one without is added, an omitted one is removed.",
    )


class SessionClone(Strict):
    name: str | None = Field(None, min_length=1, max_length=200)


class InviteCreate(Strict):
    person: PersonIn | None = None
    person_id: int | None = None
    channel: str = "web"

    @model_validator(mode="after")
    def _one_person(self):
        if (self.person is None) == (self.person_id is None):
            raise ValueError('give exactly one of "person" or "person_id"')
        return self


class InterviewEnd(Strict):
    reason: str = Field("ended by HR", max_length=500)


class SessionTypeGenerate(Strict):
    description: str = Field(min_length=1, max_length=2000)


class SessionTypePatch(Strict):
    name: str | None = Field(None, min_length=1, max_length=200)
    purpose: str | None = Field(None, max_length=2000)
    anonymity: Literal["named", "aggregated"] | None = None
    settings: dict | None = None
    status: Literal["draft", "published"] | None = None
    topics: list[TopicIn] | None = Field(
        None, description="The full ordered list, as for PATCH /sessions/{id}.")
