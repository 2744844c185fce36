"""Add up pytest JUnit XML reports and print one closing line: "check: N passed, N failed"."""

import sys
import xml.etree.ElementTree as ET  # our own pytest reports, not untrusted input
from pathlib import Path


def main(paths: list[str]) -> int:
    tests = failures = errors = skipped = 0
    for path in paths:
        if not Path(path).is_file():
            print(f"missing report: {path}")
            errors += 1
            continue
        root = ET.parse(path).getroot()
        for suite in root.iter("testsuite"):
            tests += int(suite.get("tests", 0))
            failures += int(suite.get("failures", 0))
            errors += int(suite.get("errors", 0))
            skipped += int(suite.get("skipped", 0))
    passed = tests - failures - errors - skipped
    print(f"check: {passed} passed, {failures + errors} failed, {skipped} skipped")
    return 0 if failures + errors == 0 and passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
