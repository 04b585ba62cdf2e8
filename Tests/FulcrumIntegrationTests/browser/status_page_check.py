#!/usr/bin/python3
"""Drives fulcrumd's status page in headless Chromium (Debian's chromium, chromium-driver and
python3-selenium; nothing is downloaded) for StatusPageBrowserTests.swift.

    status_page_check.py --url http://127.0.0.1:PORT/ --member member-web-a --member member-web-b
                         --dying member-web-b --screenshot docs/status-page.png

1. Loads the page and waits until every --member cell exists with a data-status.
2. Prints "READY" and waits for a line on stdin: meanwhile the caller kills the --dying
   member's server.
3. Without reloading, waits until the --dying cell's data-status is ERROR while every other
   member stays non-ERROR, and until both traffic charts draw >= --min-points points.
4. Saves the screenshot, then fails on any SEVERE browser console entry or any uncaught JS
   error / unhandled promise rejection.

Prints progress on stderr and one JSON summary line on stdout ("SUMMARY {...}"). Exit 0 only
if every check passed; 1 when a check failed; 2 when the browser could not be driven at all.
"""

import argparse
import json
import os
import select
import signal
import sys
import time

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"

# Installed before any page script runs: records uncaught errors and unhandled rejections, so
# they fail the check even if the console log misses them; and marks the document, so a reload
# (which would hide a page that never updates by itself) is detected.
ERROR_HOOK = """
window.__fulcrumErrors = [];
window.addEventListener("error", function (e) {
  window.__fulcrumErrors.push("error: " + (e.message || e) + " at " + (e.filename || "?") + ":" + (e.lineno || "?") + ":" + (e.colno || "?"));
});
window.addEventListener("unhandledrejection", function (e) {
  var r = e.reason;
  window.__fulcrumErrors.push("unhandledrejection: " + (r && r.stack ? r.stack : String(r)));
});
"""

STATE_JS = """
var ids = arguments[0];
var cells = {};
ids.forEach(function (id) {
  var node = document.getElementById(id);
  cells[id] = node ? node.getAttribute("data-status") : null;
});
function points(id) {
  var c = document.getElementById(id);
  return c ? Number(c.getAttribute("data-points")) : null;
}
var banner = document.getElementById("banner");
return {
  cells: cells,
  connectionsPoints: points("chart-connections"),
  bytesPoints: points("chart-bytes"),
  bannerShown: banner ? banner.classList.contains("shown") : null,
  bannerText: banner ? banner.textContent : null,
  updated: (document.getElementById("updated") || {}).textContent || null,
  marker: window.__fulcrumMarker || null,
  errors: (window.__fulcrumErrors || []).slice(),
  listenerRows: document.querySelectorAll("#listeners tbody tr").length,
  poolTitles: Array.prototype.map.call(document.querySelectorAll("#pools h3"), function (h) { return h.textContent; })
};
"""


# The page keeps only points of the last five minutes by the clock of status.json's info.now
# (unix seconds): /history.json must use the same clock, or the history it loads is dropped
# at the first poll and the charts start empty at every page load.
HISTORY_JS = """
var done = arguments[arguments.length - 1];
function get(url) {
  return fetch(url, { cache: "no-store" }).then(function (r) {
    if (!r.ok) { throw new Error(url + ": HTTP " + r.status); }
    return r.json();
  });
}
Promise.all([get("/history.json"), get("/status.json")]).then(function (v) {
  var history = v[0] || {}, now = (v[1].info || {}).now, newest = {};
  ["listeners", "members"].forEach(function (kind) {
    Object.keys(history[kind] || {}).forEach(function (key) {
      var series = history[kind][key];
      newest[kind + " " + key] = series.length ? series[series.length - 1][0] : null;
    });
  });
  done({ now: now, newest: newest });
}).catch(function (e) { done({ error: String(e) }); });
"""


def log(message):
    sys.stderr.write("status_page_check: %s\n" % message)
    sys.stderr.flush()


