"""The web application's files ship in the package and are served as what they are."""

from __future__ import annotations

from shiba.app.assets import StaticFiles


def test_page_script_and_style() -> None:
    files = StaticFiles()
    page = files.get("/")
    assert page is not None and page[0] == b"text/html; charset=utf-8"
    assert files.get("/index.html") == page
    for path, kind in (("/static/app.js", b"text/javascript"), ("/static/app.css", b"text/css")):
        found = files.get(path)
        assert found is not None and found[0].startswith(kind)
        assert path.encode() in page[1]  # the page loads it


def test_nothing_from_elsewhere() -> None:
    files = StaticFiles()
    for path in files.paths:
        found = files.get(path)
        assert found is not None
        assert b"http://" not in found[1] and b"https://" not in found[1]
    assert files.get("/static/../__init__.py") is None and files.get("/nope") is None
