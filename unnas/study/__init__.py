"""The sample-based study: jobs in an SQLite store (``store``); study configs, recipes and frozen configs
(``config``, ``config_keys``, ``ranker_tasks``); architecture sets (``archs``); creating and growing a study
(``create``); one job (``jobs``); workers (``worker``); rank statistics (``stats``), plots (``plots``) and the report
(``report``)."""
