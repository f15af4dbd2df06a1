# SPDX-License-Identifier: Apache-2.0
"""Daemon logging: journal-friendly lines with ``key=value`` fields, or readable text.

Contract:
- :func:`configure_logging` is called once by the daemon at start (never at import): it
  registers the TRACE level name (``firmware_bridge.TRACE`` = 5, raw wire bytes), installs one
  stderr handler on the root logger and sets the level; :func:`set_level` changes the level on
  reload.
- Under systemd, when ``$JOURNAL_STREAM`` names the device and inode of our stderr
  (systemd.exec(5)), every line starts with the syslog priority ``<N>`` that journald turns
  into PRIORITY=, and carries no timestamp (the journal has it):
  ``<4>edge_service.devices: pad: lost device=pad event=unreachable``.
  Otherwise lines carry a local timestamp and the level name.
- Structured fields go in ``extra={"fields": {...}}`` and are rendered ``key=value`` (quoted when
  they contain spaces), so ``journalctl -u libedge | grep device=pad`` works.
- A reader's loop sets :data:`LOG_DEVICE` in its task; every line logged in that task, or in a
  task it started (the driver's transport: link lost, reopen attempts), gets ``device=NAME``
  unless it names a device itself. Lower layers (firmware_bridge) know ports, not names.

Privacy: callers never put patron identifiers in a message or a field (DESIGN.md "Storage and
durability"); item ids and tag UIDs are not patron data.

Not responsible for: log rotation or shipping (journald's), per-module levels.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from contextvars import ContextVar
from typing import TextIO

from firmware_bridge import TRACE

__all__ = ["LEVELS", "LOG_DEVICE", "KeyValueFormatter", "configure_logging",
           "journal_stream_is_stderr", "set_level"]

LEVELS: dict[str, int] = {"trace": TRACE, "debug": logging.DEBUG, "info": logging.INFO,
                          "warning": logging.WARNING, "error": logging.ERROR}

# sd-daemon(3) priority prefixes: <7> debug ... <3> error.
_SYSLOG_PRIORITY = ((logging.CRITICAL, 2), (logging.ERROR, 3), (logging.WARNING, 4),
                    (logging.INFO, 6), (0, 7))

_HANDLER_NAME = "libedge"

LOG_DEVICE: ContextVar[str | None] = ContextVar("libedge_log_device", default=None)
"""The reader whose task logs (set by its supervisor); tasks started from it inherit it."""


def _device_from_context(record: logging.LogRecord) -> bool:
    """A handler filter: adds ``device=`` from :data:`LOG_DEVICE` to a line that has none."""
    device = LOG_DEVICE.get()
    if device is not None:
        fields = getattr(record, "fields", None)
        if not isinstance(fields, Mapping):
            record.fields = {"device": device}
        elif "device" not in fields:
            record.fields = {**fields, "device": device}
    return True


def _syslog_priority(levelno: int) -> int:
    return next(priority for floor, priority in _SYSLOG_PRIORITY if levelno >= floor)


def _render(value: object) -> str:
    text = str(value)
    if not text or any(c in text for c in ' "=\n\t'):
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    return text


class KeyValueFormatter(logging.Formatter):
    """``<N>logger: message key=value ...`` for the journal, timestamped text otherwise."""

    def __init__(self, *, journal: bool) -> None:
        super().__init__()
        self.journal = journal

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        fields = getattr(record, "fields", None)
        if isinstance(fields, Mapping) and fields:
            message += " " + " ".join(f"{key}={_render(value)}" for key, value in fields.items())
        if record.exc_info:
            # One journal entry per line: the traceback follows on continuation lines.
            message += "\n" + self.formatException(record.exc_info)
        if self.journal:
            prefix = f"<{_syslog_priority(record.levelno)}>{record.name}: "
            return "\n".join(prefix + line for line in message.splitlines())
        return f"{self.formatTime(record)} {record.levelname:<7} {record.name}: {message}"


def journal_stream_is_stderr(environ: Mapping[str, str], stream: TextIO) -> bool:
    """True when ``$JOURNAL_STREAM`` (``device:inode``) is ``stream``'s file (systemd.exec(5))."""
    value = environ.get("JOURNAL_STREAM", "")
    device, _, inode = value.partition(":")
    try:
        info = os.fstat(stream.fileno())
        return (int(device), int(inode)) == (info.st_dev, info.st_ino)
    except (ValueError, OSError):
        return False


def configure_logging(level: str, *, environ: Mapping[str, str] | None = None,
                      stream: TextIO | None = None) -> logging.Handler:
    """Install the daemon's handler on the root logger (replacing an earlier one)."""
    logging.addLevelName(TRACE, "TRACE")
    out = sys.stderr if stream is None else stream
    env = os.environ if environ is None else environ
    handler = logging.StreamHandler(out)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(KeyValueFormatter(journal=journal_stream_is_stderr(env, out)))
    handler.addFilter(_device_from_context)
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == _HANDLER_NAME]:
        root.removeHandler(old)
    root.addHandler(handler)
    set_level(level)
    return handler


def set_level(level: str) -> None:
    """Apply a ``logging.level`` value (validated by the config) to the root logger."""
    logging.getLogger().setLevel(LEVELS[level])
