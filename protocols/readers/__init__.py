# SPDX-License-Identifier: Apache-2.0
"""Reader wire protocols: one package or module per reader family (FEIG, 3M D6, TI TRF7970A EVM)."""
