"""Redaction benchmark: how long ``core.privacy.redact`` takes on messages of many digit groups.

    .venv/bin/python -m bench.redact [--groups 400 2500]

A web message may hold 5,000 characters, so about 2,500 one-digit groups ("7 7 7 …"),
the worst case for the card-number scan. Prints seconds per call; asserts nothing.
"""

from __future__ import annotations

import argparse
import time

from core import privacy


def message(groups: int) -> str:
    return "card 4111 1111 1111 1111, then " + "7 " * groups


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, nargs="+", default=[100, 400, 2500])
    args = parser.parse_args()
    for groups in args.groups:
        text = message(groups)
        for name, func in (("cards", privacy._cards), ("redact", privacy.redact)):
            start = time.perf_counter()
            func(text)
            print(f"{groups:>6} groups ({len(text):>5} chars)  {name:<6} "
                  f"{time.perf_counter() - start:8.4f} s")


if __name__ == "__main__":
    main()
