# SPDX-License-Identifier: Apache-2.0
"""``python -m edge_service`` runs the ``libedge`` command line."""

import sys

from edge_service.cli import main

sys.exit(main())
