"""The exceptions vpm raises.

``VpmError`` is the root. ``UserError`` and its subclasses mean the input or
the command line is wrong and the user can fix it. The CLI prints their
message and exits with status 2. Every other ``VpmError`` is a run-time
failure (a store that cannot be opened, a write that failed) and exits 1.
"""


class VpmError(Exception):
    """Base class of every error vpm raises on purpose."""


class UserError(VpmError):
    """The user's input, file or option is invalid."""


class ProjectNotFound(UserError):
    """The project folder does not exist or is not a folder."""


class StateNotFound(UserError):
    """The project has no state document."""


class PathOutsideProject(UserError):
    """A path resolves to a place outside the project folder."""


class OutputNotWritable(UserError):
    """An output file or folder cannot be written."""


class StoreError(VpmError):
    """The store could not be opened, read or written."""
