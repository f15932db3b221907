"""The web app: the page, its JSON (/api/state), and Chart.js served from the project's node_modules."""
from __future__ import annotations

from pathlib import Path

from flask import Flask, Response, jsonify, send_file

from .state import Dashboard

STATIC = Path(__file__).resolve().parent / "static"
# Installed by `make setup` (npm ci, package.json pins it); served from here so the page needs no internet.
CHART_JS = Path(__file__).resolve().parents[4] / "node_modules" / "chart.js" / "dist" / "chart.umd.min.js"


def create_app(dashboard: Dashboard, chart_js: Path = CHART_JS) -> Flask:
    app = Flask(__name__, static_folder=str(STATIC), static_url_path="/static")

    @app.get("/")
    def page():
        return send_file(STATIC / "index.html")

    @app.get("/api/state")
    def state():
        return jsonify(dashboard.state())

    @app.get("/vendor/chart.js")
    def chart_library():
        if not chart_js.exists():
            return Response(f"{chart_js} is missing: run `make setup`", status=404, mimetype="text/plain")
        return send_file(chart_js, mimetype="text/javascript")

    return app
