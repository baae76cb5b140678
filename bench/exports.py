"""Exports benchmark: a bulk export of 1,000 and 10,000 completed interviews as CSV and as
a ZIP of PDF transcripts, through the database, as the job builds it.

    .venv/bin/python -m bench.exports [--sizes 1000 10000] [--formats csv zip jsonl]
                                      [--database-url URL] [--anonymity named|aggregated]

For each size: a fresh database (a SQLite file in a temporary directory, or with
--database-url a PostgreSQL server), the Stay Interview session and n completed interviews
seeded as ``bench/insights.py`` seeds them (four answers each, set-based inserts), and their
figures computed once (``analytics.backfill``, as they are when an interview ends: timed
apart, it is not the export's work). Then for each format an export is requested and run by
``core.exports.run``, the job's own code: plan, documents a batch at a time, the file
written, stored in ``export_file`` pieces; and read back as a download reads it. Printed:
seconds for the run and the download, interviews per second, the file's size.
Nothing is asserted: it measures and prints.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from bench.insights import fresh_database, seed


def measure(n: int, formats: list[str], anonymity: str) -> list[dict]:
    from core import analytics, db, exports

    seed(n, anonymity)
    started = time.perf_counter()
    with db.session_scope() as s:
        analytics.backfill(s)
    figured = time.perf_counter() - started
    out = []
    for fmt in formats:
        with db.session_scope() as s:
            export_id = exports.request(s, fmt, exports.Filters(), session_ids=None,
                                        identity=True, actor="bench").id
        started = time.perf_counter()
        status = exports.run(export_id)
        ran = time.perf_counter() - started
        started = time.perf_counter()
        size = sum(len(piece) for piece in exports.chunks(export_id))
        read = time.perf_counter() - started
        out.append({"interviews": n, "format": fmt, "anonymity": anonymity, "status": status,
                    "figures_s": round(figured, 2), "run_s": round(ran, 2),
                    "per_second": round(n / ran) if ran else None,
                    "download_s": round(read, 2), "megabytes": round(size / 2**20, 1)})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--formats", nargs="+", default=["csv", "zip"],
                        choices=["csv", "jsonl", "zip"])
    parser.add_argument("--database-url", default=None,
                        help="a PostgreSQL server (postgresql://…/anything): a fresh database "
                             "per size is made on it; default: SQLite files")
    parser.add_argument("--anonymity", choices=["named", "aggregated"], default="named")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    from core import db
    from core.config import load_settings, using

    figures = []
    with tempfile.TemporaryDirectory() as workdir:
        for n in args.sizes:
            url, drop = fresh_database(args.database_url, n, Path(workdir))
            try:
                with using(load_settings(database_url=url, var_dir=workdir,
                                         public_base_url="https://parley.example")):
                    db.upgrade(url)
                    figures += measure(n, args.formats, args.anonymity)
            finally:
                drop()
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    for f in figures:
        print(f"{f['interviews']:>6} interviews ({f['anonymity']}) as {f['format']:<5}: "
              f"run {f['run_s']:>7} s ({f['per_second']} interviews/s), download "
              f"{f['download_s']} s, {f['megabytes']} MB  [{f['status']}; figures computed "
              f"beforehand in {f['figures_s']} s]")


if __name__ == "__main__":
    main()
