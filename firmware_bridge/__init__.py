# SPDX-License-Identifier: Apache-2.0
"""firmware_bridge"""
