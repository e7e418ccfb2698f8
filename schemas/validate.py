#!/usr/bin/env python3
"""Validates JSON messages against streamrec's message schemas (schemas/*.schema.json).

usage: validate.py [--expect-invalid] [--schemas DIR] SCHEMA[|SCHEMA...] [FILE ...]

SCHEMA names a file DIR/SCHEMA.schema.json: clicks, items, rec-requests,
recommendations, errors, clicks.dlq. "recommendations|errors" means: exactly one of
them (a message on the `recommendations` topic is an answer or an error answer).
FILEs (default stdin) hold one JSON message per line; blank lines are skipped. A line
that is not JSON (NaN and Infinity included) is invalid.

Prints each line that is not as expected as FILE:LINE: why, then one summary line.
Exit status: 0 every message as expected (valid; or invalid with --expect-invalid),
1 otherwise or when there were no messages, 2 on a usage error or when the
jsonschema module (Debian: python3-jsonschema) is missing.
"""

import argparse
import json
import os
import sys

try:
    import jsonschema
except ImportError:  # pragma: no cover - depends on the machine
    print("validate.py: the jsonschema module is missing (Debian: apt-get install "
          "python3-jsonschema)", file=sys.stderr)
    sys.exit(2)


# Lines shown of those not as expected (the summary counts them all).
MAX_SHOWN = 20


def load_validator(directory, name):
    path = os.path.join(directory, name + ".schema.json")
    with open(path, encoding="utf-8") as f:
        schema = json.load(f)
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def reject_constant(name):
    raise ValueError("%s is not JSON" % name)


def why_invalid(validator, message):
    error = jsonschema.exceptions.best_match(validator.iter_errors(message))
    if error is None:
        return None
    where = "/".join(str(p) for p in error.absolute_path) or "(top level)"
    return "%s: %s" % (where, error.message)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("schema", help="schema name(s), e.g. clicks or recommendations|errors")
    parser.add_argument("files", nargs="*", help="JSON lines files (default: stdin)")
    parser.add_argument("--schemas", default=os.path.dirname(os.path.abspath(__file__)),
                        help="folder of the *.schema.json files (default: this script's)")
    parser.add_argument("--expect-invalid", action="store_true",
                        help="every message must FAIL validation (for broken examples)")
    args = parser.parse_args()

    try:
        validators = [(n, load_validator(args.schemas, n)) for n in args.schema.split("|")]
    except (OSError, ValueError, jsonschema.exceptions.SchemaError) as e:
        print("validate.py: %s" % e, file=sys.stderr)
        return 2

    inputs = args.files or ["-"]
    total = valid = unexpected = 0
    for path in inputs:
        f = sys.stdin if path == "-" else open(path, encoding="utf-8", errors="surrogateescape")
        with f:
            for number, line in enumerate(f, 1):
                if not line.strip():
                    continue
                total += 1
                try:
                    message = json.loads(line, parse_constant=reject_constant)
                    reasons = [(n, why_invalid(v, message)) for n, v in validators]
                    matched = [n for n, why in reasons if why is None]
                    if len(matched) == 1:
                        why = None
                    elif not matched:
                        why = "; ".join("not %s: %s" % (n, w) for n, w in reasons)
                    else:
                        why = "valid against more than one of " + ", ".join(matched)
                except ValueError as e:
                    why = "not JSON: %s" % e
                if why is None:
                    valid += 1
                if (why is None) == args.expect_invalid:
                    unexpected += 1
                    if unexpected > MAX_SHOWN:
                        continue
                    shown = line.strip()
                    if len(shown) > 300:
                        shown = shown[:300] + "..."
                    print("%s:%d: %s\n    %s" % (path, number,
                                                 why or "valid, expected invalid", shown))
    if unexpected > MAX_SHOWN:
        print("... and %d more" % (unexpected - MAX_SHOWN))
    print("validate.py: %s: %d messages, %d valid, %d invalid%s" %
          (args.schema, total, valid, total - valid,
           " (as expected)" if unexpected == 0 and total > 0 else ""))
    return 0 if unexpected == 0 and total > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
