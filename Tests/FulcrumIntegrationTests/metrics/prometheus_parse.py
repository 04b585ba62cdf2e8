#!/usr/bin/env python3
"""Checks Prometheus text exposition (format 0.0.4) read on stdin, as a running fulcrumd serves it.

Used by FulcrumIntegrationTests (StatusSocketTests) on `show metrics` and HTTP GET /metrics.

Parses it with the reference parser (prometheus_client.parser.text_string_to_metric_families),
then fails (exit 1) on what that parser lets through but Prometheus would reject or mis-store:
a series (name + label set) written twice, a family's samples split into separate blocks, a
family declared twice, or samples without a HELP/TYPE. Prints a one-line summary on success.

Usage: curl -s http://127.0.0.1:9469/metrics | python3 prometheus_parse.py [--require NAME ...]
Needs: prometheus_client (Debian: apt-get install python3-prometheus-client; else pip install prometheus_client)
"""
import argparse
import re
import sys

from prometheus_client.parser import text_string_to_metric_families

NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")


def declared_blocks(text):
    """Families in the order their # TYPE lines appear, and the problems of the raw layout."""
    problems = []
    typed = []
    helped = set()
    current = None
    seen_blocks = set()
    for number, line in enumerate(text.split("\n"), 1):
        if not line:
            continue
        if line.startswith("# HELP "):
            name = line.split(" ", 3)[2]
            if name in helped:
                problems.append(f"line {number}: HELP for {name} twice")
            helped.add(name)
            continue
        if line.startswith("# TYPE "):
            parts = line.split(" ")
            if len(parts) != 4:
                problems.append(f"line {number}: malformed TYPE line")
                continue
            name = parts[2]
            if name in seen_blocks:
                problems.append(f"line {number}: TYPE for {name} twice")
            if name not in helped:
                problems.append(f"line {number}: {name} has TYPE but no HELP before it")
            seen_blocks.add(name)
            typed.append(name)
            current = name
            continue
        if line.startswith("#"):
            continue
        sample = re.split(r"[{ ]", line, maxsplit=1)[0]
        if current is None or sample != current:
            problems.append(f"line {number}: sample {sample} outside the block of its family ({current})")
    return typed, problems


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--require", action="append", default=[],
                        help="a metric family that must be present (as written on its TYPE line)")
    args = parser.parse_args()
    text = sys.stdin.read()
    if not text.endswith("\n"):
        print("error: exposition does not end with a newline", file=sys.stderr)
        return 1

    typed, problems = declared_blocks(text)
    try:
        families = list(text_string_to_metric_families(text))
    except Exception as error:  # the parser raises ValueError and friends on bad input
        print(f"error: prometheus_client cannot parse it: {error}", file=sys.stderr)
        return 1

    series = set()
    samples = 0
    for family in families:
        if not NAME.match(family.name):
            problems.append(f"bad family name {family.name!r}")
        if family.type == "counter" and not any(s.name.endswith("_total") for s in family.samples) \
                and family.samples:
            problems.append(f"counter {family.name} has no _total sample")
        for sample in family.samples:
            samples += 1
            key = (sample.name, tuple(sorted(sample.labels.items())))
            if key in series:
                problems.append(f"duplicate series {sample.name}{dict(key[1])}")
            series.add(key)

    for name in args.require:
        if name not in typed:
            problems.append(f"required family {name} missing")

    if problems:
        for problem in problems:
            print(f"error: {problem}", file=sys.stderr)
        return 1
    print(f"ok: {len(families)} families, {samples} samples, {len(series)} distinct series")
    return 0


if __name__ == "__main__":
    sys.exit(main())
