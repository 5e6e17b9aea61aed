"""Screenshot a served dashboard page in headless Debian Chromium, as a user would see it.

    .venv/bin/python scripts/screenshot.py http://127.0.0.1:5006/ docs/run-page.png [--wait 8]

Waits until Bokeh has rendered every plot, then the extra ``--wait`` seconds; prints browser
errors. (``chromium --screenshot`` gives a blank page for Panel apps: they render over a websocket.)
"""

from __future__ import annotations

import argparse
import sys
import time

from playwright.sync_api import sync_playwright

READY_JS = """() => {
  if (!window.Bokeh || Bokeh.documents.length === 0) { return false; }
  const plots = [...Bokeh.index.all_views()].filter((v) => v.model.type === "Plot" || v.model.type === "Figure");
  return plots.length > 0 && plots.every((v) => v.is_idle);
}"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("url")
    ap.add_argument("out")
    ap.add_argument("--wait", type=float, default=1.0, help="seconds to wait after rendering")
    ap.add_argument("--width", type=int, default=1400)
    ap.add_argument("--height", type=int, default=950)
    args = ap.parse_args()
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": args.width, "height": args.height})
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(args.url)
            page.wait_for_function(READY_JS, timeout=60_000)
            time.sleep(args.wait)
            page.screenshot(path=args.out, full_page=True)
        finally:
            browser.close()
    for e in errors:
        print(f"page error: {e}", file=sys.stderr)
    print(f"wrote {args.out}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
