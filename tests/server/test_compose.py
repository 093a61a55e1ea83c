"""The composition root's engine per model: the model config's ``tensorflow_engine`` over the
flag's, ``--onnx_engine`` for ONNX models, one record per loaded signature, cleared when the
server unloads."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from shiba.config.flags import parse_flags
from shiba.config.settings import settings_from_flags
from shiba.core.engine_choice import EngineDecision
from shiba.core.errors import Code
from shiba.core.ids import ServableId
from shiba.core.lifecycle.states import ManagerState
from shiba.runtimes import openvino
from shiba.server.compose import Components, compose
from tests.conftest import TF2_SIGNATURES, TFSERVING_TESTDATA
from tests.models import build_onnx_model, build_onnx_vit
from tests.protocols._rest import call

TF2 = TFSERVING_TESTDATA / "saved_model_half_plus_two_tf2_cpu"


@pytest.fixture
def served() -> Iterator[list[Components]]:
    started: list[Components] = []
    yield started
    for components in started:
        components.close()


def start(
    served: list[Components], tmp_path: Path, *models: str, flags: Sequence[str] = ()
) -> Components:
    """A server composed from a model config file naming ``models`` (``config { ... }`` bodies),
    with ``flags`` (by default --tensorflow_engine and --onnx_engine are auto), started: its
    first loads are done."""
    path = tmp_path / "models.config"
    path.write_text(
        "model_config_list {\n" + "".join(f"  config {{ {m} }}\n" for m in models) + "}\n"
    )
    parsed = parse_flags([f"--model_config_file={path}", "--max_num_load_retries=0", *flags])
    components = compose(settings_from_flags(parsed, environ={}))
    served.append(components)
    components.start()
    return components


def test_onnx_models_are_recorded_on_onnxruntime_until_unloaded(
    served: list[Components], tmp_path: Path
) -> None:
    pytest.importorskip("onnxruntime")
    base = build_onnx_model(tmp_path / "onnx").parent
    # a model config's tensorflow_engine does not apply to an ONNX model: --onnx_engine does
    components = start(
        served,
        tmp_path,
        f'name: "o" base_path: "{base}" tensorflow_engine: "openvino"',
        flags=["--onnx_engine=onnxruntime"],
    )
    assert components.engines is not None
    assert components.engines.snapshot() == {
        ServableId("o", 1): {
            "serving_default": EngineDecision(
                "onnxruntime", "engine set to onnxruntime by --onnx_engine"
            )
        }
    }
    assert components.engines.platform(ServableId("o", 1)) == "onnx"
    components.close()
    served.clear()
    assert components.engines.snapshot() == {}
    assert components.engines.platform(ServableId("o", 1)) is None


@pytest.mark.slow
def test_onnx_models_run_on_openvino_where_verified(
    served: list[Components], tmp_path: Path
) -> None:
    pytest.importorskip("onnxruntime")
    pytest.importorskip("openvino")
    vit = build_onnx_vit(tmp_path / "vit").parent
    half = build_onnx_model(tmp_path / "half").parent
    models = (
        f'name: "vit" base_path: "{vit}" tensorflow_engine: "tensorflow"',
        f'name: "half" base_path: "{half}"',
    )
    components = start(served, tmp_path, *models)
    assert components.engines is not None
    records = components.engines.snapshot()
    on_openvino = records[ServableId("vit", 1)]["serving_default"]
    assert on_openvino.engine == "openvino"
    assert on_openvino.reason.startswith("verified, max abs diff ")
    assert dict(records[ServableId("half", 1)]) == {
        "serving_default": EngineDecision(
            "onnxruntime",
            "input k is DT_INT64: OpenVINO's CPU plugin computes 64-bit integers in 32 bits",
        )
    }
    # Forced, the model OpenVINO cannot run fails to load; the other one serves.
    (tmp_path / "forced").mkdir()
    forced = start(served, tmp_path / "forced", *models, flags=["--onnx_engine=openvino"])
    assert forced.engines is not None
    assert list(forced.engines.snapshot()) == [ServableId("vit", 1)]
    (state,) = forced.manager.model_states("half")
    assert (state.state, state.error_code) == (ManagerState.END, Code.FAILED_PRECONDITION)
    assert state.error_message.startswith(
        "{name: half version: 1} cannot run on openvino (the engine is set to openvino; set it "
        "to auto to fall back to onnxruntime): serving_default: input k is DT_INT64"
    )


def test_without_openvino_onnx_models_run_on_onnxruntime(
    served: list[Components], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("onnxruntime")
    monkeypatch.setitem(sys.modules, "openvino", None)  # a machine without the openvino package
    vit = build_onnx_vit(tmp_path / "vit").parent
    components = start(served, tmp_path, f'name: "vit" base_path: "{vit}"')
    assert components.engines is not None
    assert components.engines.snapshot() == {
        ServableId("vit", 1): {
            "serving_default": EngineDecision("onnxruntime", "openvino is not installed")
        }
    }


@pytest.mark.slow
def test_the_models_engine_wins_and_forced_openvino_without_it_is_a_load_error(
    served: list[Components], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("tensorflow")
    monkeypatch.setitem(sys.modules, "openvino", None)  # a machine without the openvino package
    assert not openvino.available()
    components = start(
        served,
        tmp_path,
        f'name: "forced_tf" base_path: "{TF2}" tensorflow_engine: "tensorflow"',
        f'name: "forced_ov" base_path: "{TF2}" tensorflow_engine: "openvino"',
        f'name: "auto" base_path: "{TF2}" tensorflow_engine: ""',
    )
    assert components.engines is not None
    records = components.engines.snapshot()
    assert records.keys() == {ServableId("forced_tf", 123), ServableId("auto", 123)}
    in_config = EngineDecision("tensorflow", "engine set to tensorflow in the model config")
    assert dict(records[ServableId("forced_tf", 123)]) == dict.fromkeys(TF2_SIGNATURES, in_config)
    missing = EngineDecision("tensorflow", "openvino is not installed")
    assert dict(records[ServableId("auto", 123)]) == dict.fromkeys(TF2_SIGNATURES, missing)
    (state,) = components.manager.model_states("forced_ov")
    assert (state.state, state.error_code) == (ManagerState.END, Code.FAILED_PRECONDITION)
    assert state.error_message.startswith(
        "{name: forced_ov version: 123} cannot run on openvino: the openvino engine needs the "
        "openvino package, which cannot be imported"
    )
    assert state.error_message.endswith("install it with: pip install 'shiba[openvino]'")


@pytest.mark.parametrize(("flag", "status"), [("--web_ui=true", 200), ("--web_ui=false", 404)])
def test_the_web_ui_flag_mounts_the_page_and_labels_reach_shibas_route(
    served: list[Components], tmp_path: Path, flag: str, status: int
) -> None:
    pytest.importorskip("onnxruntime")
    version = build_onnx_model(tmp_path / "onnx")
    (version / "assets.extra").mkdir()
    (version / "assets.extra" / "labels.txt").write_text("low\nhigh\n")
    components = start(
        served, tmp_path, f'name: "m" base_path: "{version.parent}" model_platform: "onnx"',
        flags=["--onnx_engine=onnxruntime", flag],
    )  # fmt: skip
    page = call(components.rest_app, "GET", "/")
    assert page[0] == status
    listing = json.loads(call(components.rest_app, "GET", "/shiba/v1/models")[2])
    assert listing["models"][0]["versions"][0]["labels"] == ["low", "high"]
