"""The finding kinds of the audit, one module each (``rework.py``, ``bottleneck.py`` …).

A kind's module declares everything about it in one ``KIND = Kind(...)``
(:class:`~.base.Kind`): its name, its 四减 dimension, its label (zh/en), the
thresholds it reads from the rules (with their defaults), the engine step that
aggregates what it counts over events (SQL run through the engine handle, so
that DuckDB and Spark both run it; :class:`procmine.engine.findings.Step`), the
function that turns those aggregates into findings, what it needs of the log
(and what the audit says when the log lacks it), and its sentences.

Adding a finding kind: add one file here (``KIND = Kind(...)``; the registry
finds every module in this folder) and one test that audits a small log worked
out by hand. Nothing else changes: :func:`procmine.analysis.audit.audit` loops
over :func:`registered`, and the reports read the kind's name, label and
dimension from the registry. A kind defined elsewhere (a plug-in, a test) is
added with :func:`register`.
"""

from .base import (DIMENSIONS, EVIDENCE, REQUIREMENTS, Context, Finding, Kind, catalogue, counts, evidence_ids, fmt,
                   kind_of, pct, register, registered, rnd, say, statutory, top_names, unregister, work_hours)

__all__ = ["DIMENSIONS", "EVIDENCE", "REQUIREMENTS", "Context", "Finding", "Kind", "catalogue", "counts",
           "evidence_ids", "fmt", "kind_of", "pct", "register", "registered", "rnd", "say", "statutory", "top_names",
           "unregister", "work_hours"]
