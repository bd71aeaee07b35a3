"""The sample-based study: jobs in an SQLite store (``store``), workers (``worker``), rank statistics
(``stats``), plots (``plots``) and the report (``report``)."""
