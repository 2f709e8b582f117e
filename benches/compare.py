#!/usr/bin/env python3
"""Compares two NDJSON outputs of the benchmark mapping.

usage: compare.py [--bytes] EXPECTED ACTUAL

Default (value) mode: line by line, each line is parsed with Python's json
using decimal.Decimal for every number, and the parsed documents must be
equal: same keys in the same order, same strings/booleans/nulls, and numbers
equal as exact decimals (so jq's 12 equals flowc's 12.00, but 4.17 never
equals 4.18 or 4.1699999). No tolerance.
--bytes: the files must be byte-identical (used for flowc vs the serde
baseline, which both print decimals with their exact scale).
Exits 0 when equal, 1 with the first differences otherwise.
"""
import json
import sys
from decimal import Decimal
from itertools import zip_longest


def load(line):
    return json.loads(line, parse_float=Decimal, parse_int=Decimal,
                      object_pairs_hook=lambda pairs: ("obj", tuple(pairs)))


def main():
    args = sys.argv[1:]
    exact = "--bytes" in args
    args = [a for a in args if a != "--bytes"]
    expected, actual = args
    if exact:
        with open(expected, "rb") as a, open(actual, "rb") as b:
            if a.read() == b.read():
                print(f"equal (byte-identical): {actual}")
                return 0
    diffs = 0
    n = 0
    with open(expected) as a, open(actual) as b:
        for n, (la, lb) in enumerate(zip_longest(a, b), 1):
            if la is None or lb is None:
                print(f"line {n}: {'expected' if la is None else 'actual'} file ended early")
                diffs += 1
                break
            if exact and la != lb or load(la) != load(lb):
                diffs += 1
                if diffs <= 5:
                    print(f"line {n} differs:\n  expected {la.strip()[:400]}\n  actual   {lb.strip()[:400]}")
    if diffs:
        print(f"NOT EQUAL: {diffs} differing lines ({actual} vs {expected})")
        return 1
    print(f"equal ({'bytes' if exact else 'exact decimal values, key order'}; {n} lines): {actual}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
