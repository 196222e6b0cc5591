"""Screenshots of the console's data pages: docs/screens/console-{fleet,fleet-zh,terminal,...}.png.

    .venv/bin/python scripts/console_screens_pages.py [OUT_DIR]

Needs a CJK font for the 中文 page (Debian: fonts-wqy-microhei).
A real collector on 127.0.0.1 with a small fleet made by real terminals (``tests.sync.harness``):
payments synced, a double spend between two shops, an operator's
deny; then Debian chromium signs in as an operator and photographs each page.
``shoot_pages(page, base_url, out_dir)`` is the part a wider screenshot script can call.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from playwright.sync_api import Page, sync_playwright  # noqa: E402

from pos.sync.service import sync_once  # noqa: E402
from tests.console.conftest import CHROMIUM, CHROMIUM_ARGS, add_user, login  # noqa: E402
from tests.sync.harness import FAST, CollectorProc, SchemeEnv, make_scheme, new_terminal  # noqa: E402

SHOTS = ("fleet", "terminal", "payments", "events", "deny")


def make_fleet(env: SchemeEnv, coll: CollectorProc, work: Path) -> None:
    shops = [new_terminal(env, work / f"shop-{i}", coll.url, f"SHOP-{i:02d}") for i in range(1, 6)]
    wallets = [env.wallet() for _ in range(8)]
    for i, t in enumerate(shops):
        for k in range(3 + i):
            t.pay(wallets[(i + k) % len(wallets)], 150 + 85 * k + 40 * i, now=env.now - 7200 + 300 * k)
    cheat = wallets[0]
    raw = cheat.token(max_amount=420, now=env.now)
    shops[0].pay(cheat, 420, raw=raw)
    shops[1].pay(cheat, 420, raw=raw)
    for t in shops[:4]:
        sync_once(t.data_dir, FAST)
    new_terminal(env, work / "kiosk", coll.url, "KIOSK-07")  # enrolled, never uploaded


def shoot_pages(page: Page, base: str, out: Path) -> list[Path]:
    paths = []
    for name, url in (
        ("fleet", "/console/?lang=en"), ("terminal", "/console/terminals/SHOP-01"),
        ("payments", "/console/payments"), ("events", "/console/events"), ("deny", "/console/deny"),
        ("fleet-zh", "/console/?lang=zh"),
    ):  # fmt: skip
        page.goto(base + url)
        if name.startswith("fleet"):
            page.wait_for_selector("#live-state.live-on")
        path = out / f"console-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        paths.append(path)
    page.goto(base + "/console/?lang=en")
    return paths


def main(argv: list[str]) -> int:
    out = Path(argv[0]) if argv else ROOT / "docs" / "screens"
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="console-screens-") as tmp:
        work = Path(tmp)
        env = make_scheme(work / "scheme")
        coll = CollectorProc(env, f"sqlite:///{work / 'collector.db'}", work / "collector").start()
        try:
            make_fleet(env, coll, work)
            op = add_user(coll.db_url, "operator", name="alice")
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": 1440, "height": 900})
                login(page, coll.url, op.name, op.password, op.totp)
                page.goto(f"{coll.url}/console/deny")
                page.fill("form.action input[name=wallet]", "5ca1ab1e00c0ffee")
                page.fill("form.action input[name=reason]", "card reported stolen at the ticket office")
                page.click("form.action button[type=submit]")
                page.wait_for_selector("p.done")
                time.sleep(0.2)
                for path in shoot_pages(page, coll.url, out):
                    print(path)
                browser.close()
        finally:
            coll.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
