# SPDX-License-Identifier: Apache-2.0
"""``libedge tokens new --role ROLE --file F [--name NAME] [--pad PAD]``: a new role token for
the local API (``--pad``: a kiosk token that acts on that pad only).

Appends a fresh random token (``secrets.token_urlsafe``, 256 bits) for ROLE to the tokens file
F and prints it once on stdout (the file keeps it too; nothing else does). F is created with
mode 0600 when missing; an existing one is validated first and refused if the daemon would
refuse it (a bad line, access for group or others). A running daemon picks the token up within
a second, without a restart. F is the daemon's ``api.tokens_file``, or, when that is not set,
``api-tokens`` in its state directory (``/var/lib/libedge/api-tokens`` under systemd).

Exit status: 0; 1 when F cannot be used (the message names the file and the line).

Not responsible for: the file format (``edge_service.api.tokens``), removing tokens (delete the
line; the daemon re-reads the file).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

ROLES = ("kiosk", "gate", "staff", "admin")
"""Listed here so ``libedge --help`` need not import FastAPI; a test checks they agree with
``edge_service.api.ROLES``."""


def _cmd_new(args: argparse.Namespace) -> int:
    # Imported here: FastAPI stays out of every other command's start-up.
    from edge_service.api import TokensFileError, append_token  # noqa: PLC0415

    try:
        token = append_token(args.file, args.role, args.name or "", pad=args.pad)
    except TokensFileError as exc:
        print(f"libedge: {exc}", file=sys.stderr)
        return 1
    bound = f" bound to pad {args.pad}" if args.pad else ""
    print(f"added a {args.role} token{bound} to {args.file}", file=sys.stderr)
    print(token)
    return 0


def register(commands: Any) -> None:
    tokens = commands.add_parser("tokens", help="role tokens of the local API")
    sub = tokens.add_subparsers(dest="tokens_command", required=True, metavar="COMMAND")
    new = sub.add_parser("new", help="append a fresh token for a role and print it")
    new.add_argument("--role", required=True, choices=ROLES)
    new.add_argument("--file", required=True, metavar="F",
                     help="the tokens file: api.tokens_file, or api-tokens in the daemon's "
                          "state directory when that is not set")
    new.add_argument("--name", help="what logs show for this token, e.g. 'kiosk by the door'")
    new.add_argument("--pad", help="kiosk tokens only: the one pad (reader name) it may act "
                                   "on; without it a kiosk token acts on any pad of the box")
    new.set_defaults(handler=_cmd_new)
