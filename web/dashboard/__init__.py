"""The HR dashboard under /dashboard: server-rendered pages over the REST API.

Every page reads and changes data through ``/api/v1``, called in this process as the
signed-in user (``call``), so what a page shows is exactly what the API lets that user see:
the roles of ``web/api/access.py``, the anonymity rule, the validation and its messages.
Scripts and the dashboard cannot drift apart because there is one API.

Pages work without JavaScript (forms post here and redirect, POST/redirect/GET); small
ES modules under ``web/static/dashboard`` add what a form cannot (the live view, a live
audience count, keyboard reordering). The Content-Security-Policy forbids inline script
and inline style, and Jinja escapes every value, so a participant's ``<script>`` is text.

Each area is its own module adding routes to ``bp``, as the API's resources do.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Any
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from flask import session as flask_session
from werkzeug.exceptions import HTTPException
from werkzeug.routing import RequestRedirect

from core import accounts, db
from web.api import access

bp = Blueprint("dashboard", __name__, url_prefix="/dashboard")

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; font-src 'self'; form-action 'self'; frame-ancestors 'none'; "
       "base-uri 'none'; object-src 'none'")
OPEN = {"dashboard.login", "dashboard.login_post"}


class Problem(Exception):
    """An API answer other than 2xx: its status, code and the API's own message."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


# ---- calling the API ------------------------------------------------------------------------

def call_raw(method: str, path: str, *, json: Any = None,
             query: dict[str, Any] | None = None) -> Response:
    """One API request (``path`` under /api/v1), run in this process as the signed-in user:
    their cookie and CSRF token go with it, so it passes the API's own ``authorise``."""
    app = current_app._get_current_object()
    headers = {"X-CSRF-Token": str(flask_session.get("csrf", ""))}
    if cookie := request.headers.get("Cookie"):
        headers["Cookie"] = cookie
    query = {k: v for k, v in (query or {}).items() if v not in (None, "")}
    # a fresh app context: the API request gets its own ``g`` (principal, settings binding)
    with app.app_context(), app.test_request_context(
            "/api/v1" + path, method=method, json=json, query_string=query, headers=headers,
            base_url=request.host_url,
            environ_base={"REMOTE_ADDR": request.remote_addr or ""}):
        return app.full_dispatch_request()


def call(method: str, path: str, *, json: Any = None,
         query: dict[str, Any] | None = None) -> Any:
    """The JSON answer of one API request, or ``Problem`` with the API's message."""
    response = call_raw(method, path, json=json, query=query)
    data = response.get_json(silent=True) if response.data else None
    if response.status_code >= 400:
        error = (data or {}).get("error") or {}
        raise Problem(response.status_code, error.get("code", "error"),
                      error.get("message", response.status))
    return data


def get(path: str, **query: Any) -> Any:
    return call("GET", path, query=query)


def can(endpoint: str) -> bool:
    """Whether the signed-in role may call this API endpoint (``api.create_session``): a
    page hides what the role may not do; the API still refuses it if asked."""
    me = g.get("principal")
    return me is not None and me.role in access.POLICY.get(endpoint, frozenset())


def change(method: str, path: str, json: Any = None, *, done: str | None = None) -> Any:
    """Make a change through the API; on success flash ``done``, on refusal flash the API's
    message and return None (the caller redirects back to the form either way)."""
    try:
        result = call(method, path, json=json)
    except Problem as exc:
        flash(exc.message, "error")
        return None
    if done:
        flash(done, "success")
    return result if result is not None else {}


def _local(target: str) -> str | None:
    """``target`` if it is a path on this site: "//host", "/\\host" and "/<tab>/host" are
    other sites to a browser (it reads a backslash as a slash, drops tabs and newlines)."""
    if target.startswith("/") and all("!" <= c <= "~" and c != "\\" for c in target) \
            and not target.startswith("//") and not urlsplit(target).netloc:
        return target
    return None


def _shows(path: str) -> bool:
    """Whether ``path`` is a page (answers GET): a form refused with a 422 is shown at the
    URL it posted to, which may answer only POST."""
    try:
        current_app.url_map.bind(request.host).match(path, method="GET")
    except RequestRedirect:
        return True
    except HTTPException:
        return False
    return True


