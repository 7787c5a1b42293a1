#!/usr/bin/env python3
"""Reads what `bench all --quick` could not run (its BENCHMARKS.json) and sorts it out.

    python3 scripts/optional-checks.py BENCHMARKS.json SKIPS_FILE OPTIONAL_CHECKS...

Every part of the benchmark that says "skipped" is mapped to a check name. A skipped check that
is one of OPTIONAL_CHECKS is appended to SKIPS_FILE as "name<TAB>reason" (scripts/test prints
that file in its summary). A skipped check that is not optional, or a part missing from the
results, is printed to stderr and makes the exit status 1: it is a failure, not a skip.
"""

import json
import sys


def main() -> int:
    results_path, skips_path, *optional = sys.argv[1:]
    with open(results_path, encoding="utf-8") as f:
        r = json.load(f)

    # (check name, reason it did not run, or None when it ran)
    seen = []
    cold = r.get("coldstart") or {}
    runtimes = {rt.get("runtime"): rt for rt in cold.get("runtimes", [])}
    for runtime, check in [
        ("Rust", "bench:coldstart-rust"),
        ("Node", "bench-peer:node"),
        ("Python", "bench-peer:python"),
    ]:
        rt = runtimes.get(runtime)
        if rt is None:
            seen.append((check, "missing from the results"))
        elif rt.get("skipped") or not rt.get("starts"):
            seen.append((check, rt.get("skipped") or "no cold start measured"))
        else:
            seen.append((check, None))
    gateways = r.get("gateways") or {}
    for side, check in [("serve", "bench:gateways-serve"), ("litellm", "bench-peer:litellm")]:
        g = gateways.get(side)
        if g is None:
            seen.append((check, "missing from the results"))
        elif g.get("skipped") or not g.get("runs"):
            seen.append((check, g.get("skipped") or "no run"))
        else:
            seen.append((check, None))
    model = r.get("model") or {}
    seen.append(("bench:embedded-model", model.get("skipped")))
    if not model.get("skipped"):
        seen.append(("bench-peer:llama.cpp", model.get("llama_cpp_skipped")))

    failed = False
    with open(skips_path, "a", encoding="utf-8") as out:
        for check, reason in seen:
            if reason is None:
                continue
            reason = " ".join(str(reason).split())
            if check in optional:
                out.write(f"{check}\t{reason}\n")
            else:
                print(f"NOT OPTIONAL, did not run: {check}: {reason}", file=sys.stderr)
                failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