class CheckFailed(Exception):
    pass


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True, help="the status page, e.g. http://127.0.0.1:9469/")
    parser.add_argument("--member", action="append", required=True,
                        help="element id of a member status cell (member-POOL-MEMBER); repeat for each")
    parser.add_argument("--dying", required=True, help="element id of the member whose server the caller kills")
    parser.add_argument("--screenshot", required=True, help="where to write the PNG")
    parser.add_argument("--timeout", type=float, default=20, help="seconds to wait for each phase")
    parser.add_argument("--min-points", type=int, default=2, help="points each traffic chart must draw")
    parser.add_argument("--no-wait", action="store_true",
                        help="do not print READY nor wait on stdin (manual runs: kill the member yourself)")
    args = parser.parse_args()
    if args.dying not in args.member:
        parser.error("--dying must be one of the --member ids")
    return args


def make_driver():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,900",
                 "--disable-dev-shm-usage", "--no-first-run", "--no-default-browser-check",
                 "--disable-extensions", "--hide-scrollbars", "--force-device-scale-factor=1"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # An explicit driver path: selenium-manager is never asked to download one.
    service = Service(executable_path=CHROMEDRIVER, log_path=os.devnull)
    driver = webdriver.Chrome(service=service, options=options)
    # --window-size counts the (invisible) window frame in new headless mode; make the page's
    # viewport, and so the screenshot, exactly 1280x900.
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": False})
    driver.set_page_load_timeout(15)
    driver.set_script_timeout(5)
    return driver


def wait_for(driver, args, what, timeout, condition):
    """Polls the page state until condition(state) is true; returns the last state."""
    deadline = time.monotonic() + timeout
    while True:
        state = driver.execute_script(STATE_JS, args.member)
        if condition(state):
            return state
        if time.monotonic() >= deadline:
            raise CheckFailed("timed out after %.0f s waiting for %s; page state: %s" % (timeout, what, json.dumps(state)))
        time.sleep(0.1)


def wait_for_go(timeout):
    sys.stdout.write("READY\n")
    sys.stdout.flush()
    ready, _, _ = select.select([sys.stdin], [], [], timeout)
    if not ready:
        raise CheckFailed("no go-ahead line on stdin within %.0f s of READY" % timeout)
    if sys.stdin.readline() == "":
        raise CheckFailed("stdin closed before the go-ahead line")


def check_history_clock(driver, summary, problems):
    result = driver.execute_async_script(HISTORY_JS)
    summary["history_clock"] = result
    if result.get("error"):
        problems.append("cannot read /history.json and /status.json: %s" % result["error"])
        return
    now = result.get("now")
    stale = {key: t for key, t in result.get("newest", {}).items()
             if t is not None and not (isinstance(now, (int, float)) and now - 10 <= t <= now + 2)}
    if stale:
        problems.append(
            "/history.json points are not on status.json's clock (info.now = %s, newest points: %s): "
            "the page drops them as older than 5 minutes, so its charts start empty"
            % (now, ", ".join("%s at %s" % item for item in sorted(stale.items()))))


