# SPDX-License-Identifier: Apache-2.0
"""LibEdge benchmarks: ``python -m bench`` (or ``make bench``) runs them all and prints a table."""
