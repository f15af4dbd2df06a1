# SPDX-License-Identifier: Apache-2.0
"""The exceptions of the ILS connector: one root, transience as a type.

An ILS that *refuses* something (blocked patron, item on hold) answers with a result, not an
exception. Exceptions are for the conversation itself failing. Only :class:`TransientIlsError`
is worth retrying later (the kiosk goes to off-line mode, the gateway re-queues); the others
need a person (wrong login, an ILS that speaks something else).

Messages name the SIP2 exchange (message id, what went wrong) and never a patron identifier,
PIN or name.
"""

from __future__ import annotations


class IlsError(Exception):
    """Root of every error raised by :mod:`edge_service.ils`."""

    def __init__(self, reason: str, *, message_id: str | None = None) -> None:
        self.reason = reason
        self.message_id = message_id
        super().__init__(str(self))

    def __str__(self) -> str:
        return self.reason if self.message_id is None else f"SIP2 {self.message_id}: {self.reason}"


class TransientIlsError(IlsError):
    """The ILS could not be reached or did not answer in time; the same call may work later.

    ``sent`` says whether the request may have reached the ILS (so the caller knows whether a
    checkout could have happened and must be reconciled, e.g. by item information).
    """

    def __init__(self, reason: str, *, message_id: str | None = None, sent: bool = False) -> None:
        self.sent = sent
        super().__init__(reason, message_id=message_id)


class IlsTimeout(TransientIlsError):
    """No valid reply within the timeout, after the allowed resends."""


class IlsDisconnected(TransientIlsError):
    """The connection failed or could not be (re-)established."""


class IlsProtocolError(IlsError):
    """The ILS answered with something that is not the expected SIP2 reply, even after asking
    it to resend (97). ``offset``/``field`` come from the codec's error when there was one."""

    def __init__(self, reason: str, *, message_id: str | None = None, offset: int | None = None,
                 field: str | None = None) -> None:
        self.offset = offset
        self.field = field
        super().__init__(reason, message_id=message_id)

    def __str__(self) -> str:
        where = "" if self.offset is None else f" at byte {self.offset}"
        named = "" if self.field is None else f" (field {self.field})"
        return f"{super().__str__()}{where}{named}"


class IlsLoginRefused(IlsError):
    """The ILS refused the SC's login (93 -> 94 ok=0): a configuration problem, not transient."""


class IlsConfigError(IlsError):
    """A profile or simulator data file that cannot be used; names the key and the problem."""
