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
    # ---- end triggers ----
    return ap


def _upgrade(args: argparse.Namespace) -> int:
    from core import db

    db.upgrade()
    return 0


COMMANDS[("upgrade", None)] = _upgrade


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return COMMANDS[(args.group, getattr(args, "command", None))](args)


if __name__ == "__main__":
    sys.exit(main())
