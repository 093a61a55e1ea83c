"""TensorFlow Serving's messages: ``*.proto`` here, ``*_pb2`` generated from them; see ``shiba._proto``."""
