"""The Flask way: a Flask route around the SavedModel's signature, one request at a time.

Run by ``benchmarks/run.py`` under gunicorn (2 sync workers), as people usually deploy it:
``MODEL_DIR=build/models/ViT/1 gunicorn -w 2 benchmarks.flask_app:app``. Same URL and body as
TensorFlow Serving's REST API, answering ``{"predictions": ...}``.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import tensorflow as tf
from flask import Flask, jsonify, request

app = Flask(__name__)
_model = tf.saved_model.load(os.environ["MODEL_DIR"])
_fn = _model.signatures["serving_default"]
_input_name = next(iter(_fn.structured_input_signature[1]))


@app.post("/v1/models/<name>:predict")
def predict(name: str) -> Any:
    data = request.get_json(force=True)
    x = np.asarray(data["instances"], dtype=np.float32)
    outputs = _fn(**{_input_name: tf.constant(x)})
    (output,) = outputs.values()
    return jsonify({"predictions": output.numpy().tolist()})
