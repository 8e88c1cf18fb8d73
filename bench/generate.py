"""Print how long the sandbox population takes to build: `python bench/generate.py [n ...]`."""

from __future__ import annotations

import sys
import time

from syncd.sandbox.generate import generate


def main(sizes: list[int]) -> None:
    for n in sizes:
        started = time.perf_counter()
        population = generate(n)
        elapsed = time.perf_counter() - started
        events = sum(len(p.events) for p in population.people)
        print(f"{n:>7} people  {events:>9} events  {elapsed:6.2f} s")


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [5_000, 50_000])
