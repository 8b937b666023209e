"""``python -m bench [--write] [--quick] [--only NAME ...] [--strict]``: run the benchmarks,
print one table, and with --write put the same table into docs/benchmarks.md."""

from __future__ import annotations

import argparse
import sys
import time
import traceback

from bench import (
    answers,
    booking_slots,
    dense_search,
    harness,
    inbox_list,
    knowledge_import,
    message_roundtrip,
    retention_purge,
    stream_fanout,
    ttft,
    widget_size,
)

BENCHMARKS = (
    widget_size,
    message_roundtrip,
    stream_fanout,
    ttft,
    inbox_list,
    answers,
    dense_search,
    retention_purge,
    booking_slots,
    knowledge_import,
)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/bench", description=__doc__)
    parser.add_argument("--write", action="store_true", help="update docs/benchmarks.md")
    parser.add_argument("--quick", action="store_true", help="fewer samples (a smoke run)")
    parser.add_argument(
        "--only", nargs="+", choices=[b.NAME for b in BENCHMARKS], help="run only these"
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 when a goal is missed")
    args = parser.parse_args(argv)

    info = harness.machine()  # before the run, so the load average is other work's
    started = time.perf_counter()
    ctx = harness.Context(quick=args.quick)
    sections = []
    try:
        for bench in BENCHMARKS:
            if args.only and bench.NAME not in args.only:
                continue
            print(f"running: {bench.TITLE} …", flush=True)
            first_server = len(ctx.servers)
            try:
                sections.append(bench.run(ctx))
            except Exception as exc:
                traceback.print_exc()
                for server in ctx.servers[first_server:]:
                    tail = server.log_tail()
                    if tail:
                        print(f"--- {server.name} server log ---\n{tail}", file=sys.stderr)
                first_line = (str(exc).strip().splitlines() or [""])[0][:120]
                sections.append(
                    harness.Section(bench.TITLE, error=f"{type(exc).__name__}: {first_line}")
                )
    finally:
        ctx.close()
    duration = time.perf_counter() - started

    print()
    print(harness.text_table(sections))
    print()
    for section in sections:
        for note in section.notes:
            print(f"* {note}")
    print(
        f"\n{info['cpu']}, {info['cores']} cores, {info['memory']}; Python {info['python']}, "
        f"waitress {info['waitress']}, SQLite {info['sqlite']}; load {info['load']}; "
        f"{duration:.0f} s."
    )
    failed = any(s.error for s in sections)
    if args.write and failed:
        print("not writing docs/benchmarks.md: a benchmark failed")
    elif args.write:
        harness.write_docs(harness.markdown_results(sections, info, duration))
        print(f"wrote {harness.DOCS.relative_to(harness.ROOT)}")

    results = [r for s in sections for r in s.results]
    if failed:
        return 2
    if args.strict and any(r.status == "FAIL" for r in results):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
