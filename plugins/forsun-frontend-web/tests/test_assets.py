"""The dashboard's files as the HTTP front end serves them (a real forsund)."""

from __future__ import annotations

import json

import pytest

from forsun_frontend_web import assets


def test_the_page_is_served_at_ui_with_its_files(dashboard, fetch):
    page = fetch(dashboard.http_url + "/ui/")
    assert page.status == 200
    assert page.headers["Content-Type"] == "text/html; charset=utf-8"
    html = page.body.decode()
    for linked in ("app.js", "app.css", "vendor/uplot/uPlot.iife.min.js",
                   "vendor/uplot/uPlot.min.css"):
        assert f'"{linked}"' in html
        reply = fetch(dashboard.http_url + "/ui/" + linked)
        assert reply.status == 200, linked
        assert reply.body == (assets.files()[linked]).read_bytes()
    assert fetch(dashboard.http_url + "/ui/app.js").headers["Content-Type"] == \
        "text/javascript; charset=utf-8"
    assert fetch(dashboard.http_url + "/ui/index.html").body == page.body


def test_ui_without_the_slash_sends_the_browser_on(dashboard, fetch):
    reply = fetch(dashboard.http_url + "/ui")
    assert reply.status == 200
    assert b'url=ui/"' in reply.body


@pytest.mark.parametrize("path", ["nothing.js", "../pyproject.toml", "%2e%2e/__init__.py",
                                  "vendor", "vendor/", "static/app.js"])
def test_only_the_shipped_files_are_served(dashboard, fetch, path):
    reply = fetch(dashboard.http_url + "/ui/" + path)
    assert reply.status == 404
    assert json.loads(reply.body)["errcode"] == 1003


def test_the_files_need_no_token_but_the_api_does(guarded, fetch, token):
    assert fetch(guarded.http_url + "/ui/").status == 200
    assert fetch(guarded.http_url + "/ui/app.js").status == 200
    assert fetch(guarded.http_url + "/v1/keys").status == 401
    assert fetch(guarded.http_url + "/v1/keys",
                 headers={"Authorization": f"Bearer {token}"}).status == 200


def test_the_openapi_document_describes_the_dashboard(dashboard):
    paths = dashboard.call("GET", "/v1/openapi.json")["paths"]
    assert paths["/ui/{path}"]["get"]["operationId"] == "dashboardFile"
    assert "404" in paths["/ui/{path}"]["get"]["responses"]
    assert "security" not in paths["/ui/{path}"]["get"]


def test_blocking_the_plugin_removes_the_dashboard(forsunds, fetch):
    daemon = forsunds.start("--driver-mem-store-file", "", "--block-plugin", "frontend_web")
    assert fetch(daemon.http_url + "/ui/").status == 404
    assert fetch(daemon.http_url + "/v1/ping").status == 200
