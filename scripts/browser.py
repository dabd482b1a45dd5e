"""Browser test: a person's way through CGM Handler in a real Home Assistant, in Chromium.

    python -m scripts.browser [--keep] [--timeout S] [--start-timeout S] [--screenshots]
                              [--ha-venv VENV] [--integration DIR]

`scripts/browser` prepares everything and runs this on the host with .venv's Python and
Playwright, while Home Assistant of the newest release runs in its runtime venv through
scripts/in-env (chrooted where bootstrap made that release's Python); they talk over
127.0.0.1. Debian's Chromium (/usr/bin/chromium) is the browser: no browser is downloaded,
and every request of the page that does not go to 127.0.0.1 is blocked (and listed).

scripts/live_ha.py runs it as it runs the smoke test: the Share simulator's demo account, the
Home Assistant process on a throwaway configuration, the REST/websocket client, the bounded
waits, the stop and the log check with its one exemption. The steps (BrowserTest.steps):

1. onboarding in the UI: welcome, the owner typed in, location, analytics, finish;
2. Settings -> Devices & services -> Add integration -> CGM Handler (its icon must load):
   a wrong password shows the translated error in the form, then the simulator's address
   typed into the collapsed Advanced section and the right password create the entry;
3. the device page lists the entities with values;
4. the entry gets 14 days of the demo account's readings (as scripts/demo_entry gives the
   demo): disabled, its stored history rewritten, enabled again; then the example dashboard
   (docs/dashboard.yaml, pointed at the new entry's statistics) shows the glucose chart,
   trend, metrics, the AGP image (both pictures loaded, at their widths) and the statistics
   graphs, with no "unavailable" and no "Entity not available";
5. the options flow changes the high limit and the high binary sensor follows;
6. the diagnostics download holds none of the demo password, session ids or account id;
7. in German (Home Assistant's language and the owner's profile language): the config flow's
   form and its error, the device page and the options form show German labels and entity
   names, and none of the English texts of strings.json (beyond words German shares).

On every page: no raw translation key (component.cgm_handler.) and no broken image. At the
end, no WARNING or ERROR of or about cgm_handler in home-assistant.log.
--screenshots writes docs/setup.png, docs/dashboard.png and docs/statistics.png (1280x900,
light theme), and docs/agp.png (the AGP card). --integration tests another copy of
custom_components/cgm_handler (e.g. one with a deliberate fault). Prints a report; exits 0
(PASS) or 1 (FAIL). Every wait is bounded.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Sequence
import contextlib
from dataclasses import dataclass, field
import json
from pathlib import Path
import re
import secrets
import shutil
import sys
import tempfile
from typing import Any, Final
from urllib.parse import urlsplit

from playwright.async_api import (
    BrowserContext,
    Error as PlaywrightError,
    Locator,
    Page,
    Route,
    async_playwright,
)

from custom_components.cgm_handler.agp_chart import WIDTH as AGP_WIDTH
from custom_components.cgm_handler.glucose_chart import WIDTH as CHART_WIDTH
from custom_components.cgm_handler.history import (
    STORAGE_VERSION as HISTORY_VERSION,
    storage_key,
    stored_form,
    to_ms,
)
from scripts.demo_entry import DEMO_ENTRY_ID, demo_readings, storage_file
from scripts.live_ha import (
    DASHBOARD_FILE,
    DASHBOARD_URL_PATH,
    DEMO_PASSWORD,
    DEMO_USERNAME,
    DOMAIN,
    GLUCOSE_DASHBOARD,
    GLUCOSE_ENTITY,
    HOST,
    ROOT,
    LiveTest,
    LiveTestError,
    Report,
    leaked,
    numeric_state,
    parser,
    run_and_report,
)

CHROMIUM: Final = "/usr/bin/chromium"
CHROMIUM_ARGS: Final = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
VIEWPORT: Final = {"width": 1280, "height": 900}
DEFAULT_TIMEOUT: Final = 420.0
UI_TIMEOUT_MS: Final = 20_000
HIGH_ENTITY: Final = f"binary_sensor.{DEMO_USERNAME}_high"
AGP_ENTITY: Final = f"image.{DEMO_USERNAME}_ambulatory_glucose_profile"
CHART_ENTITY: Final = f"image.{DEMO_USERNAME}_glucose_chart"
RAW_KEY: Final = re.compile(r"component\.cgm_handler\.[\w.]+")
WRONG_PASSWORD: Final = "not-the-demo-password"  # noqa: S105 - a wrong password on purpose
INVALID_AUTH: Final = "Dexcom rejected the account name or password"
DEMO_STATISTICS_ID: Final = DEMO_ENTRY_ID.lower()  # docs/dashboard.yaml's entry id
# Home Assistant integrations its onboarding sets up when the location step is done
# (components/onboarding/views.py): two would install requirements from PyPI and then go to
# the internet, met to api.met.no. Stand-ins in the throwaway configuration abort their
# onboarding flow instead, so nothing leaves this machine.
OFFLINE_STANDINS: Final = ("google_translate", "met", "radio_browser")
DOCS: Final = ROOT / "docs"
# Home Assistant 2026.11 sets up assist_satellite by default, and its service descriptions
# (websocket get_services, which every page asks for) import assist_pipeline, which imports
# these two voice packages; they do not install in the runtime venv (no wheel builds
# there), so Home Assistant skips them (--skip-pip-packages). Importable
# stand-ins, never called (no voice here), keep the frontend working.
VOICE_STANDINS: Final = "voice-standins"
VOICE_MODULES: Final = {
    "pymicro_vad": '"""Stand-in: scripts/browser."""\n\n\nclass MicroVad:\n    """Unused."""\n',
    "pyspeex_noise": (
        '"""Stand-in: scripts/browser."""\n\n\nclass AudioProcessor:\n    """Unused."""\n'
    ),
}
# The German pass (step 7): its language, and the sections of strings.json whose English
# texts must not show on its pages.
GERMAN: Final = "de"
GERMAN_SECTIONS: Final = ("config", "options", "selector", "entity")
SAME_IN_GERMAN: Final = frozenset({"Region", "Trend"})
FLOW_DIALOG: Final = "dialog-data-entry-flow"
# Home Assistant's warning, on a change of its language, for each platform of each loaded
# integration (cgm_handler.sensor as backup.sensor): a test's deliberate change.
LANGUAGE_CHANGE_RECORD: Final = (
    "homeassistant.helpers.translation",
    f"Failed to load integration for translation: Invalid domain {DOMAIN}.",
)
DEVICE_PAGE: Final = "ha-config-device-page"
BRANDS_PATH: Final = "/api/brands/"
OUR_BRAND_PATH: Final = f"/api/brands/integration/{DOMAIN}/"

# --- the page snippets ---------------------------------------------------------------------

# The one walk through the page: walk(root, visit) calls visit(node) for every node under
# root in document order, into open shadow roots (a host's shadow root before its
# children); visit returning false skips the node's subtree. deepAll(selector) lists the
# elements that match, wherever they are.
SHADOW_DOM_JS: Final = """
  const walk = (root, visit) => {
    for (const node of root.childNodes) {
      if (visit(node) === false) continue;
      if (node.shadowRoot) walk(node.shadowRoot, visit);
      walk(node, visit);
    }
  };
  const deepAll = (selector) => {
    const out = [];
    walk(document, (node) => {
      if (node.nodeType === Node.ELEMENT_NODE && node.matches(selector)) out.push(node);
    });
    return out;
  };