def back(default: str) -> Response:
    """Redirect to the page the form came from (same site only), else ``default``."""
    target = request.form.get("next") or request.args.get("next") or ""
    return redirect(_local(target) or default)


# ---- sign-in, CSRF and headers --------------------------------------------------------------

def _signed_in() -> accounts.Principal | None:
    uid, version, tok = (flask_session.get(k) for k in ("uid", "ver", "tok"))
    if not all(isinstance(v, int) for v in (uid, version, tok)):
        return None
    with db.session_scope() as s:
        return accounts.principal_for_cookie(s, uid, version, tok)


def csrf_token() -> str:
    """The token every form posts back (the API's X-CSRF-Token of this sign-in; before
    signing in, one kept in the session cookie for the sign-in form)."""
    if "csrf" not in flask_session:
        flask_session["csrf"] = secrets.token_urlsafe(24)
    return str(flask_session["csrf"])


@bp.before_request
def _guard():
    g.principal = _signed_in()
    if request.endpoint not in OPEN and g.principal is None:
        flask_session.pop("uid", None)
        return redirect(url_for("dashboard.login", next=request.full_path.rstrip("?")))
    if request.method == "POST":
        sent = request.form.get("csrf", "")
        kept = str(flask_session.get("csrf", ""))
        if not kept or not hmac.compare_digest(sent.encode(), kept.encode()):
            flash("That form had expired, so nothing was changed: please try again.", "error")
            # back to the page the form was on (the form's own URL may answer only POST)
            came = urlsplit(request.referrer or "")
            same_site = came.netloc == request.host
            page = _local(came.path + (f"?{came.query}" if came.query else "")) \
                if same_site and _shows(came.path) else None
            return redirect(page or url_for("dashboard.home"))
    return None


@bp.after_request
def _headers(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = CSP
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    return response


@bp.context_processor
def _globals() -> dict[str, Any]:
    pages = current_app.view_functions
    return {"csrf_token": csrf_token, "can": can, "me": g.get("principal"),
            "has_page": lambda endpoint: endpoint in pages}


@bp.errorhandler(Problem)
def _problem(exc: Problem):
    titles = {401: "Please sign in again", 403: "Not for your role", 404: "Not found"}
    return render_template("dashboard/error.html", title=titles.get(exc.status, "Something "
                           "went wrong"), message=exc.message), exc.status


@bp.errorhandler(HTTPException)
def _http(exc: HTTPException):
    return render_template("dashboard/error.html", title=exc.name,
                           message=exc.description), exc.code or 500


@bp.get("/login")
def login():
    if g.principal is not None:
        return back(url_for("dashboard.home"))
    return render_template("dashboard/login.html", next=request.args.get("next", ""))


@bp.post("/login")
def login_post():
    email, password = request.form.get("email", ""), request.form.get("password", "")
    error = None
    with db.session_scope() as s:
        try:
            user = accounts.authenticate(s, email, password, client=request.remote_addr or "")
        except accounts.TooManyAttempts:
            user, error = None, "Too many failed sign-ins: try again in 15 minutes."
        if user is None:
            error = error or "That email and password don't match an account."
            return render_template("dashboard/login.html", next=request.form.get("next", ""),
                                   email=email, error=error), 401
        from web.api.users import start_browser_session

        row, _ = accounts.issue_token(s, user, kind="login", name="dashboard")
        start_browser_session(user, row)
    return back(url_for("dashboard.home"))


@bp.post("/logout")
def logout():
    try:
        call("POST", "/auth/logout")
    finally:
        flask_session.clear()
    flash("You are signed out.", "success")
    return redirect(url_for("dashboard.login"))


@bp.get("/")
def home():
    return redirect(url_for("dashboard.sessions"))


def init_app(app) -> None:
    """Register the dashboard, and send ``/`` to it."""
    app.register_blueprint(bp)
    app.add_url_rule("/", "root", lambda: redirect(url_for("dashboard.home")))


# each area adds its routes to bp
from web.dashboard import (  # noqa: E402,F401
    conversations,
    insights,
    one_on_ones,
    sessions,
)
