# SPDX-License-Identifier: Apache-2.0
"""What a tag id typed at the desk and a device error mean to the person at the staff desk.

Shared by the staff station (``staff``) and the technical services built on it (``ill``,
``campaigns``), so the same failure reads the same everywhere:

    device error                                   WorkflowError
    the tag stopped answering (left the pad)       tag_not_responding   409
    read-back differs from what was written        verification_failed  409
    the tag refused (a locked block...)            tag_refused          409
    the reader has no such operation               unsupported          501
    the reader did not answer                      device_unavailable   503
    anything else from the reader                  reader_fault         502

Not responsible for: deciding to retry (the reader's verified operations and the workflows do).
"""

from __future__ import annotations

from edge_service.workflows.errors import WorkflowError
from firmware_bridge import (
    BridgeError,
    TagNotResponding,
    TagRefused,
    TransientError,
    Unsupported,
    VerificationFailed,
)
from protocols import ProtocolError
from protocols.iso15693 import Uid

__all__ = ["ISO_BLOCK_LOCKED", "parse_uid", "tag_failure", "tag_silent"]

ISO_BLOCK_LOCKED = 0x12
"""ISO 15693 error code: the specified block is locked and its content cannot be changed."""


def parse_uid(uid: str | Uid | None) -> Uid | None:
    """A UID given as text (or already one); 422 naming ``uid`` when it is not one."""
    if uid is None or isinstance(uid, Uid):
        return uid
    try:
        return Uid.from_text(uid)
    except ProtocolError as exc:
        raise WorkflowError("invalid_request", f"Tag id {uid!r}: {exc}", status=422,
                            field="uid") from None


def tag_silent(exc: BridgeError) -> bool:
    """Whether the tag, not the reader, stopped answering: no reply, or a transient failure
    addressed to one tag (FEIG's write error at a block)."""
    return isinstance(exc, TagNotResponding) or (
        isinstance(exc, TransientError) and getattr(exc, "uid", None) is not None)


def tag_failure(exc: BridgeError, doing: str) -> WorkflowError:
    """A device error as the person at the desk should read it (the module's table)."""
    if tag_silent(exc):
        return WorkflowError("tag_not_responding", f"The tag stopped answering while {doing}; "
                             "it may have moved off the pad. Put it back and try again.")
    if isinstance(exc, VerificationFailed):
        return WorkflowError("verification_failed", f"The tag did not keep what was written "
                             f"while {doing}. Try again; if it fails again, replace the tag.")
    if isinstance(exc, TagRefused):
        why = (f"block {exc.block} is locked" if exc.iso_error == ISO_BLOCK_LOCKED
               and exc.block is not None else "it answered with an error")
        return WorkflowError("tag_refused", f"The tag refused {doing}: {why}. Replace the tag "
                             "if this repeats.")
    if isinstance(exc, Unsupported):
        return WorkflowError("unsupported", f"This reader cannot do that ({doing}).",
                             status=501)
    if isinstance(exc, TransientError):
        return WorkflowError("device_unavailable", f"The staff reader did not answer while "
                             f"{doing}. Try again.", status=503)
    return WorkflowError("reader_fault", f"The staff reader failed while {doing}.", status=502)
