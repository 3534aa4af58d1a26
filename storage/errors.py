"""The storage error family: callers catch these, never a driver's own exceptions."""


class StorageError(Exception):
    """Root of everything the storage layer raises."""


class StorageBusy(StorageError):
    """The database stayed locked longer than the busy timeout; nothing was changed."""


class MigrationError(StorageError):
    """A schema migration could not be applied."""


class DatabaseUnreachable(StorageError):
    """The database server named by ``DATABASE_URL`` could not be connected to."""


class ConfigurationError(StorageError):
    """``DATABASE_URL`` or another storage setting is not understood."""
