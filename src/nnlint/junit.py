"""JUnit XML for CI test-report viewers (GitLab, Jenkins, Azure): one failed test case per
finding, one suite per file; a clean run is a single passing test case."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from nnlint.engine import Report
from nnlint.findings import Finding
from nnlint.rules import rule_by_code

# Characters XML 1.0 cannot carry even escaped (most C0 controls, lone surrogates).
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _xml(text: str) -> str:
    return _NOT_XML.sub("\ufffd", text)


def _suite(parent: ET.Element, name: str, tests: int, failures: int, errors: int) -> ET.Element:
    return ET.SubElement(
        parent,
        "testsuite",
        name=_xml(name),
        tests=str(tests),
        failures=str(failures),
        errors=str(errors),
        skipped="0",
    )


def _case(suite: ET.Element, finding: Finding) -> None:
    rule = rule_by_code(finding.code)
    name = f" ({rule.name})" if rule else ""
    where = finding.location[len(finding.path) + 1 :]
    case = ET.SubElement(
        suite,
        "testcase",
        name=_xml(f"{finding.code}{name} at {where}"),
        classname=_xml(finding.path),
        file=_xml(finding.path),
        line=str(finding.line),
    )
    failure = ET.SubElement(case, "failure", message=_xml(finding.text), type=finding.code)
    detail = f"{finding.location}: {finding.code} [{finding.severity}] {finding.message}"
    failure.text = _xml(f"{detail}\nhelp: {finding.help}" if finding.help else detail)


def junit(report: Report) -> str:
    """The report as a `<testsuites>` document."""
    root = ET.Element("testsuites", name="nnlint")
    by_file: dict[str, list[Finding]] = {}
    for finding in report.findings:
        by_file.setdefault(finding.path, []).append(finding)
    for path, findings in by_file.items():
        suite = _suite(root, path, len(findings), len(findings), 0)
        for finding in findings:
            _case(suite, finding)
    problems = [*report.errors, *report.unreadable]
    if problems:
        suite = _suite(root, "nnlint", len(problems), 0, len(problems))
    for problem in problems:
        case = ET.SubElement(suite, "testcase", name=_xml(problem), classname="nnlint")
        ET.SubElement(case, "error", message=_xml(problem))
    passed = not report.findings and not problems
    if passed:
        suite = _suite(root, "nnlint", 1, 0, 0)
        ET.SubElement(suite, "testcase", name="no findings", classname="nnlint")
    root.set("tests", str(len(report.findings) + len(problems) + passed))
    root.set("failures", str(len(report.findings)))
    root.set("errors", str(len(problems)))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, "unicode") + "\n"
