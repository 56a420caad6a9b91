"""Summarise a pip-audit JSON report for .ci/audit; exit 1 only when an advisory has a fixed version to move to.

Usage: ``python3 .ci/audit_summary.py REPORT.json``. Advisories without a fix and packages the advisory service
could not look up are reported and do not fail.
"""

from __future__ import annotations

import json
import sys
from typing import Any


def summarise(report: Any) -> tuple[list[str], int]:
    """(lines to print, exit status) for a pip-audit JSON report."""
    deps: list[dict[str, Any]] = report.get("dependencies", []) if isinstance(report, dict) else report
    fixable: list[str] = []
    unfixed: list[str] = []
    skipped = [f"{d.get('name')}: {d['skip_reason']}" for d in deps if d.get("skip_reason")]
    for dep in deps:
        for vuln in dep.get("vulns", []):
            ids = " ".join([str(vuln.get("id")), *vuln.get("aliases", [])])
            fixes = vuln.get("fix_versions") or []
            line = f"{dep['name']}=={dep.get('version')} {ids}"
            if fixes:
                fixable.append(f"{line} -> fixed in {', '.join(fixes)}")
            else:
                unfixed.append(f"{line} (no fix yet)")
    lines = [
        f".ci/audit: {len(deps) - len(skipped)} of {len(deps)} locked packages audited; "
        f"{len(fixable)} advisories with a fix, {len(unfixed)} without"
    ]
    if skipped:
        lines.append(f"  {len(skipped)} not audited (unknown to or unreachable at the advisory service):")
        lines.append("  " + "; ".join(skipped[:5]) + (" ..." if len(skipped) > 5 else ""))
    lines += ["  " + line for line in fixable + unfixed]
    return lines, 1 if fixable else 0


def main(path: str) -> int:
    with open(path, encoding="utf-8") as fh:
        lines, status = summarise(json.load(fh))
    print("\n".join(lines))
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
