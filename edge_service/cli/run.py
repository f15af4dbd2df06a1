# SPDX-License-Identifier: Apache-2.0
"""``libedge run --config FILE``: the daemon in the foreground (systemd runs it this way).

Exit codes: 0 after SIGTERM/SIGINT, 1 when storage or the API cannot start, 2 for a bad
configuration (the message names the key; nothing was opened).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from edge_service.config import ConfigError, load_config

EXIT_BAD_CONFIG = 2


def _cmd_run(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"libedge: configuration error: {exc}", file=sys.stderr)
        return EXIT_BAD_CONFIG
    # Imported after validation: a bad file is reported before the daemon's imports cost time.
    from edge_service.daemon import Daemon  # noqa: PLC0415
    from edge_service.logs import configure_logging  # noqa: PLC0415

    configure_logging(config.logging.level)

    async def main() -> int:
        return await Daemon(config, config_path=args.config).run()

    return asyncio.run(main())


def register(commands: Any) -> None:
    run = commands.add_parser("run", help="run the daemon (readers, cache, MQTT, local API)")
    run.add_argument("--config", required=True, metavar="FILE",
                     help="TOML configuration; LIBEDGE_* variables override it "
                          "(docs/configuration.md)")
    run.set_defaults(handler=_cmd_run)
