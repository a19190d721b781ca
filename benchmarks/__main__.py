"""``make bench``: run every benchmark module (or those named on the command line) and print tables.

Usage: ``python -m benchmarks [NAME ...]`` where NAME is a module suffix such as ``linked_clones``.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
import time
import traceback

import benchmarks


def main(argv: list[str]) -> int:
    names = sorted(m.name for m in pkgutil.iter_modules(benchmarks.__path__) if m.name.startswith("bench_"))
    if argv:
        wanted = {a if a.startswith("bench_") else f"bench_{a}" for a in argv}
        unknown = wanted - set(names)
        if unknown:
            print(f"unknown benchmark(s): {', '.join(sorted(unknown))}; known: {', '.join(names)}")
            return 2
        names = [n for n in names if n in wanted]
    failed = 0
    for name in names:
        print(f"\n=== {name.removeprefix('bench_')} ===", flush=True)
        started = time.monotonic()
        try:
            module = importlib.import_module(f"benchmarks.{name}")
            print(module.run(), flush=True)
        except Exception:
            failed += 1
            traceback.print_exc()
        print(f"({name} took {time.monotonic() - started:.1f} s)", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
