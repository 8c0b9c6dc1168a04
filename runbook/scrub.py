"""The redaction backstop where pytest writes: log records as they are made, the ``--debug`` log,
and every report's longrepr, sections and user properties on the process that made it.

PYTEST_DONT_REWRITE: no asserts here.
"""

from __future__ import annotations

import logging

import pytest

from core import redact

__all__ = ["scrub_logs_and_debug", "scrub_report"]


def scrub_logs_and_debug(config: pytest.Config) -> None:
    """Log records are formatted and scrubbed when they are made (live logging, log files and the
    captured log alike); the ``--debug`` log is scrubbed as it is written."""
    factory = logging.getLogRecordFactory()

    def scrubbed_record(*args, **kwargs) -> logging.LogRecord:
        record = factory(*args, **kwargs)
        try:
            record.msg, record.args = redact.scrub(record.getMessage()), None
        except Exception:  # a record whose arguments do not format: leave it to logging
            return record
        if record.exc_info and not record.exc_text:
            record.exc_text = redact.scrub(logging.Formatter().formatException(record.exc_info))
        return record

    logging.setLogRecordFactory(scrubbed_record)
    config.add_cleanup(lambda: logging.setLogRecordFactory(factory))
    root = config.trace.root
    writer = getattr(root, "_writer", None)  # pluggy's TagTracer: set by --debug, no public getter
    if writer is not None:
        root.setwriter(lambda text: writer(redact.scrub(text)))


def scrub_report(report) -> None:
    """The one hook every report passes through on the process that made it: remove every
    registered secret from its longrepr, sections (captured output and logs) and user_properties,
    before xdist, JUnit, the terminal or the Markdown summary see it."""
    report.longrepr = redact.scrub_object(report.longrepr)
    report.sections = redact.scrub_object(list(report.sections))
    report.user_properties = redact.scrub_object(list(getattr(report, "user_properties", [])))
