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
    return ap


def _upgrade(args: argparse.Namespace) -> int:
    from core import db

    db.upgrade()
    return 0


COMMANDS[("upgrade", None)] = _upgrade


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


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return COMMANDS[(args.group, getattr(args, "command", None))](args)


if __name__ == "__main__":
    sys.exit(main())
