"""Webhooks: register an endpoint for events, read its deliveries, deliver one again
(core/webhooks.py says what is sent; channels/webhooks.py sends it)."""

from __future__ import annotations

from typing import Any

from flask import current_app, jsonify
from sqlalchemy import select

from channels.webhooks import url_refusal
from core import db, webhooks
from core.models import WebhookDelivery, WebhookEndpoint
from web.api import (
    audit,
    body,
    bp,
    get_or_404,
    iso,
    not_found,
    page,
    principal,
    unprocessable,
)
from web.schemas import MAX_ID, WebhookCreate


def endpoint_json(endpoint: WebhookEndpoint, *, secret: bool = False) -> dict[str, Any]:
    out = {"id": endpoint.id, "url": endpoint.url, "events": list(endpoint.events),
           "secret_hint": webhooks.hint(endpoint.secret), "created_by": endpoint.created_by,
           "created_at": iso(endpoint.created_at)}
    if secret:  # the answer that creates it, and no other
        out["secret"] = endpoint.secret
    return out


def delivery_json(d: WebhookDelivery) -> dict[str, Any]:
    return {"id": d.id, "event": d.event, "event_id": d.event_id, "status": d.status,
            "attempts": d.attempts, "last_status_code": d.last_status_code,
            "last_error": d.last_error, "last_response": d.last_response,
            # the event's own time (an aggregated session's interview event: to the hour)
            "created_at": d.payload.get("created"), "delivered_at": iso(d.delivered_at),
            "next_attempt_at": iso(d.next_attempt_at) if d.status == "pending" else None,
            "redelivery_of": d.redelivery_of}


@bp.post("/webhooks")
def create_webhook():
    data = body(WebhookCreate)
    refusal = url_refusal(
        data.url, allow_private=current_app.config["SETTINGS"].webhook_allow_private)
    if refusal:
        raise unprocessable(refusal)
    with db.session_scope() as s:
        endpoint = WebhookEndpoint(url=data.url, events=list(data.events),
                                   secret=data.secret or webhooks.new_secret(),
                                   created_by=principal().label)
        s.add(endpoint)
        s.flush()
        audit(s, "webhook.create", "webhook", endpoint.id, url=endpoint.url,
              events=endpoint.events)
        return jsonify(endpoint_json(endpoint, secret=True)), 201


@bp.get("/webhooks")
def list_webhooks():
    with db.session_scope() as s:
        rows, next_page = page(s, select(WebhookEndpoint))
        return jsonify(webhooks=[endpoint_json(e) for e in rows], next=next_page)


@bp.get("/webhooks/<int:webhook_id>")
def get_webhook(webhook_id: int):
    with db.session_scope() as s:
        return jsonify(endpoint_json(get_or_404(s, WebhookEndpoint, webhook_id, "webhook")))


@bp.delete("/webhooks/<int:webhook_id>")
def delete_webhook(webhook_id: int):
    """The endpoint, its secret and its deliveries: nothing more is sent to it."""
    with db.session_scope() as s:
        endpoint = get_or_404(s, WebhookEndpoint, webhook_id, "webhook")
        audit(s, "webhook.delete", "webhook", endpoint.id, url=endpoint.url)
        s.delete(endpoint)
    return "", 204


@bp.get("/webhooks/<int:webhook_id>/deliveries")
def list_webhook_deliveries(webhook_id: int):
    with db.session_scope() as s:
        get_or_404(s, WebhookEndpoint, webhook_id, "webhook")
        rows, next_page = page(s, select(WebhookDelivery).where(
            WebhookDelivery.endpoint_id == webhook_id), newest_first=True)
        return jsonify(deliveries=[delivery_json(d) for d in rows], next=next_page)


@bp.post("/webhooks/<int:webhook_id>/deliveries/<int:delivery_id>/redeliver")
def redeliver_webhook_delivery(webhook_id: int, delivery_id: int):
    """A new delivery of the same event (same id, same body), whatever became of this one."""
    with db.session_scope() as s:
        get_or_404(s, WebhookEndpoint, webhook_id, "webhook")
        delivery = s.get(WebhookDelivery, delivery_id) if 0 < delivery_id <= MAX_ID else None
        if delivery is None or delivery.endpoint_id != webhook_id:
            raise not_found("delivery", delivery_id)
        again = webhooks.redeliver(s, delivery)
        audit(s, "webhook.redeliver", "webhook", webhook_id, delivery=delivery_id,
              event_id=delivery.event_id, new_delivery=again.id)
        return jsonify(delivery_json(again)), 201
