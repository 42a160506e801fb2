"""Screenshot of the MLflow UI comparing an ablation (the README's picture), taken in headless Chromium.

    .venv/bin/dreamgym ui --port 5055 &                           # the real UI over the project's store
    pip install playwright                                         # drives Debian's /usr/bin/chromium (no download)
    .venv/bin/python docs/screenshot_compare.py --port 5055 --out docs/img/mlflow-compare-ablation.png \
        --runs textcraft-grpo-s0 textcraft-grpo-s0-notaskgen --metrics eval/test_success eval/test_start_success

What it clicks is what the README lists: Experiments -> dreamgym, tick the runs, Compare; in the parallel
coordinates plot the parameter `curriculum.task_generation` and the chosen metrics. Simplification: the run ids
are looked up by name in the store the UI serves (the newest run of each name).
"""

from __future__ import annotations

import argparse
import json
import urllib.request

from playwright.sync_api import sync_playwright

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def run_ids(base: str, experiment: str, names: list[str]) -> tuple[str, list[str]]:
    """(experiment id, the newest run id of each name) through the UI server's REST API."""
    def post(path: str, body: dict) -> dict:
        req = urllib.request.Request(f"{base}/api/2.0/mlflow/{path}", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
        return json.loads(urllib.request.urlopen(req).read())

    exp = json.loads(urllib.request.urlopen(f"{base}/api/2.0/mlflow/experiments/get-by-name?experiment_name={experiment}").read())
    eid = exp["experiment"]["experiment_id"]
    ids = []
    for n in names:
        got = post("runs/search", {"experiment_ids": [eid], "filter": f"attributes.run_name = '{n}'",
                                   "order_by": ["attributes.start_time DESC"], "max_results": 1})
        ids.append(got["runs"][0]["info"]["run_id"])
    return eid, ids


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=5000)
    ap.add_argument("--experiment", default="dreamgym")
    ap.add_argument("--runs", nargs="+", required=True, help="run names")
    ap.add_argument("--param", default="curriculum.task_generation")
    ap.add_argument("--metrics", nargs="+", default=["eval/test_success"])
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    base = f"http://127.0.0.1:{a.port}"
    eid, ids = run_ids(base, a.experiment, a.runs)
    url = f"{base}/#/compare-runs?runs={json.dumps(ids)}&experiments={json.dumps([eid])}"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=FLAGS)
        page = browser.new_page(viewport={"width": 1500, "height": 1000})
        page.goto(url)
        page.get_by_text("Parallel Coordinates Plot").wait_for(timeout=60000)
        close = page.get_by_role("button", name="Close")  # the assistant side panel, when it is open
        if close.count():
            close.first.click()
        page.get_by_role("button", name="Clear All").click()
        boxes = page.locator(".ant-select-selector, [role='combobox']")
        for i, items in ((0, [a.param]), (1, a.metrics)):
            for item in items:
                boxes.nth(i).click()
                page.keyboard.type(item)
                page.get_by_title(item, exact=True).first.click()
                page.keyboard.press("Escape")
        page.wait_for_timeout(1500)
        page.screenshot(path=a.out, full_page=False)
        browser.close()
    print(a.out)


if __name__ == "__main__":
    main()
