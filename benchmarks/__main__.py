"""`python -m benchmarks [--quick] [--only NAME ...]`: run the benchmarks, print and write their tables."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
import time

from benchmarks.common import RESULTS, machine

BENCHMARKS = ("overhead", "tokens", "concurrency", "scale", "startup")


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer rounds and a smaller catalogue (under 2 minutes)")
    parser.add_argument("--only", nargs="+", choices=BENCHMARKS, default=list(BENCHMARKS), help="run only these")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)  # before mcp's own INFO set-up
    started = time.perf_counter()
    header = f"Machine: {machine()}\n\nCommand: `python -m benchmarks{' --quick' if args.quick else ''}`\n"
    print(header, flush=True)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "machine.md").write_text(header, encoding="utf-8")
    for name in args.only:
        importlib.import_module(f"benchmarks.{name}").run(args.quick).publish()
    print(f"All benchmarks done in {time.perf_counter() - started:.0f} s; tables in {RESULTS}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
