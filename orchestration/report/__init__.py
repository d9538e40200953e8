"""The HTML report for marketers, drawn from the published tables (see build.py)."""

from orchestration.report.build import (
    CHARTS,
    NO_AUDIENCES,
    REPORT_NAME,
    Report,
    build_report,
    report_path,
)

__all__ = ["CHARTS", "NO_AUDIENCES", "REPORT_NAME", "Report", "build_report", "report_path"]
