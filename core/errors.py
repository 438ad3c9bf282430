"""Errors whose message is shown to the user. Messages name files and columns, never note text."""


class CasenotesError(Exception):
    """Base class: str(error) is a single line that is safe to show and log."""


class InputError(CasenotesError):
    """The input file cannot be read as a table of notes."""


class ConfigurationError(CasenotesError):
    """A setting or model is missing or unusable."""


class OutputError(CasenotesError):
    """The output cannot be written where asked."""


class Cancelled(CasenotesError):
    """The run was cancelled between batches; what is done is kept."""
