// SPDX-License-Identifier: Apache-2.0
/* The landing page: links to the five screens, in the reader's language. */
"use strict";

(async () => {
  await LibEdge.start();
  LibEdge.languageButtons(document.getElementById("languages"));
})();
