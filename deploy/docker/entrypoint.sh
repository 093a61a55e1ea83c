#!/bin/sh
# The container's entry point: TensorFlow Serving's image's tf_serving_entrypoint.sh, flag for flag.
# It serves ${MODEL_BASE_PATH}/${MODEL_NAME} as ${MODEL_NAME} with gRPC on 8500 and REST on 8501;
# arguments given to the container are appended, so a later flag (--rest_api_port=8080,
# --model_config_file=...) wins over these.
set -eu
MODEL_NAME="${MODEL_NAME:-model}"
MODEL_BASE_PATH="${MODEL_BASE_PATH:-/models}"
exec tensorflow_model_server \
    --port=8500 \
    --rest_api_port=8501 \
    --model_name="${MODEL_NAME}" \
    --model_base_path="${MODEL_BASE_PATH}/${MODEL_NAME}" \
    "$@"
