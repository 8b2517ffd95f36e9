"""The exceptions the provenance ledger raises.

They extend the tree in `vpm.errors`: the `UserError` subclasses are mistakes
the user can fix (a missing ledger, an unknown record id, an unusable key
file, a key folder without a keyring, an export file that exists already).
`LedgerWriteError`, `ExportWriteError` and `InvalidProvDocument` are run-time
failures.
"""

from vpm.errors import UserError, VpmError


class LedgerNotFound(UserError):
    """The provenance ledger file does not exist."""


class RecordNotFound(UserError):
    """No ledger record has the requested seq or id, or several have the id."""


class SigningKeyExists(UserError):
    """A signing key exists already and rotation was not requested."""


class SigningKeyInvalid(UserError):
    """The signing key or a keyring file cannot be used."""


class KeyringNotFound(UserError):
    """The key folder given for verification has no keyring folder."""


class ExportPathInvalid(UserError):
    """The export path is a folder or lies inside a vpm data folder."""


class ExportFileExists(UserError):
    """The export file exists and overwriting it was not requested."""


class LedgerWriteError(VpmError):
    """A record could not be appended to the ledger."""


class InvalidProvDocument(VpmError):
    """A record's PROV-JSON document cannot be loaded by `prov`."""


class ExportWriteError(VpmError):
    """The export file could not be written."""
