"""Fixtures of the dashboard's tests: a live isolated pipeline, an idle one, and Debian's chromium
driven by Playwright (helpers in dashboard_world.py)."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

from dashboard_world import CHROMIUM, CHROMIUM_ARGS, LivePipeline
from world import Pipeline


# Per module: a session-long pipeline would outlive the stack tests, which restart every server.
@pytest.fixture(scope="module")
def live(stack_env, tmp_path_factory) -> LivePipeline:
    world = Pipeline(stack_env, tmp_path_factory.mktemp("dashboard-live"))
    try:
        yield LivePipeline(world)
    finally:
        world.close()


@pytest.fixture
def world(stack_env, tmp_path) -> Pipeline:
    """An isolated, idle world: nothing runs until the test starts it."""
    world = Pipeline(stack_env, tmp_path)
    yield world
    world.close()


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists() or not shutil.which("chromium"):
        pytest.fail(f"{CHROMIUM} is missing; run `make setup` (it installs Debian's chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 1400})
    yield context.new_page()
    context.close()
