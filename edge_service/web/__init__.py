# SPDX-License-Identifier: Apache-2.0
"""The web pages the daemon serves (``edge_service.api.pages``): static HTML, CSS and plain
JavaScript with translation catalogues in ``assets/i18n``; no build step, nothing fetched from
elsewhere. docs/pages.md describes each page, its token and how to add a language.
"""
