"""`parley …`: the operators' command line (a console script, see pyproject.toml).

Each command is a thin shell over the same core functions the HR API calls, run with the
settings of the environment (DATABASE_URL, REDIS_URL …, as the web and worker processes).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

COMMANDS: dict[tuple[str, str | None], Callable[[argparse.Namespace], int]] = {}


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="parley", description=__doc__.splitlines()[0])
    groups = ap.add_subparsers(dest="group", required=True)
    groups.add_parser("upgrade", help="migrate the database to the current schema")
    # each group adds its parser here and its function to COMMANDS
    # ---- directory ----
    directory = groups.add_parser("directory", help="the people directory")
    dcmds = directory.add_subparsers(dest="command", required=True)
    imp = dcmds.add_parser("import", help="import people from a CSV or JSON file")
    imp.add_argument("file", help="CSV (comma, semicolon or tab) or JSON")
    imp.add_argument("--dry-run", action="store_true", help="report what would change, write "
                     "nothing")
    imp.add_argument("--full", action="store_true", help="mark active people missing from the "
                     "file inactive (never deleted)")
    hier = dcmds.add_parser("hierarchy", help="show or choose where manager links come from")
    hier.add_argument("--source", choices=["manager_column", "demographic"])
    hier.add_argument("--demographic", help='with --source demographic, e.g. "Manager Email"')
    # ---- end directory ----
    # ---- triggers ----
    triggers = groups.add_parser("triggers", help="session triggers on HR dates")
    triggers_cmd = triggers.add_subparsers(dest="command", required=True)
    run = triggers_cmd.add_parser("run", help="add everyone whose trigger date has come to "
                                  "the trigger's rollout, invited at their local time "
                                  "(idempotent: nobody is invited twice)")
    run.add_argument("--today", type=_date, default=None,
                     help="the day to run for, YYYY-MM-DD (default: today, UTC)")
    # ---- end triggers ----
    # ---- analytics ----
    analytics = groups.add_parser("analytics", help="per-interview analytics")
    analytics_cmd = analytics.add_subparsers(dest="command", required=True)
    fill = analytics_cmd.add_parser("backfill", help="compute the figures of ended interviews "
                                    "that have none (they ended before migration 0016); the "
                                    "API also does it on first read")
    fill.add_argument("--session", type=int, default=None, help="only this session's")
    fill.add_argument("--recompute", action="store_true",
                      help="every ended interview's, also those that have figures")
    # ---- end analytics ----
    # ---- users ----
    users = groups.add_parser("users", help="HR accounts")
    users_cmd = users.add_subparsers(dest="command", required=True)
    create = users_cmd.add_parser("create", help="add an HR account (the first: --owner); "
                                  "without --password-stdin it prints a one-time sign-in link")
    who = create.add_mutually_exclusive_group(required=True)
    who.add_argument("--owner", metavar="EMAIL", help="an owner account for this address")
    who.add_argument("--email", help="with --role: an account for this address")
    create.add_argument("--role", choices=["owner", "member", "viewer", "analyst"])
    create.add_argument("--name", default="")
    create.add_argument("--password-stdin", action="store_true",
                        help="read the password from the first line of standard input")
    link = users_cmd.add_parser("link", help="print a new one-time sign-in link (a lost "
                                "password)")
    link.add_argument("email")
    # ---- end users ----
    return ap


def _upgrade(args: argparse.Namespace) -> int:
    from core import db

    db.upgrade()
    return 0


COMMANDS[("upgrade", None)] = _upgrade


# ---- directory ----
def _directory_import(args: argparse.Namespace) -> int:
    from pathlib import Path

    from core import db, directory
    from core.directory import imports

    try:
        data = Path(args.file).read_bytes()
    except OSError as exc:
        print(f"{args.file}: {exc.strerror}", file=sys.stderr)
        return 1
    try:
        table = imports.read(data, filename=args.file)
        imports.mapping(table.headers)
    except imports.Unreadable as exc:
        print(f"{args.file}: {exc}", file=sys.stderr)
        return 1
    with db.session_scope() as s:
        report = imports.run(s, table, mode="full" if args.full else "merge",
                             dry_run=args.dry_run)
    out = report.as_dict()
    if not args.dry_run:
        directory.after_import(out["counts"])
    print(("dry run, nothing written: " if args.dry_run else "")
          + ", ".join(f"{n} {k}" for k, n in out["counts"].items()) + f" ({out['rows']} rows)")
    for row in out["rejected"]:
        print(f"line {row['line']}: rejected: {row['reason']}")
    for row in out["unresolved"]:
        print(f"line {row['line']}: imported without a manager link: {row['reason']}")
    return 0 if report.imported else 1


def _directory_hierarchy(args: argparse.Namespace) -> int:
    from core import db
    from core.directory import hierarchy

    with db.session_scope() as s:
        try:
            if args.source:
                out = hierarchy.set_source(s, args.source, args.demographic)
            else:
                out = hierarchy.status(s)
        except hierarchy.NoSuchDemographic as exc:
            print(exc, file=sys.stderr)
            return 1
    source = out["source"] + (f" ({out['demographic']})" if out["demographic"] else "")
    print(f"source: {source}; {out['links']} links; "
          f"{'validated' if out['validated'] else 'not validated'}; "
          f"{out['unresolved_count']} unresolved")
    for row in out["unresolved"]:
        print(f"  {row['email'] or row['employee_id']}: {row['reason']}")
    return 0


COMMANDS[("directory", "import")] = _directory_import
COMMANDS[("directory", "hierarchy")] = _directory_hierarchy
# ---- end directory ----
# ---- triggers ----
def _date(text: str):
    from datetime import date

    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date YYYY-MM-DD") from None


def _triggers_run(args: argparse.Namespace) -> int:
    from core import rollouts

    added = rollouts.run_triggers(today=args.today)
    for key, count in sorted(added.items()):
        print(f"{key}: {count} added")
    if not added:
        print("no session has triggers")
    return 0


COMMANDS[("triggers", "run")] = _triggers_run
# ---- end triggers ----


# ---- analytics ----
def _analytics_backfill(args: argparse.Namespace) -> int:
    from core import analytics, db

    with db.session_scope() as s:
        done = analytics.backfill(s, session_id=args.session, recompute=args.recompute)
    print(f"{done} interview(s) figured")
    return 0


COMMANDS[("analytics", "backfill")] = _analytics_backfill
# ---- end analytics ----


# ---- users ----
def _users_create(args: argparse.Namespace) -> int:
    from core import accounts, db

    email, role = (args.owner, "owner") if args.owner else (args.email, args.role)
    if role is None:
        print("--email needs --role (owner, member, viewer or analyst)", file=sys.stderr)
        return 2
    password = sys.stdin.readline().rstrip("\r\n") if args.password_stdin else None
    with db.session_scope() as s:
        try:
            user = accounts.create_user(s, email=email, role=role, name=args.name,
                                        password=password)
        except accounts.AccountError as exc:
            print(exc, file=sys.stderr)
            return 1
        print(f"created {user.role} {user.email} (id {user.id})")
        if password is None:
            _, value = accounts.issue_token(s, user, kind="link", name="first sign-in")
            print(f"sign in once within 24 hours, and set a password: "
                  f"{accounts.signin_url(value)}")
    return 0


def _users_link(args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from core import accounts, db
    from core.models import User

    with db.session_scope() as s:
        user = s.scalar(select(User).where(User.email == accounts.normal_email(args.email)))
        if user is None or not user.active:
            print(f"no active account for {args.email}", file=sys.stderr)
            return 1
        _, value = accounts.issue_token(s, user, kind="link", name="sign-in link")
        print(f"sign in once within 24 hours: {accounts.signin_url(value)}")
    return 0


COMMANDS[("users", "create")] = _users_create
COMMANDS[("users", "link")] = _users_link
# ---- end users ----


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return COMMANDS[(args.group, getattr(args, "command", None))](args)


if __name__ == "__main__":
    sys.exit(main())
