"""Errors that reach the user as one line (the command line turns them into ``unnas: error: ...``, exit 2).

Every error a user can fix by changing their input derives from :class:`UserError`; the command line catches
:data:`USER_ERRORS` in one place and prints the message alone, never a traceback. Its message names the problem
and the fix. Errors of the objectives' own package (:class:`pretext_tasks.ObjectiveError`, which cannot derive
from this module: ``pretext_tasks`` imports nothing of ``unnas``) are listed beside it.
"""

from pretext_tasks.registry import ObjectiveError


class UserError(Exception):
    """Bad input that the user can fix (a setting, a file, an architecture, a command-line value): one line."""


class ConfigError(UserError, ValueError):
    """A setting that cannot work (an impossible size, an option the chosen space does not have); names the fix."""


#: what the command line reports as one line and exit status 2
USER_ERRORS = (UserError, ObjectiveError)