def run(driver, args, summary):
    problems = []
    summary["problems"] = problems
    started = time.monotonic()
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": ERROR_HOOK})
    driver.get(args.url)
    summary["title"] = driver.title
    if driver.title != "Fulcrum status":
        raise CheckFailed("unexpected page title %r" % driver.title)

    def all_present(state):
        return all(state["cells"].get(i) for i in args.member)

    state = wait_for(driver, args, "every member cell with a data-status", args.timeout, all_present)
    summary["before"] = state["cells"]
    summary["page_ready_s"] = round(time.monotonic() - started, 2)
    log("page ready after %.2f s: %s" % (summary["page_ready_s"], json.dumps(state["cells"])))
    already = sorted(i for i, s in state["cells"].items() if s == "ERROR")
    if already:
        raise CheckFailed("members already ERROR before the kill: %s" % ", ".join(already))
    check_history_clock(driver, summary, problems)
    # Survives only as long as this very document does.
    driver.execute_script("window.__fulcrumMarker = 'no-reload';")

    if not args.no_wait:
        wait_for_go(args.timeout * 2)
    killed = time.monotonic()
    log("waiting for %s to become ERROR" % args.dying)

    others_errors = {}

    def dying_is_error(state):
        for member, status in state["cells"].items():
            if member != args.dying and status == "ERROR":
                others_errors.setdefault(member, state["updated"])
        return state["cells"].get(args.dying) == "ERROR"

    state = wait_for(driver, args, "%s to show ERROR" % args.dying, args.timeout, dying_is_error)
    summary["error_after_s"] = round(time.monotonic() - killed, 2)
    log("%s is ERROR %.2f s after the go-ahead" % (args.dying, summary["error_after_s"]))

    def charts_drawn(state):
        dying_is_error(state)
        return (state["connectionsPoints"] or 0) >= args.min_points and (state["bytesPoints"] or 0) >= args.min_points

    state = wait_for(driver, args, "both charts to draw >= %d points" % args.min_points, args.timeout, charts_drawn)
    # One more poll's worth, so the screenshot and the last state are of a settled page.
    time.sleep(1.2)
    state = driver.execute_script(STATE_JS, args.member)
    dying_is_error(state)
    summary["after"] = state["cells"]
    summary["chart_points"] = {"connections": state["connectionsPoints"], "bytes": state["bytesPoints"]}
    summary["banner_shown"] = state["bannerShown"]
    summary["pools"] = state["poolTitles"]
    summary["listener_rows"] = state["listenerRows"]
    summary["updated"] = state["updated"]

    os.makedirs(os.path.dirname(os.path.abspath(args.screenshot)), exist_ok=True)
    if not driver.save_screenshot(args.screenshot):
        raise CheckFailed("could not save the screenshot to %s" % args.screenshot)
    summary["screenshot"] = args.screenshot
    summary["screenshot_bytes"] = os.path.getsize(args.screenshot)

    if state["marker"] != "no-reload":
        problems.append("the page was reloaded or navigated away (marker lost)")
    if state["cells"].get(args.dying) != "ERROR":
        problems.append("%s went back to %s" % (args.dying, state["cells"].get(args.dying)))
    for member, updated in sorted(others_errors.items()):
        problems.append("%s showed ERROR too (at update %s) though its server was never killed" % (member, updated))
    if state["bannerShown"]:
        problems.append("the connection-lost banner is shown: %r" % state["bannerText"])
    if state["errors"]:
        problems.append("uncaught JS errors: %s" % " | ".join(state["errors"]))

    console = driver.get_log("browser")
    summary["console"] = [{"level": e.get("level"), "source": e.get("source"), "message": e.get("message")} for e in console]
    severe = [e for e in console if e.get("level") == "SEVERE"]
    if severe:
        problems.append("SEVERE console entries: %s" % " | ".join(e.get("message", "") for e in severe))
    js_errors = [e for e in console if e.get("source") == "javascript" and e not in severe]
    if any("error" in (e.get("message") or "").lower() for e in js_errors):
        problems.append("JS errors in the console: %s" % " | ".join(e.get("message", "") for e in js_errors))
    if problems:
        raise CheckFailed("; ".join(problems))


def main():
    args = parse_args()
    # SIGTERM from the test on a timeout: unwind, so the finally below stops Chromium and
    # chromedriver instead of leaving them behind, and the summary still says what was seen.
    def terminated(*_):
        raise CheckFailed("terminated by SIGTERM (the caller stopped waiting)")
    signal.signal(signal.SIGTERM, terminated)
    summary = {"ok": False, "url": args.url, "dying": args.dying, "members": args.member}
    code = 1
    driver = None
    try:
        try:
            driver = make_driver()
        except Exception as error:  # noqa: BLE001 - anything here means no browser to test with
            summary["error"] = "cannot start headless Chromium via %s: %s" % (CHROMEDRIVER, error)
            code = 2
            raise CheckFailed(summary["error"])
        summary["browser"] = driver.capabilities.get("browserVersion")
        run(driver, args, summary)
        summary["ok"] = True
        code = 0
    except CheckFailed as failure:
        summary.setdefault("error", str(failure))
    except Exception as error:  # noqa: BLE001 - report whatever selenium raised
        summary["error"] = "%s: %s" % (type(error).__name__, error)
    finally:
        if driver is not None and not summary["ok"] and "console" not in summary:
            try:
                summary["console"] = [{"level": e.get("level"), "message": e.get("message")} for e in driver.get_log("browser")]
                summary["last_state"] = driver.execute_script(STATE_JS, args.member)
            except Exception:  # noqa: BLE001 - best effort, for the failure message only
                pass
        if driver is not None:
            try:
                driver.quit()
            except Exception:  # noqa: BLE001
                pass
    sys.stdout.write("SUMMARY %s\n" % json.dumps(summary, sort_keys=True))
    sys.stdout.flush()
    if not summary["ok"]:
        log("FAILED: %s" % summary.get("error"))
    return code


if __name__ == "__main__":
    sys.exit(main())