"""


def page_function(parameters: str, body: str) -> str:
    """Return a function for page.evaluate whose body can use walk and deepAll."""
    return f"({parameters}) => {{{SHADOW_DOM_JS}{body}}}"


# Every text node and the label-like attributes; style and script contents are left out.
# visibleOnly skips elements without a layout box; within (a selector) keeps to the first
# element that matches, wherever it is.
PAGE_TEXT_JS: Final = page_function(
    "{visibleOnly, within}",
    """
  const out = [];
  const skip = new Set(["STYLE", "SCRIPT", "TEMPLATE", "NOSCRIPT"]);
  const root = within ? deepAll(within)[0] : document;
  if (!root) return "";
  const visit = (node) => {
    if (node.nodeType === Node.TEXT_NODE) {
      const text = node.textContent.trim();
      if (text) out.push(text);
      return false;
    }
    if (node.nodeType !== Node.ELEMENT_NODE) return true;
    if (skip.has(node.tagName)) return false;
    if (visibleOnly && node.getClientRects().length === 0 && !node.shadowRoot
        && getComputedStyle(node).display !== "contents") return false;
    for (const name of ["label", "placeholder", "title", "aria-label", "helper"]) {
      const value = node.getAttribute(name);
      if (value) out.push(value);
    }
    return true;
  };
  if (root.shadowRoot) walk(root.shadowRoot, visit);
  walk(root, visit);
  return out.join("\\n");
""",
)
# Every <img>, with whether it loaded.
IMAGES_JS: Final = page_function(
    "",
    """
  return deepAll("img").map((img) => ({
    src: img.currentSrc || img.src || "", complete: img.complete, width: img.naturalWidth,
  }));
""",
)
# The names of form fields (ha-selector) whose label is missing or is just the field's
# name, which is what the frontend shows without a translation.
RAW_FIELD_LABELS_JS: Final = page_function(
    "",
    """
  return deepAll("ha-selector")
    .filter((el) => typeof el.name === "string" && el.name && (!el.label || el.label === el.name))
    .map((el) => el.name);
""",
)
# The <input> whose nearest labelled host (through shadow roots) has exactly that label.
LABELLED_INPUT_JS: Final = page_function(
    "label",
    """
  for (const input of deepAll("input")) {
    let node = input;
    for (let depth = 0; node && depth < 8; depth++) {
      if (typeof node.label === "string" && node.label) {
        if (node.label === label) return input;
        break;
      }
      node = node.parentElement || (node.getRootNode && node.getRootNode().host);
    }
  }
  return null;
""",
)
# True once at least N echarts canvases (statistics graphs) have a size.
CHART_READY_JS: Final = page_function(
    "wanted",
    """
  return deepAll("canvas").filter((el) => el.width > 0 && el.height > 0).length >= wanted;
""",
)


# --- the throwaway configuration ------------------------------------------------------------

STANDIN_FLOW: Final = '''\
"""Offline stand-in written by scripts/browser: aborts onboarding's setup of {domain}."""

from homeassistant import config_entries


class StandinFlow(config_entries.ConfigFlow, domain="{domain}"):
    """Abort every flow: the browser test stays off the internet."""

    async def async_step_onboarding(self, data=None):
        """Abort onboarding's flow."""
        return self.async_abort(reason="offline_test")

    async def async_step_user(self, user_input=None):
        """Abort a user's flow."""
        return self.async_abort(reason="offline_test")
