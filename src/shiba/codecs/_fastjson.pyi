"""Type stub of the compiled JSON reader (``_fastjson.c``); see :mod:`shiba.codecs._fast`."""

from typing import Final, final

from typing_extensions import Buffer

#: The deepest nesting of arrays and objects ``loads`` reads; deeper documents give ``None``.
MAX_DEPTH: Final[int]

@final
class FastArray:
    """A rectangular JSON nest of numbers: its values in C order, and its shape."""

    @property
    def buffer(self) -> bytearray:
        """The values, native-endian int64 when :attr:`is_int`, else float64."""

    @property
    def shape(self) -> tuple[int, ...]:
        """The length of the nest at each level (at least one level, no zero)."""

    @property
    def is_int(self) -> bool:
        """True when every value was an integer literal in the int64 range."""

def loads(body: bytes | bytearray | memoryview, /) -> object | None:
    """The JSON document as ``orjson.loads`` reads it, numeric nests as :class:`FastArray`.

    ``None`` for anything it does not read exactly; raises ``TypeError`` only for a body that
    is not bytes-like.
    """

def float32_texts(buffer: Buffer, /) -> list[str]:
    """Each float32 of a C-contiguous buffer (native byte order) as TF Serving's REST answers
    print it (``shiba.codecs._decimal``'s rules). ``ValueError`` when the buffer's length is not
    a multiple of 4, ``TypeError`` for an object that is not a buffer."""
