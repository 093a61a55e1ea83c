"""The Open Inference Protocol's gRPC messages (KServe v2 with Triton's extensions that shiba serves).

``inference.proto`` and ``model_config.proto`` here; ``inference_pb2`` and ``model_config_pb2``
generated from them (see ``shiba._proto``). Import those modules directly: ``shiba._proto`` itself
does not, so a server that serves TensorFlow Serving's API alone never loads them.
"""
