"""HallCloud benchmarks: each ``bench_*.py`` module exposes ``run() -> str`` returning a printed table."""
