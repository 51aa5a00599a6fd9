#!/usr/bin/env python3
"""Production code compiles without the test-only definitions.

    production_flags.py BUILD_DIR

Reads BUILD_DIR/compile_commands.json. Every translation unit under services/ must be compiled
without SMARTBUS_SHARED_DATA and SMARTBUS_SOURCE_DIR (where the real data sets and the source
tree are: tests/ and bench/ define them for their own code, production code must not depend on
where it was built). So that this check can fail, the tests' commands must carry them (else the
detection is broken and it says so). Exit 0 ok, 1 a finding, 77 (skipped) without the file.
"""
import json
import os
import re
import sys

TEST_ONLY = ("SMARTBUS_SHARED_DATA", "SMARTBUS_SOURCE_DIR")
# A unity batch (SMARTBUS_UNITY_BUILD): its command compiles the sources it #includes.
UNITY_FILE = re.compile(r"[/\\]Unity[/\\]unity_\d+_cxx\.cxx$")


def sources_of(path):
    if not UNITY_FILE.search(path):
        return [path]
    with open(path, encoding="utf-8") as f:
        return [os.path.normpath(s) for s in re.findall(r'^#include "([^"]+)"', f.read(), re.M)]


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    db_path = os.path.join(sys.argv[1], "compile_commands.json")
    if not os.path.exists(db_path):
        print(f"SKIP production_flags: no {db_path} (configure with CMake first)")
        return 77
    src_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    with open(db_path, encoding="utf-8") as f:
        db = json.load(f)
    bad, services, tests_with, tests = [], 0, 0, 0
    for e in db:
        cmd = e.get("command") or " ".join(e.get("arguments", []))
        found = [d for d in TEST_ONLY if f"-D{d}=" in cmd or f"-D {d}=" in cmd]
        for path in sources_of(os.path.normpath(os.path.join(e["directory"], e["file"]))):
            src = os.path.relpath(path, src_root)
            if src.startswith("services" + os.sep):
                services += 1
                if found:
                    bad.append(f"{src}: {', '.join(found)}")
            elif src.startswith("tests" + os.sep):
                tests += 1
                tests_with += len(found) == len(TEST_ONLY)
    for b in bad:
        print(f"FAIL {b}: a test-only definition reaches production code")
    if tests == 0 or tests_with == 0:
        print(f"FAIL production_flags: none of the {tests} test sources carries {TEST_ONLY}: "
              "the detection is broken, so this check could not fail")
        return 1
    print(f"production_flags: {services - len(bad)} of {services} services/ sources without "
          f"{', '.join(TEST_ONLY)}; {tests_with} of {tests} test sources with them")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
