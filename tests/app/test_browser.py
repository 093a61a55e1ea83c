"""The web application in headless Chromium (Debian's, driven by Playwright) against the real
server: the models page, the demo ViT on a dropped digit, a JSON form, a text box, and a server
error shown to the person. Screenshots are kept in ``build/test-artifacts/``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import requests

from shiba.client import Client, load_image
from tests._zoo import IMAGES, Zoo
from tests.app.conftest import shot

pytestmark = [pytest.mark.slow, pytest.mark.integration]


def test_models_page_lists_every_model(zoo: Zoo, page: Any) -> None:
    page.goto(zoo.rest + "/")
    page.locator("#models-table .model-link", has_text="half").wait_for()
    rows = page.locator("#models-table tbody tr").all_inner_texts()
    assert [row.split("\t")[0] for row in rows] == ["ViT", "echo", "grey", "half"]
    assert "AVAILABLE" in rows[0] and "10 classes" in rows[0]
    shot(page, "models")


def test_demo_vit_reads_a_dropped_digit(zoo: Zoo, page: Any) -> None:
    page.goto(zoo.rest + "/")
    page.click("#models-table .model-link >> text=ViT")
    page.set_input_files("input.image-input", str(IMAGES / "digit_7.png"))
    page.locator(".drop", has_text="ready").wait_for()
    with page.expect_request("**/v1/models/ViT:predict") as sent:
        page.click("#predict")
    page.locator("#top").wait_for()
    best = page.locator("#top .top-class").first
    assert best.locator(".label").inner_text() == "7 (class 7)"
    assert page.locator("#top .top-class").count() == 5
    assert page.locator("#latency").inner_text().startswith("answered in ")
    shot(page, "vit-digit-7")
    # The browser laid the image out exactly as the Python client (and the seed's OpenCV one).
    body = json.loads(sent.value.post_data)
    with Client(zoo.rest) as client:
        expected = load_image(IMAGES / "digit_7.png", client.signature("ViT").inputs["images"])
    np.testing.assert_array_equal(np.asarray(body["inputs"]["images"], np.float32), expected)


def test_grey_nchw_integer_image(zoo: Zoo, page: Any) -> None:
    page.goto(zoo.rest + "/#/models/grey")
    page.set_input_files("input.image-input", str(IMAGES / "digit_3.png"))
    page.locator(".drop", has_text="ready").wait_for()
    with page.expect_request("**/v1/models/grey:predict") as sent:
        page.click("#predict")
    page.locator("#outputs").wait_for()
    body = json.loads(sent.value.post_data)
    with Client(zoo.rest) as client:
        expected = load_image(IMAGES / "digit_3.png", client.signature("grey").inputs["pixels"])
    assert expected.shape == (1, 1, 20, 12) and expected.dtype == np.uint8
    np.testing.assert_array_equal(np.asarray(body["inputs"]["pixels"]), expected)
    shown = json.loads(page.locator("#outputs").inner_text())
    assert shown == {"summed": [[int(expected.sum())]]}


def test_json_form_and_copy_as_python(zoo: Zoo, page: Any, tmp_path: Path) -> None:
    page.goto(zoo.rest + "/#/models/half")
    assert page.locator(".json-input[data-input=x]").input_value() == "[[0]]"
    page.fill(".json-input[data-input=x]", "[[2.0], [4.0]]")
    page.fill(".json-input[data-input=k]", "[[3], [1]]")
    page.click("#predict")
    page.locator("#outputs").wait_for()
    assert json.loads(page.locator("#outputs").inner_text()) == {"y": [[3], [4]], "z": [[6], [4]]}
    page.click("text=copy as Python")
    snippet = page.locator("#snippet").inner_text()
    script = tmp_path / "snippet.py"
    script.write_text(snippet)
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("200 {'outputs': {'y': [[3.0], [4.0]]")
    page.click("text=copy as curl")
    assert (
        page.locator("#snippet")
        .inner_text()
        .startswith(f"curl -X POST '{zoo.rest}/v1/models/half:predict'")
    )
    shot(page, "half-json")


def test_text_box_for_strings(zoo: Zoo, page: Any) -> None:
    page.goto(zoo.rest + "/#/models/echo")
    page.fill(".text-input[data-input=text]", "héllo shiba")
    page.click("#predict")
    page.locator("#outputs").wait_for()
    assert json.loads(page.locator("#outputs").inner_text())["same"] == ["héllo shiba"]


def test_a_server_error_is_shown_with_its_message(zoo: Zoo, page: Any) -> None:
    page.goto(zoo.rest + "/#/models/half")
    page.fill(".json-input[data-input=x]", "[[1.0, 2.0]]")
    page.click("#predict")
    error = page.locator("#answer #error")
    error.wait_for()
    answer = requests.post(
        zoo.rest + "/v1/models/half:predict",
        json={"signature_name": "serving_default", "inputs": {"x": [[1.0, 2.0]], "k": [[0]]}},
        timeout=60,
    )
    assert answer.status_code == 400
    assert error.inner_text() == "HTTP 400: " + answer.json()["error"]
    shot(page, "half-error")
    page.fill(".json-input[data-input=x]", "[[1.0")  # not JSON: said so, nothing sent
    page.click("#predict")
    assert "input x: not JSON" in page.locator("#answer #error").inner_text()


def test_unknown_model_page_shows_the_servers_error(zoo: Zoo, page: Any) -> None:
    page.goto(zoo.rest + "/#/models/nope")
    error = page.locator("#error")
    error.wait_for()
    assert error.inner_text() == "HTTP 404: Servable not found for request: Latest(nope)"
