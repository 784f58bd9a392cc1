"""Every browser test, in one module so that one Chromium serves the run (Playwright driving
Debian's Chromium against a live server).

The swipe demo page, the refresher running: register, like five items of one category, and
the next cards come mostly from that category; keyboard and buttons; no failed request and
nothing on the console; desktop and phone widths. The staff dashboard: the overview and the
models page render their charts, screenshots of both."""

import pytest

from recommendations.ml.synthetic import ShopSpec
from recommendations.models import PendingRefresh
from recommendations.services.demo import generate_demo_data
from recommendations.services.pipeline import run_pipeline
from recommendations.store import FAMILIES
from tests.browser import SCREENSHOTS, chromium
from tests.factories import UserFactory
from tests.refresher import refresher_running, wait_for

SPEC = ShopSpec(users=300, items=240, events=15_000, groups=4, orders=800, seed=3)
PASSWORD = "correct-horse-battery-demo"


@pytest.fixture(scope="module")
def browser():
    """One Chromium for the run (this module holds every browser test)."""
    with chromium() as launched:
        yield launched


class Watched:
    """A page whose console errors and failed requests are collected."""

    def __init__(self, page) -> None:
        self.page, self.problems = page, []
        page.on("console", lambda m: m.type in ("error", "warning") and self.problems.append(
            f"console {m.type}: {m.text}"))  # fmt: skip
        page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        page.on("requestfailed", lambda r: self.problems.append(f"failed: {r.url}"))
        page.on("response", lambda r: r.status >= 400 and self.problems.append(
            f"HTTP {r.status}: {r.url}"))  # fmt: skip

    def card(self) -> dict:
        return self.page.eval_on_selector("#card", "c => ({...c.dataset})")

    def swipe(self, kind: str, *, keyboard: bool = False) -> None:
        before = self.card()["itemId"]
        if keyboard:
            self.page.keyboard.press("ArrowRight" if kind == "like" else "ArrowLeft")
        else:
            self.page.click("#like" if kind == "like" else "#dislike")
        self.page.wait_for_function(
            f"() => document.querySelector('#card').dataset.itemId !== '{before}' "
            "&& !document.querySelector('#swipe').hasAttribute('aria-busy')"
        )


@pytest.fixture
def shop(db):
    demo = generate_demo_data(spec=SPEC, pictures=True)
    run_pipeline()
    PendingRefresh.objects.all().delete()  # the demo's own history: the batch has it
    return demo


def contrast(page, selector: str) -> float:
    """WCAG contrast ratio of an element's text colour against the page background."""
    return page.evaluate(
        """([selector]) => {
          const rgb = (s) => s.match(/\\d+(\\.\\d+)?/g).slice(0, 3).map(Number);
          const lum = ([r, g, b]) => {
            const f = (c) => {
              c /= 255;
              return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
            };
            return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
          };
          const el = document.querySelector(selector);
          let bgEl = el, bg = 'rgba(0, 0, 0, 0)';
          while (bgEl && (bg = getComputedStyle(bgEl).backgroundColor) === 'rgba(0, 0, 0, 0)')
            bgEl = bgEl.parentElement;
          const [a, b] = [lum(rgb(getComputedStyle(el).color)), lum(rgb(bg))];
          return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
        }""",
        [selector],
    )


@pytest.mark.django_db(transaction=True)
def test_a_visitor_registers_likes_one_category_and_the_deck_follows(shop, live_server, browser):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with refresher_running(poll_seconds=1):
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        watched = Watched(context.new_page())
        page = watched.page
        page.goto(f"{live_server.url}/demo/")
        page.fill("input[name=username]", "swiper")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[data-mode=register]")
        page.wait_for_selector("#card[data-item-id]")
        assert watched.card()["source"] == "onboarding"
        # The card's picture loads after the card shows: wait for it (a picture that never
        # loads times out and fails here).
        page.wait_for_function(
            "() => { const i = document.querySelector('#card-image');"
            " return i.complete && i.naturalWidth > 0; }",
            timeout=10_000,
        )

        target, likes, swipes = watched.card()["category"], 0, 0
        while likes < 5:
            swipes += 1
            assert swipes < 60, "the deck never showed five items of one category"
            if watched.card()["category"] == target:
                watched.swipe("like", keyboard=likes % 2 == 1)  # keys and buttons alike
                likes += 1
            else:
                watched.swipe("dislike", keyboard=swipes % 2 == 0)
        wait_for(lambda: not PendingRefresh.objects.exists(), seconds=5)
        watched.swipe("dislike")  # the card on screen was read before the last refresh
        seen = []
        for _ in range(10):
            card = watched.card()
            seen.append(card)
            watched.swipe("like" if card["category"] == target else "dislike")
        assert sum(c["category"] == target for c in seen) >= 6, seen
        assert {c["source"] for c in seen} == {"deck"}
        assert page.inner_text("#card-why")
        assert page.locator("#top-buys li").count() >= 1
        assert page.locator("#similar li").count() >= 1
        assert contrast(page, "#card-meta") >= 4.5
        assert contrast(page, "#like") >= 4.5
        page.screenshot(path=str(SCREENSHOTS / "demo-desktop.png"), full_page=True)

        phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
        small = Watched(phone.new_page())
        small.page.goto(f"{live_server.url}/demo/")
        small.page.fill("input[name=username]", "swiper")
        small.page.fill("input[name=password]", PASSWORD)
        small.page.click("button[data-mode=login]")
        small.page.wait_for_selector("#card[data-item-id]")
        assert small.page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        small.swipe("dislike")
        small.page.screenshot(path=str(SCREENSHOTS / "demo-phone.png"), full_page=True)
        context.close()
        phone.close()
    assert watched.problems == []
    assert small.problems == []


@pytest.mark.django_db(transaction=True)
def test_the_staff_dashboards_overview_and_models_pages(shop, live_server, browser):
    """Screenshots of the two pages staff look at most (var/screenshots/)."""
    staff = UserFactory(is_staff=True, is_superuser=True)
    staff.set_password("correct-horse-battery-staff")
    staff.save()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    problems = []
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("response", lambda r: r.status >= 400 and problems.append(f"{r.status} {r.url}"))
    page.goto(f"{live_server.url}/admin/login/?next=/admin/dashboard/")
    page.fill("#id_username", staff.username)
    page.fill("#id_password", "correct-horse-battery-staff")
    page.click("input[type=submit]")
    page.wait_for_selector("#events-chart svg")
    assert page.locator("#families tr[data-family]").count() == len(FAMILIES)
    box = page.locator("#events-chart svg").bounding_box()
    assert box["width"] > 400
    assert box["height"] > 150
    page.screenshot(path=str(SCREENSHOTS / "dashboard-overview.png"), full_page=True)
    page.click("text=Models")
    page.wait_for_selector("#kind-als svg")
    assert page.locator("#model-runs tr[data-run]").count() >= 3  # ALS, basket, MF
    page.screenshot(path=str(SCREENSHOTS / "dashboard-models.png"), full_page=True)
    context.close()
    assert not problems, problems
