"""The page in a real headless browser (Debian's chromium through Playwright) against the real stack."""
from __future__ import annotations

import datetime

from dashboard_world import ARTIFACTS, PARTITIONS, closed_port, start_dashboard
from weather.read.dashboard.state import WAITING
from world import STATIONS, wait_for


def shown_offsets(page) -> dict[int, str]:
    cells = page.locator("#partitions tbody tr td.offset").all_inner_texts()
    return dict(enumerate(cells))


def expected_offsets(saved) -> dict[int, str]:
    return {p: f"{saved[p].offset:,}" for p in PARTITIONS}


def charted_stations(page) -> list[str]:
    return page.evaluate("[...document.querySelectorAll('#charts canvas')].map(c => c.dataset.station)")


def tooltip_at_last_day(page, station: str) -> tuple[list[str], list[str]]:
    """Hover over the station's chart at its last day: the tooltip's title and lines."""
    canvas = page.locator(f'#charts canvas[data-station="{station}"]')
    right, middle = canvas.evaluate(
        "c => { const area = Chart.getChart(c).chartArea; return [area.right, (area.top + area.bottom) / 2]; }")
    box = canvas.bounding_box()
    page.mouse.move(box["x"] + right - 1, box["y"] + middle)
    return canvas.evaluate(
        "c => { const tip = Chart.getChart(c).tooltip; return [tip.title, tip.body.flatMap(b => b.lines)]; }")


def later_days(last_date: str, count: int) -> list[tuple[str, str, float]]:
    """count more days of readings for every station after last_date, as the generator would add them."""
    first = datetime.date.fromisoformat(last_date)
    return [(station, (first + datetime.timedelta(days=day)).isoformat(), 20.0 + day)
            for day in range(1, count + 1) for station in STATIONS]


def test_the_page_shows_the_committed_data_and_follows_new_batches(live, page):
    saved = live.settle()
    page.goto(live.url)
    wait_for(lambda: shown_offsets(page) == expected_offsets(saved), 30, "the committed offsets on the page")
    stations = sorted(set(live.committed()["station_id"].to_pylist()))
    assert charted_stations(page) == stations  # one chart per station
    assert page.locator("#stations tbody tr").count() == len(stations)
    assert page.locator("#banners .banner").count() == 0
    page.evaluate("window.notReloaded = true")  # a reload would lose it

    last_date = max(live.committed()["date"].to_pylist())
    live.world.insert(later_days(last_date, 20))
    saved = live.settle()
    wait_for(lambda: shown_offsets(page) == expected_offsets(saved), 30, "the new offsets on the page")
    assert page.evaluate("window.notReloaded") is True
    new_last = (datetime.date.fromisoformat(last_date) + datetime.timedelta(days=20)).isoformat()
    wait_for(lambda: page.evaluate("Chart.getChart(document.querySelector('#charts canvas')).data.labels.at(-1)")
             == new_last, 10, "the chart's new last day")
    # Every station read 20 + day on the 20 new days: on the last, 40 and a 7-day mean of 34..40.
    _, lines = wait_for(lambda: (tip := tooltip_at_last_day(page, "StationC"))[0] == [new_last] and tip, 10,
                        "the tooltip of the last day")
    assert lines == ["7-day mean: 37.00 °", "daily: 40.00 °"]
    assert page.locator("#committed-rows").inner_text() == f"{live.committed().num_rows:,}"
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "dashboard.png", full_page=True)


def test_the_page_says_it_waits_for_the_first_batch(world, page):
    _, url = start_dashboard(world)
    page.goto(url)
    notes = page.locator("#partitions tbody tr td.note")
    wait_for(lambda: notes.all_inner_texts() == [WAITING] * len(PARTITIONS), 30, "the waiting notes")
    assert page.locator("#committed-rows").inner_text() == "0"
    page.screenshot(path=ARTIFACTS / "dashboard-empty.png", full_page=True)


def test_the_page_names_stopped_servers_and_its_own_absence(world, page):
    kafka, hdfs, mysql = closed_port(), closed_port(), closed_port()
    dashboard, url = start_dashboard(world, KAFKA_BOOTSTRAP_SERVERS=f"127.0.0.1:{kafka}",
                                     DATA_URL=f"hdfs://127.0.0.1:{hdfs}/data",
                                     DB_URL=f"mysql+mysqlconnector://root:abc@127.0.0.1:{mysql}/CS544")
    page.goto(url)
    banners = page.locator("#banners .banner")
    wait_for(lambda: banners.count() == 3, 30, "three banners")
    texts = " ".join(banners.all_inner_texts())
    for name in (f"Kafka at 127.0.0.1:{kafka}", f"HDFS at 127.0.0.1:{hdfs}", f"MySQL at 127.0.0.1:{mysql}"):
        assert name in texts
    assert page.locator("#partitions tbody tr").count() == len(PARTITIONS)  # the page is not blank
    page.screenshot(path=ARTIFACTS / "dashboard-servers-down.png", full_page=True)

    assert dashboard.stop() == 0, dashboard.stderr  # SIGTERM: a clean exit
    wait_for(lambda: "dashboard server is not answering" in " ".join(banners.all_inner_texts()), 30,
             "the banner saying the dashboard stopped")
    assert page.locator("#partitions tbody tr").count() == len(PARTITIONS)  # the last figures stay
