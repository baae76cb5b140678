"""The directory as a whole: HR's import (CSV or JSON) and the manager hierarchy's source."""

from __future__ import annotations

from flask import current_app, jsonify, request

from core import db, directory
from core.directory import hierarchy, imports
from web.api import audit, body, bp, unprocessable
from web.errors import ApiError
from web.schemas import HierarchyIn

FLAGS = {"1": True, "true": True, "0": False, "false": False}


def _table() -> imports.Table:
    """The upload: a multipart ``file``, or the JSON body itself."""
    # this route alone takes HR's whole export (100,000 rows are ~10 MB)
    request.max_content_length = current_app.config["SETTINGS"].import_max_bytes
    try:
        if request.mimetype == "multipart/form-data":
            upload = request.files.get("file")
            if upload is not None:
                return imports.read(upload.read(), filename=upload.filename or "",
                                    content_type=upload.mimetype or "")
            if "file" in request.form:  # curl -F "file=<people.csv": the text as a field
                return imports.read(request.form["file"].encode())
            raise imports.Unreadable('file: send the CSV or JSON as the multipart field "file"')
        if request.is_json:  # read here: Flask's reader lets a RecursionError through
            return imports.from_json(imports.loads(request.get_data(as_text=True)))
        if request.mimetype in ("text/csv", "text/plain", "text/tab-separated-values"):
            return imports.read(request.get_data(), content_type=request.mimetype)
    except imports.Unreadable as exc:
        raise ApiError(400, "bad_request", str(exc)) from None
    raise ApiError(400, "bad_request", "send a multipart/form-data `file`, a JSON body "
                                       "(a list of people) or text/csv")


def _flag(name: str) -> bool:
    value = request.args.get(name, "0")
    if value not in FLAGS:
        raise ApiError(400, "bad_request", f"{name}: 1 or 0 (true or false)")
    return FLAGS[value]


@bp.post("/directory/import")
def import_directory():
    dry_run = _flag("dry_run")
    mode = request.args.get("mode", "merge")
    if mode not in imports.MODES:
        raise ApiError(400, "bad_request", f"mode: one of {', '.join(imports.MODES)}")
    table = _table()
    try:
        imports.mapping(table.headers)  # a file without a key column is refused before any work
    except imports.Unreadable as exc:
        raise ApiError(400, "bad_request", str(exc)) from None
    with db.session_scope() as s:
        report = imports.run(s, table, mode=mode, dry_run=dry_run)
        out = report.as_dict()
        if not dry_run:
            audit(s, "directory.import", "directory", None, mode=mode, **out["counts"])
    if not dry_run:
        directory.after_import(out["counts"])
    return jsonify(out)


@bp.get("/directory/hierarchy")
def get_hierarchy():
    with db.session_scope() as s:
        return jsonify(hierarchy.status(s))


@bp.put("/directory/hierarchy")
def put_hierarchy():
    data = body(HierarchyIn)
    with db.session_scope() as s:
        try:
            result = hierarchy.set_source(s, data.source, data.demographic)
        except hierarchy.NoSuchDemographic as exc:
            raise unprocessable(str(exc)) from None
        audit(s, "directory.hierarchy", "directory", None, source=result["source"],
              demographic=result["demographic"], links=result["links"],
              unresolved=result["unresolved_count"])
        return jsonify(result)
