"""A small language for declaring protobuf messages in Python, and the builder of their classes.

A schema is a list of :class:`File` values holding :class:`Message` values, whose fields are
:class:`Field` (a scalar type name such as ``"int64"``, or another message's full name such as
``"tensorflow.TensorShapeProto"``) or :class:`Map`. :func:`build` turns them into
``FileDescriptorProto`` messages (proto3), adds them to a private ``DescriptorPool`` (so they never
clash with a ``tensorflow`` or ``tensorflow_serving`` package imported into the same process) and
returns the message classes by full name. ``google/protobuf/any.proto`` and ``wrappers.proto`` are
in that pool too, for fields typed ``google.protobuf.Any`` or ``google.protobuf.Int64Value``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from google.protobuf import any_pb2, descriptor_pb2, descriptor_pool, message_factory, wrappers_pb2

__all__ = ["Field", "Map", "Message", "File", "build"]

_FieldProto = descriptor_pb2.FieldDescriptorProto

_SCALARS: dict[str, int] = {
    "double": _FieldProto.TYPE_DOUBLE,
    "float": _FieldProto.TYPE_FLOAT,
    "int64": _FieldProto.TYPE_INT64,
    "uint64": _FieldProto.TYPE_UINT64,
    "int32": _FieldProto.TYPE_INT32,
    "uint32": _FieldProto.TYPE_UINT32,
    "bool": _FieldProto.TYPE_BOOL,
    "string": _FieldProto.TYPE_STRING,
    "bytes": _FieldProto.TYPE_BYTES,
}


@dataclass(frozen=True, slots=True)
class Field:
    """One field. ``type``: a key of the scalar table, or a message's full name (no leading dot).

    Fields in the same ``oneof`` name it; proto3 packs repeated numeric fields by default.
    """

    name: str
    number: int
    type: str
    repeated: bool = False
    oneof: str | None = None


@dataclass(frozen=True, slots=True)
class Map:
    """A ``map<key, value>`` field; ``value`` as :attr:`Field.type`."""

    name: str
    number: int
    key: str
    value: str


@dataclass(frozen=True, slots=True)
class Message:
    name: str
    fields: tuple[Field | Map, ...]
    nested: tuple[Message, ...] = ()


@dataclass(frozen=True, slots=True)
class File:
    """A proto3 file: its (private) name, its package, its messages and the files it uses."""

    name: str
    package: str
    messages: tuple[Message, ...]
    dependencies: tuple[str, ...] = ()


def _camel(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in name.split("_"))


def _fill_field(proto: Any, name: str, number: int, type_name: str, repeated: bool) -> None:
    proto.name = name
    proto.number = number
    proto.json_name = name[:1] + _camel(name)[1:]
    proto.label = _FieldProto.LABEL_REPEATED if repeated else _FieldProto.LABEL_OPTIONAL
    scalar = _SCALARS.get(type_name)
    if scalar is None:
        proto.type = _FieldProto.TYPE_MESSAGE
        proto.type_name = "." + type_name
    else:
        proto.type = scalar


def _fill_message(proto: Any, message: Message, scope: str) -> None:
    proto.name = message.name
    full_name = f"{scope}.{message.name}"
    oneofs: list[str] = []
    for nested in message.nested:
        _fill_message(proto.nested_type.add(), nested, full_name)
    for item in message.fields:
        field = proto.field.add()
        if isinstance(item, Map):
            # A map is a repeated field of a nested "<Name>Entry" message marked map_entry, with
            # `key = 1` and `value = 2`, exactly as protoc writes it.
            entry = proto.nested_type.add()
            entry.name = _camel(item.name) + "Entry"
            entry.options.map_entry = True
            _fill_field(entry.field.add(), "key", 1, item.key, repeated=False)
            _fill_field(entry.field.add(), "value", 2, item.value, repeated=False)
            _fill_field(field, item.name, item.number, f"{full_name}.{entry.name}", repeated=True)
            continue
        _fill_field(field, item.name, item.number, item.type, item.repeated)
        if item.oneof is not None:
            if item.oneof not in oneofs:
                oneofs.append(item.oneof)
                proto.oneof_decl.add().name = item.oneof
            field.oneof_index = oneofs.index(item.oneof)


def file_descriptor(file: File) -> Any:
    """The ``FileDescriptorProto`` of ``file``."""
    proto = descriptor_pb2.FileDescriptorProto()
    proto.name = file.name
    proto.package = file.package
    proto.syntax = "proto3"
    proto.dependency.extend(file.dependencies)
    for message in file.messages:
        _fill_message(proto.message_type.add(), message, file.package)
    return proto


def _message_names(scope: str, messages: Sequence[Message]) -> Iterator[str]:
    for message in messages:
        full_name = f"{scope}.{message.name}"
        yield full_name
        yield from _message_names(full_name, message.nested)


def build(files: Sequence[File]) -> dict[str, type[Any]]:
    """The message classes of ``files`` (in dependency order), keyed by full name.

    Raises ``TypeError`` from protobuf when the schema does not hold together (an unknown type, a
    number used twice).
    """
    pool = descriptor_pool.DescriptorPool()
    for module in (any_pb2, wrappers_pb2):
        pool.AddSerializedFile(module.DESCRIPTOR.serialized_pb)
    for file in files:
        pool.AddSerializedFile(file_descriptor(file).SerializeToString())
    names = [name for file in files for name in _message_names(file.package, file.messages)]
    names += ["google.protobuf.Any", "google.protobuf.Int64Value"]
    return {
        name: message_factory.GetMessageClass(pool.FindMessageTypeByName(name)) for name in names
    }
