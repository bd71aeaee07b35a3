"""Errors that reach the user as one line (the command line turns them into ``unnas: error: ...``, exit 2)."""


class ConfigError(ValueError):
    """A setting that cannot work (an impossible size, an option the chosen space does not have); names the fix."""