'''


def write_standins(config_dir: Path) -> None:
    """Write the offline stand-ins of onboarding's integrations and of the voice packages."""
    custom = config_dir / "custom_components"
    for domain in OFFLINE_STANDINS:
        folder = custom / domain
        folder.mkdir()
        manifest = {
            "domain": domain,
            "name": f"{domain} (offline stand-in)",
            "version": "0.0.0",
            "config_flow": True,
            "documentation": "https://www.home-assistant.io",
            "codeowners": [],
            "requirements": [],
            "dependencies": [],
            "iot_class": "local_polling",
        }
        (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
        (folder / "__init__.py").write_text('"""Offline stand-in."""\n', encoding="utf-8")
        (folder / "config_flow.py").write_text(
            STANDIN_FLOW.replace("{domain}", domain), encoding="utf-8"
        )
    voice = config_dir / VOICE_STANDINS
    voice.mkdir()
    for module, text in VOICE_MODULES.items():
        (voice / f"{module}.py").write_text(text, encoding="utf-8")


def write_dashboard(config_dir: Path, entry_id: str) -> None:
    """Write docs/dashboard.yaml, its statistic ids pointed at the entry."""
    text = (DOCS / "dashboard.yaml").read_text(encoding="utf-8")
    (config_dir / DASHBOARD_FILE).write_text(
        text.replace(DEMO_STATISTICS_ID, entry_id.lower()), encoding="utf-8"
    )


def add_demo_history(config_dir: Path, entry_id: str) -> None:
    """Add 14 days of the demo account's readings to the entry's stored reading history."""
    path = config_dir / ".storage" / storage_key(entry_id)
    readings: dict[int, int] = {}
    if path.exists():
        stored = json.loads(path.read_text(encoding="utf-8"))
        readings = {int(ms): int(value) for ms, value in stored["data"]["readings"]}
    for reading in demo_readings()[1]:
        readings.setdefault(to_ms(reading.time), reading.value)
    content = storage_file(path.name, HISTORY_VERSION, stored_form(readings))
    path.write_text(json.dumps(content), encoding="utf-8")


def flat_texts(node: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """Return the texts of a translation file by dotted key."""
    texts: dict[str, str] = {}
    for key, value in node.items():
        if isinstance(value, dict):
            texts |= flat_texts(value, f"{prefix}{key}.")
        else:
            texts[f"{prefix}{key}"] = str(value)
    return texts


def german_texts() -> tuple[dict[str, str], set[str]]:
    """Return the German texts by key, and the English ones German must not show."""
    folder = ROOT / "custom_components" / DOMAIN
    english = flat_texts(json.loads((folder / "strings.json").read_text(encoding="utf-8")))
    path = folder / "translations" / f"{GERMAN}.json"
    german = flat_texts(json.loads(path.read_text(encoding="utf-8")))
    left = {
        text
        for key, text in english.items()
        if key.split(".", 1)[0] in GERMAN_SECTIONS and text not in SAME_IN_GERMAN
    }
    return german, left


def runtime_venv(release: str) -> str:
    """Return the runtime venv of a release, from scripts/bootstrap's RELEASES."""
    text = (ROOT / "scripts" / "bootstrap").read_text(encoding="utf-8")
    table = text.split('RELEASES="', 1)[1].split('"', 1)[0]
    for line in table.splitlines():
        if line.split()[:1] == [release]:
            return line.split()[-1]
    raise LiveTestError(f"scripts/bootstrap names no release {release}")


# --- the run --------------------------------------------------------------------------------


@dataclass(slots=True)
class BrowserReport(Report):
    """The report, with the images checked and the requests blocked."""

    blocked: set[str] = field(default_factory=set)
    images_checked: int = 0
    brand_icon: str | None = None

    def details(self) -> list[str]:
        """Return the images' and the blocked requests' lines."""
        lines = [f"  images checked         {self.images_checked} (icon {self.brand_icon})"]
        brands = {url for url in self.blocked if urlsplit(url).path.startswith(BRANDS_PATH)}
        if brands:
            lines.append(f"  blocked brand images   {len(brands)} of other integrations")
        if outside := self.blocked - brands:
            hosts = sorted({urlsplit(url).netloc for url in outside})
            lines.append(f"  blocked requests       {len(outside)} to {', '.join(hosts)}")
        return lines


class BrowserTest(LiveTest):
    """One run: Home Assistant of another venv, the steps in Chromium."""

    name = "browser"
    errors = (LiveTestError, PlaywrightError)
    # Home Assistant 2026.11 sets up assist_satellite by default, whose assist_pipeline needs
    # two voice packages that build from source: they are skipped (and stood in for); the
    # other requirements of the default integrations install from PyPI as in the smoke test.
    ha_args = ("--skip-pip-packages", "pymicro-vad,pyspeex-noise")

    def __init__(self, args: argparse.Namespace) -> None:
        """Prepare the run; the browser gets a fresh profile."""
        super().__init__(args)
        self.report: BrowserReport
        self.owner_password = secrets.token_urlsafe(16)
        self.secrets.add(self.owner_password)
        self.profile = Path(tempfile.mkdtemp(prefix="chromium-profile-"))
        self.shots = self.config_dir / "screens"
        self.shots.mkdir()

    def new_report(self) -> BrowserReport:
        """Return the run's empty report."""
        return BrowserReport()

    def python(self) -> Sequence[str]:
        """Return the release's Python through scripts/in-env.

        -P: not the repository (in-env's working folder) but the configuration's
        custom_components, with the stand-ins; PYTHONPATH: the voice stand-ins.
        """
        voice = f"PYTHONPATH={self.config_dir / VOICE_STANDINS}"
        return (str(ROOT / "scripts" / "in-env"), self.args.ha_venv, "env", voice, "python", "-P")

    def configuration(self) -> dict[str, Any]:
        """Return the test's configuration with what the pages need and the dashboard.

        The integrations the pages need (history for the sensor card's graph, logbook, the
        recorder for statistics) are named. Latitude and longitude are left out, so
        onboarding's location step keeps Home Assistant's defaults.
        """
        config = super().configuration()
        for key in ("latitude", "longitude", "elevation"):
            del config["homeassistant"][key]
        config["frontend"] = {"themes": {}}
        config.update(dict.fromkeys(("history", "logbook", "diagnostics", "system_health")))
        config["lovelace"] = GLUCOSE_DASHBOARD
        return config

    def prepare_config(self) -> None:
        """Write the configuration, the stand-ins and the dashboard."""
        super().prepare_config()
        write_standins(self.config_dir)
        write_dashboard(self.config_dir, DEMO_STATISTICS_ID)

    async def steps(self) -> None:
        """Launch Chromium on a fresh profile, then run the steps in it."""
        async with async_playwright() as playwright:
            # A fresh profile (--user-data-dir, which Playwright sets from this folder).
            context = await playwright.chromium.launch_persistent_context(
                str(self.profile),
                executable_path=CHROMIUM,
                headless=True,
                args=list(CHROMIUM_ARGS),
                timeout=60_000,
                viewport=VIEWPORT,  # type: ignore[arg-type]
                color_scheme="light",
                locale="en-US",
                timezone_id="UTC",
                accept_downloads=True,
            )
            try:
                await self.in_browser(context)
            finally:
                await context.close()

    async def in_browser(self, context: BrowserContext) -> None:
        """Run steps 1 to 6 in the browser; on a failure, keep a screenshot."""
        context.set_default_timeout(UI_TIMEOUT_MS)
        await context.route("**/*", self.block_outside)
        page = context.pages[0] if context.pages else await context.new_page()
        try:
            await self.step("1 onboarding", self.onboarding(page))
            await self.step("2 add CGM Handler", self.add_integration(page))
            await self.step("3 device page", self.device_page(page))
            await self.step("4 dashboard", self.dashboard(page))
            await self.step("5 options flow", self.options_flow(page))
            await self.step("6 diagnostics", self.diagnostics(page))
            await self.step("7 in German", self.in_german(page))
        except self.errors:
            with contextlib.suppress(PlaywrightError):
                await page.screenshot(path=self.shots / "failure.png", full_page=True)
                self.say(
                    f"page at the failure: {page.url}; screenshot {self.shots / 'failure.png'}"
                )
                self.say("visible text: " + (await self.page_text(page, visible=True))[:1500])
            raise

    async def block_outside(self, route: Route) -> None:
        """Let requests to 127.0.0.1 through; block and note the others."""
        url = route.request.url
        host = urlsplit(url).hostname or ""
        path = urlsplit(url).path
        if path.startswith(BRANDS_PATH) and not path.startswith(OUR_BRAND_PATH):
            # Another integration's image, which Home Assistant would fetch from its CDN.
            self.report.blocked.add(url)
            await route.abort("internetdisconnected")
        elif host in {HOST, "localhost"} or url.startswith(("data:", "blob:")):
            await route.continue_()
        else:
            self.report.blocked.add(url)
            await route.abort("internetdisconnected")

    # --- checks on every page ------------------------------------------------------------

    async def page_text(self, page: Page, *, visible: bool = False, within: str = "") -> str:
        """Return the page's text through shadow roots, or that of one element."""
        return str(await page.evaluate(PAGE_TEXT_JS, {"visibleOnly": visible, "within": within}))

    async def settle(self, page: Page) -> None:
        """Wait for the network to calm down (bounded) and a moment for rendering."""
        with contextlib.suppress(PlaywrightError):
            await page.wait_for_load_state("networkidle", timeout=10_000)
        await page.wait_for_timeout(500)

    async def check_page(self, page: Page, where: str) -> str:
        """Fail on a raw translation key or a broken image; return the visible text."""
        await self.settle(page)
        text = await self.page_text(page)
        if keys := sorted(set(RAW_KEY.findall(text))):
            raise LiveTestError(f"{where}: raw translation keys shown: {', '.join(keys)}")
        # A form field without its translation: the frontend labels it with the raw field
        # name (component.cgm_handler.config.step.<step>.data.<field> missing).
        if raw := sorted(set(await page.evaluate(RAW_FIELD_LABELS_JS))):
            raise LiveTestError(
                f"{where}: form fields labelled with their raw keys (missing translation): "
                + ", ".join(raw)
            )
        await self.check_images(page, where)
        return await self.page_text(page, visible=True)

    async def check_images(self, page: Page, where: str) -> None:
        """Fail on an image of this Home Assistant that did not load."""
        images: list[dict[str, Any]] = []
        for _ in range(20):  # up to 10 s for images still loading
            images = await page.evaluate(IMAGES_JS)
            if all(image["complete"] for image in images):
                break
            await page.wait_for_timeout(500)
        broken = []
        for image in images:
            src = str(image["src"])
            if not src or src.startswith("data:"):
                continue
            self.report.images_checked += 1
            if src in self.report.blocked:
                continue  # blocked on purpose: another integration's image, a map tile
            local = urlsplit(src).hostname in {HOST, "localhost"}
            if DOMAIN in src and not local:
                broken.append(f"{src} (CGM Handler's icon from outside this Home Assistant)")
            elif local and (not image["complete"] or image["width"] == 0):
                broken.append(src.split("?", maxsplit=1)[0])
        if broken:
            raise LiveTestError(f"{where}: broken images: {', '.join(broken)}")

    async def type_into(self, page: Page, name: str, text: str) -> None:
        """Type into the form's input of that field name (its label is checked as text)."""
        field_input = page.locator(f"input[name='{name}']").first
        await field_input.click()
        await field_input.fill("")
        await field_input.press_sequentially(text, delay=5)

    # --- 1. onboarding -------------------------------------------------------------------

    async def onboarding(self, page: Page) -> str:
        """Go through onboarding as a person: owner, location, analytics, finish."""
        await page.goto(self.hass.base_url + "/", wait_until="domcontentloaded")
        welcome = re.compile("Create my smart home", re.IGNORECASE)
        await page.get_by_role("button", name=welcome).click()
        await self.check_page(page, "onboarding, user step")
        await self.type_into(page, "name", "Browser Test")
        await self.type_into(page, "username", "tester")
        await self.type_into(page, "password", self.owner_password)
        await self.type_into(page, "password_confirm", self.owner_password)
        await page.get_by_role("button", name=re.compile("Create account", re.IGNORECASE)).click()
        shown = []
        for _ in range(6):  # location, country, analytics, integrations: whatever comes
            await page.wait_for_timeout(1000)
            if "/onboarding" not in page.url:
                break
            await self.check_page(page, f"onboarding ({len(shown) + 2})")
            for name in ("Next", "Finish"):
                button = page.get_by_role("button", name=name, exact=True)
                if await button.count() and await button.first.is_enabled():
                    shown.append(name)
                    await button.first.click()
                    break
        await page.wait_for_url(re.compile(r"/(lovelace|home)"), timeout=UI_TIMEOUT_MS)
        tokens = await page.evaluate("localStorage.getItem('hassTokens')")
        if not tokens:
            raise LiveTestError("onboarding left no tokens in the browser")
        token = json.loads(tokens)["access_token"]
        self.api.token = token
        self.secrets.add(token)
        await self.check_page(page, "overview after onboarding")
        confirmed = await self.confirm_http_settings(page)
        return f"owner typed, then {' -> '.join(shown)}; at {urlsplit(page.url).path}" + (
            "; confirmed the HTTP server settings" if confirmed else ""
        )

    async def confirm_http_settings(self, page: Page) -> bool:
        """Confirm the dialog about configuration.yaml's http settings, when it comes.

        Home Assistant 2026.11 asks once to confirm an http configuration other than the
        default (here: 127.0.0.1 and a free port); unconfirmed, it would revert them.
        """
        dialog_title = page.get_by_text("Confirm new HTTP server configuration").first
        with contextlib.suppress(PlaywrightError):
            await dialog_title.wait_for(timeout=8_000)
        if not await dialog_title.is_visible():
            return False
        await page.get_by_role("button", name="Confirm", exact=True).first.click()
        await dialog_title.wait_for(state="hidden")
        return True

    # --- 2. config flow ------------------------------------------------------------------

    async def add_integration(self, page: Page) -> str:
        """Add CGM Handler from Settings -> Devices & services, by typing into its form."""
        await page.goto(self.hass.base_url + "/config/integrations/dashboard")
        await self.check_page(page, "Devices & services")
        add = re.compile("Add integration", re.IGNORECASE)
        await page.get_by_role("button", name=add).first.click()
        # The dialog opens with the focus in its search field ("Search for a brand name").
        await page.get_by_placeholder("Search for a brand name").first.wait_for()
        await page.wait_for_timeout(500)
        await page.keyboard.type("CGM", delay=20)
        item = page.get_by_text("CGM Handler", exact=True).last
        await item.wait_for()
        await self.check_page(page, "add integration dialog")
        icon = await self.brand_icon(page)
        await item.click()
        await page.get_by_text("Connect to Dexcom Share").first.wait_for()
        await page.locator("input[name='username']").first.wait_for()
        text = await self.check_page(page, "config flow form")
        for label in ("Username, email or phone", "Password", "Region", "Glucose unit"):
            if label not in text:
                raise LiveTestError(f"the config flow's form has no label {label!r}")
        await self.type_into(page, "username", DEMO_USERNAME)
        if self.args.screenshots:
            await page.screenshot(path=DOCS / "setup.png")
        if await page.locator("input[name='server_url']").first.is_visible():
            raise LiveTestError("the Advanced section is not collapsed")
        await self.type_into(page, "password", WRONG_PASSWORD)
        await page.get_by_text("Advanced", exact=True).first.click()
        await page.get_by_text("Server URL").first.wait_for()
        await self.type_into(page, "server_url", self.simulator_origin)
        await page.get_by_role("button", name="Submit", exact=True).click()
        await page.get_by_text(re.compile(INVALID_AUTH)).first.wait_for()
        await self.check_page(page, "config flow form with the error")
        await self.type_into(page, "password", DEMO_PASSWORD)
        await page.get_by_role("button", name="Submit", exact=True).click()
        finish = page.get_by_role("button", name=re.compile("^(Skip and finish|Finish)$")).first
        await finish.wait_for(timeout=60_000)
        await self.check_page(page, "config flow's success")
        await finish.click()
        entries = await self.api.ws_command({"type": "config_entries/get", "domain": DOMAIN})
        if not isinstance(entries, list) or len(entries) != 1:
            raise LiveTestError(f"expected one {DOMAIN} entry, found {entries}")
        self.entry_id = str(entries[0]["entry_id"])
        return f"icon {icon}; wrong password -> '{INVALID_AUTH}...'; entry {self.entry_id}"

    async def brand_icon(self, page: Page) -> str:
        """Return the path of CGM Handler's icon in the list; fail unless it loaded."""
        images = await page.evaluate(IMAGES_JS)
        ours = [image for image in images if f"/{DOMAIN}/" in str(image["src"])]
        if not ours:
            raise LiveTestError("the add integration list shows no icon of CGM Handler")
        src = str(ours[0]["src"])
        if not ours[0]["width"]:
            path = urlsplit(src).path
            raise LiveTestError(f"CGM Handler's icon did not load: {path}")
        self.report.brand_icon = urlsplit(src).path
        return self.report.brand_icon

    # --- 3. device page ------------------------------------------------------------------

    async def device_page(self, page: Page) -> str:
        """Open the entry's device; its entities show values."""

        async def glucose() -> float | None:
            return numeric_state((await self.api.state(GLUCOSE_ENTITY)).get("state"))

        value = await self.wait_for(f"a number in {GLUCOSE_ENTITY}", glucose)
        devices = await self.api.ws_command({"type": "config/device_registry/list"})
        ours = [
            device
            for device in devices or []  # type: ignore[attr-defined]
            if self.entry_id in device.get("config_entries", [])
        ]
        if len(ours) != 1:
            raise LiveTestError(f"expected one device of the entry, found {len(ours)}")
        await page.goto(f"{self.hass.base_url}/config/devices/device/{ours[0]['id']}")
        await page.get_by_text("Sensors", exact=True).first.wait_for()
        text = await self.check_page(page, "device page")
        missing = [
            name for name in ("Glucose", "Trend", "Reading time", "mg/dL") if name not in text
        ]
        if missing:
            raise LiveTestError(f"the device page lacks {missing}")
        if f"{value:g}" not in text:
            raise LiveTestError(f"the device page does not show the glucose {value:g}")
        return f"{ours[0].get('name')}: glucose {value:g} mg/dL shown with its entities"

    # --- 4. dashboard --------------------------------------------------------------------

    async def dashboard(self, page: Page) -> str:
        """Check the example dashboard: chart, values, AGP and statistics, nothing unavailable."""
        await self.seed_history()
        await asyncio.to_thread(write_dashboard, self.config_dir, self.entry_id)
        await self.wait_for_statistics()
        await page.goto(f"{self.hass.base_url}/{DASHBOARD_URL_PATH}/glucose")
        await page.get_by_text("Time in range per day").first.wait_for()
        await page.wait_for_function(CHART_READY_JS, arg=2, timeout=30_000)
        await self.check_picture(page, CHART_ENTITY, CHART_WIDTH)
        await self.check_picture(page, AGP_ENTITY, AGP_WIDTH)
        text = await self.check_page(page, "Glucose dashboard")
        problems = [
            f"'{bad}'"
            for bad in ("unavailable", "Entity not available")
            if bad.lower() in text.lower()
        ]
        wanted = ("Glucose", "Trend", "Last reading", "Mean glucose", "GMI", "24 hours", "14 days")
        problems += [f"no '{name}'" for name in wanted if name not in text]
        if problems:
            raise LiveTestError(f"the dashboard shows {', '.join(problems)}")
        if self.args.screenshots:
            await page.screenshot(path=DOCS / "dashboard.png")
            # The AGP card, scrolled to by the element's own screenshot.
            await self.picture_card(page, AGP_ENTITY).screenshot(path=DOCS / "agp.png")
        await page.goto(f"{self.hass.base_url}/{DASHBOARD_URL_PATH}/statistics")
        await page.wait_for_function(CHART_READY_JS, arg=2, timeout=30_000)
        await self.check_page(page, "Statistics view")
        if self.args.screenshots:
            await page.wait_for_timeout(1000)  # the charts' entry animation
            await page.screenshot(path=DOCS / "statistics.png")
        return "glucose chart, trend, metrics, AGP, two statistics charts; nothing unavailable"

    async def seed_history(self) -> None:
        """Give the entry 14 days of the demo account's readings, then wait for its AGP.

        The config flow's entry holds the 24 hours Share returns. Disabling the entry saves
        its history; the 14 days are added to the saved file before it is enabled again.
        """
        disable = {"type": "config_entries/disable", "entry_id": self.entry_id}
        await self.api.ws_command({**disable, "disabled_by": "user"})
        await asyncio.to_thread(add_demo_history, self.config_dir, self.entry_id)
        await self.api.ws_command({**disable, "disabled_by": None})

        async def drawn() -> bool | None:
            state = (await self.api.state(AGP_ENTITY)).get("state")
            return True if state not in (None, "unavailable", "unknown") else None

        await self.wait_for(f"the AGP in {AGP_ENTITY}", drawn)

    @staticmethod
    def picture_card(page: Page, entity_id: str) -> Locator:
        """Return the picture card that shows an image entity."""
        # `has` is looked for inside each card, so it names the image alone.
        image = page.locator(f"img[src*='/api/image_proxy/{entity_id}']")
        return page.locator("hui-picture-entity-card").filter(has=image)

    async def check_picture(self, page: Page, entity_id: str, width: int) -> None:
        """Fail unless the dashboard's card of an image entity shows it, loaded, at its width."""
        image = self.picture_card(page, entity_id).locator("img").first
        try:
            await image.wait_for(timeout=30_000)
        except PlaywrightError as err:
            raise LiveTestError(f"the dashboard has no card showing {entity_id}") from err
        loaded = 0
        for _ in range(20):  # up to 10 s for the picture to load
            loaded = await image.evaluate("(img) => img.complete ? img.naturalWidth : 0")
            if loaded:
                break
            await page.wait_for_timeout(500)
        if loaded != width:
            raise LiveTestError(f"the card of {entity_id} shows a picture {loaded} pixels wide")

    async def wait_for_statistics(self) -> None:
        """Wait until the recorder has imported the entry's hourly glucose statistics."""
        statistic_id = f"{DOMAIN}:glucose_{self.entry_id.lower()}"

        async def probe() -> bool | None:
            result = await self.api.ws_command(
                {
                    "type": "recorder/list_statistic_ids",
                    "statistic_type": "mean",
                }
            )
            ids = {item.get("statistic_id") for item in result or []}  # type: ignore[attr-defined]
            return True if statistic_id in ids else None

        await self.wait_for(f"statistics {statistic_id}", probe)

    # --- 5. options flow -----------------------------------------------------------------

    async def options_flow(self, page: Page) -> str:
        """Change the high limit in the options form; the high sensor follows."""
        value = numeric_state((await self.api.state(GLUCOSE_ENTITY)).get("state"))
        before = (await self.api.state(HIGH_ENTITY)).get("state")
        if value is None or before not in {"on", "off"}:
            raise LiveTestError(f"glucose {value}, {HIGH_ENTITY} {before}: nothing to change")
        # A limit that flips the sensor, within 71..249 (above low, below urgent high), 30
        # mg/dL away from glucose: more than it moves between two readings, since a new
        # reading may come while the form is filled in.
        high = int(value) - 30 if before == "off" else int(value) + 30
        high = min(max(high, 71), 249)
        expected = "on" if value > high else "off"
        await page.goto(f"{self.hass.base_url}/config/integrations/integration/{DOMAIN}")
        await self.check_page(page, "CGM Handler's integration page")
        await page.get_by_role("button", name=re.compile("Configure", re.IGNORECASE)).first.click()
        await page.get_by_text("Thresholds").first.wait_for()
        await self.check_page(page, "options form")
        field_high = (await page.evaluate_handle(LABELLED_INPUT_JS, "High")).as_element()
        if field_high is None:
            raise LiveTestError("the options form has no field labelled High")
        await field_high.click()
        await field_high.fill("")
        await field_high.type(str(high), delay=20)
        await page.get_by_role("button", name="Submit", exact=True).click()
        with contextlib.suppress(PlaywrightError):
            await page.get_by_role("button", name="Finish", exact=True).click(timeout=5_000)

        async def follows() -> str | None:
            # Against the glucose shown now, in case a new reading came meanwhile.
            now = numeric_state((await self.api.state(GLUCOSE_ENTITY)).get("state"))
            wanted = expected if now is None else ("on" if now > high else "off")
            state = (await self.api.state(HIGH_ENTITY)).get("state")
            return state if state == wanted else None

        await self.wait_for(f"{HIGH_ENTITY} {expected} with high {high}", follows)
        return f"glucose {value:g}: high {180} -> {high}, {HIGH_ENTITY} {before} -> {expected}"

    # --- 6. diagnostics ------------------------------------------------------------------

    async def diagnostics(self, page: Page) -> str:
        """Download the entry's diagnostics from its menu; no secret in them."""
        await page.goto(f"{self.hass.base_url}/config/integrations/integration/{DOMAIN}")
        await self.check_page(page, "CGM Handler's integration page")
        # The entry's own menu (the first in its row), not the page's.
        entry_row = page.locator("ha-config-entry-row").first
        menu = entry_row.get_by_role("button", name=re.compile("Menu|More|Overflow", re.IGNORECASE))
        await menu.first.click()
        async with page.expect_download(timeout=UI_TIMEOUT_MS) as download_info:
            await page.get_by_text("Download diagnostics", exact=True).first.click()
        download = await download_info.value
        path = self.config_dir / "diagnostics.json"
        await download.save_as(path)
        text = path.read_text(encoding="utf-8")
        data = json.loads(text)
        account_ids = set(self.simulator.accounts.by_id)
        share_secrets = {DEMO_PASSWORD, *self.simulator.accounts.sessions, *account_ids}
        if count := leaked(text, share_secrets):
            raise LiveTestError(
                f"the diagnostics hold the password, a session id or the account id ({count})"
            )
        return (
            f"{download.suggested_filename}: {len(text)} bytes, keys {sorted(data)[:4]}, no secret"
        )

    # --- 7. in German -------------------------------------------------------------------

    async def in_german(self, page: Page) -> str:
        """Set German as Home Assistant's and the owner's language; check the pages again.

        Forms, states and repairs follow the profile's language; entity names follow Home
        Assistant's own, which names them when the entry's platforms set up.
        """
        self.tolerated.append(LANGUAGE_CHANGE_RECORD)
        await self.api.ws_command({"type": "config/core/update", "language": GERMAN})
        await self.api.ws_command(
            {"type": "frontend/set_user_data", "key": "language", "value": {"language": GERMAN}}
        )
        await page.evaluate(f"localStorage.setItem('selectedLanguage', '\"{GERMAN}\"')")
        disable = {"type": "config_entries/disable", "entry_id": self.entry_id}
        await self.api.ws_command({**disable, "disabled_by": "user"})
        await self.api.ws_command({**disable, "disabled_by": None})
        german, english = german_texts()
        form = await self.german_config_flow(page, german, english)
        names = await self.german_device_page(page, german, english)
        options = await self.german_options_flow(page, german, english)
        return f"{form}; {names}; {options}; no English text of strings.json left"

    async def check_german(self, page: Page, where: str, english: set[str], within: str) -> str:
        """Check the page as every page; fail on an English text of strings.json in `within`.

        Only within CGM Handler's part of the page: the example dashboard's title, in the
        sidebar, is English in every language.
        """
        text = await self.check_page(page, where)
        ours = await self.page_text(page, within=within)
        if left := sorted(english & set(ours.splitlines())):
            raise LiveTestError(f"{where}: English left in German: {', '.join(left)}")
        return text

    async def german_config_flow(
        self, page: Page, german: dict[str, str], english: set[str]
    ) -> str:
        """Open the config flow in German, submit a wrong password, see the German error."""
        await page.goto(f"{self.hass.base_url}/config/integrations/dashboard/add?domain={DOMAIN}")
        # Home Assistant asks first whether to set up the integration.
        await page.get_by_role("button", name="OK", exact=True).first.click()
        await page.get_by_text(german["config.step.user.title"]).first.wait_for()
        await page.locator("input[name='username']").first.wait_for()
        text = await self.check_german(page, "config flow form in German", english, FLOW_DIALOG)
        fields = ("username", "password", "region", "unit")
        labels = [german[f"config.step.user.data.{field}"] for field in fields]
        if missing := [label for label in labels if label not in text]:
            raise LiveTestError(f"the German config flow form lacks the labels {missing}")
        await self.type_into(page, "username", DEMO_USERNAME)
        await self.type_into(page, "password", WRONG_PASSWORD)
        advanced = german["config.step.user.sections.advanced.name"]
        await page.get_by_text(advanced, exact=True).first.click()
        await self.type_into(page, "server_url", self.simulator_origin)
        await page.get_by_role("button", name="OK", exact=True).click()
        error = german["config.error.invalid_auth"]
        await page.get_by_text(error.split(".", 1)[0]).first.wait_for()
        await self.check_german(page, "config flow error in German", english, FLOW_DIALOG)
        await page.keyboard.press("Escape")
        return f"config flow labels {labels} and its error in German"

    async def german_device_page(
        self, page: Page, german: dict[str, str], english: set[str]
    ) -> str:
        """Open the device page in German: German entity names, no English one."""
        await page.goto(f"{self.hass.base_url}/config/integrations/integration/{DOMAIN}")
        devices = await self.api.ws_command({"type": "config/device_registry/list"})
        device = next(
            item
            for item in devices or []  # type: ignore[attr-defined]
            if self.entry_id in item.get("config_entries", [])
        )
        await page.goto(f"{self.hass.base_url}/config/devices/device/{device['id']}")
        await page.get_by_text(german["entity.sensor.glucose.name"], exact=True).first.wait_for()
        text = await self.check_german(page, "device page in German", english, DEVICE_PAGE)
        keys = ("sensor.glucose", "sensor.trend", "sensor.reading_time", "binary_sensor.high")
        names = [german[f"entity.{key}.name"] for key in keys]
        if missing := [name for name in names if name not in text]:
            raise LiveTestError(f"the German device page lacks the entity names {missing}")
        return f"entities {names}"

    async def german_options_flow(
        self, page: Page, german: dict[str, str], english: set[str]
    ) -> str:
        """Open the options form in German; its fields have German labels."""
        await page.goto(f"{self.hass.base_url}/config/integrations/integration/{DOMAIN}")
        await page.get_by_role("button", name="Konfigurieren", exact=True).first.click()
        await page.get_by_text(german["options.step.init.title"]).first.wait_for()
        await self.check_german(page, "options form in German", english, FLOW_DIALOG)
        high = german["options.step.init.data.high"]
        if (await page.evaluate_handle(LABELLED_INPUT_JS, high)).as_element() is None:
            raise LiveTestError(f"the German options form has no field labelled {high}")
        await page.keyboard.press("Escape")
        return f"options form with {high!r}"

    def clean_up(self) -> None:
        """Remove the browser's profile, and the configuration unless --keep."""
        shutil.rmtree(self.profile, ignore_errors=True)
        super().clean_up()


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse the command line."""
    description = "Browser test of CGM Handler in a real Home Assistant, in Chromium."
    command_line = parser("python -m scripts.browser", description, DEFAULT_TIMEOUT)
    command_line.add_argument("--screenshots", action="store_true", help="write the README's PNGs")
    command_line.add_argument(
        "--ha-venv",
        default=None,
        help="the venv holding Home Assistant (default: the newest release's runtime venv)",
    )
    args = command_line.parse_args(argv)
    if args.ha_venv is None:
        args.ha_venv = runtime_venv("newest")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the browser test and print its report; return the exit code."""
    return run_and_report(BrowserTest(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
