# SPDX-License-Identifier: Apache-2.0
"""The errors of the circulation backends: one root, transience as a type.

A refusal by the ILS (blocked patron, item on hold) is an outcome (``ok`` false), never one of
these. Messages name the request and what failed, never a patron identifier or PIN.
"""

from __future__ import annotations


class CirculationError(Exception):
    """Root of every error raised by :mod:`edge_service.circulation`."""

    def __init__(self, request: str, reason: str) -> None:
        self.request = request
        self.reason = reason
        super().__init__(f"{request}: {reason}")


class TransientCirculationError(CirculationError):
    """The ILS (or the gateway) could not be asked or did not answer in time; the workflow
    retries or goes off-line. ``sent``: the request may have reached the ILS, so a checkout
    may have happened and must be reconciled (item information) before it is repeated."""

    def __init__(self, request: str, reason: str, *, sent: bool) -> None:
        self.sent = sent
        super().__init__(request, reason)


INVALID_REQUEST = "invalid_request"
"""The code of a request refused for what it holds (the gateway's error code; the SIP2
encoder's refusal): the same request can never work, unlike an ILS that refuses the login or
answers garbage."""


class CirculationFailed(CirculationError):
    """The request cannot work as it is (refused by the gateway as invalid, an ILS that
    answers with something else); repeating it changes nothing."""

    def __init__(self, request: str, reason: str, *, code: str = "failed") -> None:
        self.code = code
        super().__init__(request, reason)
