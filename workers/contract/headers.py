"""Names of the Kafka headers newswire writes and reads between its own stages (and the trace id consumers see)."""

from __future__ import annotations

__all__ = ["REVISION_HEADER", "SUBMISSION_HEADER", "TRACE_HEADER"]

#: One id per submission, carried by every message derived from it (also on the articles and dead-letter topics).
TRACE_HEADER = "trace_id"
#: The input message a forwarded submission came from (internal streams only).
SUBMISSION_HEADER = "newswire_submission"
#: A record of a changed article carries its revision message from the process step (which holds the
#: article's last version) to the step that writes the article record, which writes the revision beside it.
REVISION_HEADER = "newswire_revision"
