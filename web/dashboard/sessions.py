"""Sessions: the list HR starts from."""

from __future__ import annotations

from flask import render_template, request

from web.dashboard import bp, get


@bp.get("/sessions")
def sessions():
    data = get("/sessions", limit=50, cursor=request.args.get("cursor"))
    return render_template("dashboard/sessions/list.html", active="sessions",
                           sessions=data["sessions"], next=data["next"])
