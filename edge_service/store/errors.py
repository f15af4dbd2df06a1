# SPDX-License-Identifier: Apache-2.0
"""The one exception hierarchy of the storage layer.

Contract: everything :mod:`edge_service.store` raises on purpose derives from :class:`StoreError`
and carries the data it is about (``path``, ``operation``, ``found``...) as attributes, rendered in
``__str__``. Transience is a type: only :class:`TransientStoreError` is worth retrying.

Not responsible for: deciding what to do about a failure (the workflow retries, surfaces it to
staff or gives up) or mapping errors to HTTP (the API layer does that in one handler).

    StoreError
     +-- DatabaseUnreadable        not a SQLite database, corrupt, or cannot be opened
     +-- SchemaTooNew              the file was migrated by newer code; refuse to touch it
     +-- MigrationFailed           a migration step failed; the file stays at its old version
     +-- InvalidRecord             bad input (item record, uid, topic, event id, seq), naming where
     +-- WriteFailed               one write operation raised; only it was rolled back
     +-- CommitFailed              the group commit failed; every operation in it was rolled back
     +-- StoreClosed               used after close()
     +-- TransientStoreError       worth retrying
          +-- StoreBusy            another connection held the lock past the busy timeout
"""

from __future__ import annotations


class StoreError(Exception):
    """Root of every error raised on purpose by :mod:`edge_service.store`."""

    def __init__(self, reason: str, *, path: str | None = None) -> None:
        self.reason = reason
        self.path = path
        super().__init__(reason)

    def __str__(self) -> str:
        return self.reason if self.path is None else f"{self.path}: {self.reason}"


class DatabaseUnreadable(StoreError):
    """The file is not a SQLite database, is damaged, or cannot be opened; ``cause`` says why."""

    def __init__(self, reason: str, *, path: str | None = None, cause: str | None = None) -> None:
        self.cause = cause
        super().__init__(reason, path=path)

    def __str__(self) -> str:
        text = super().__str__()
        return text if self.cause is None else f"{text} ({self.cause})"


class SchemaTooNew(StoreError):
    """The database was written by a newer LibEdge (schema ``found`` > ``supported``)."""

    def __init__(self, *, path: str | None, found: int, supported: int) -> None:
        self.found = found
        self.supported = supported
        super().__init__(
            f"database schema version {found} is newer than this LibEdge supports "
            f"({supported}); upgrade LibEdge or restore a matching backup, the file was not "
            "modified",
            path=path,
        )


class MigrationFailed(StoreError):
    """Migration to ``version`` failed and was rolled back; ``cause`` is SQLite's message."""

    def __init__(self, *, path: str | None, version: int, cause: str) -> None:
        self.version = version
        self.cause = cause
        super().__init__(f"migration to schema version {version} failed: {cause}", path=path)


class InvalidRecord(StoreError):
    """Input the store refuses: ``where`` names the record (e.g. ``delta 991 item 3``),
    ``field`` the offending field."""

    def __init__(self, reason: str, *, where: str, field: str | None = None) -> None:
        self.where = where
        self.field = field
        location = where if field is None else f"{where}, field {field!r}"
        super().__init__(f"{location}: {reason}")



class WriteFailed(StoreError):
    """Write ``operation`` raised ``cause``; only that operation was rolled back."""

    def __init__(self, *, operation: str, cause: str) -> None:
        self.operation = operation
        self.cause = cause
        super().__init__(f"write operation {operation!r} failed and was rolled back: {cause}")


class CommitFailed(StoreError):
    """The group commit holding ``operations`` operations failed; all of them were rolled back."""

    def __init__(self, *, operations: int, cause: str, path: str | None = None) -> None:
        self.operations = operations
        self.cause = cause
        super().__init__(
            f"commit of {operations} operation(s) failed, all rolled back: {cause}", path=path,
        )


class StoreClosed(StoreError):
    """The writer or reader was closed by its owner; it will not come back by itself."""


class TransientStoreError(StoreError):
    """A failure that may go away on its own; the only kind a retry policy retries."""


class StoreBusy(TransientStoreError):
    """Another connection (another process, an admin's sqlite3 shell) held the lock too long."""
