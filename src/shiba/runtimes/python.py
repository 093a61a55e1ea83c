"""The ``python`` platform: a version folder's ``model.py``, the user's own code, run in the server.

``model.py`` defines one class with ``load(self, path)`` and ``predict(self, inputs)``::

    class Model:
        signature = {"inputs": {"image": {"dtype": "uint8", "shape": [-1, 32, 32, 3]}},
                     "outputs": {"scores": {"dtype": "float32", "shape": [-1, 10]}}}

        def load(self, path: str) -> None:        # the version folder; once, before serving
            ...
        def predict(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
            ...

- The class is the one class ``model.py`` itself defines with both methods; it is made with no
  arguments. Each load imports the version folder as a package of its own
  (``shiba_python_model_<model>_<version>_<n>``, see ``shiba.runtimes._python_package``) and
  ``model.py`` as its module ``model``, so ``model.py`` imports the folder's other files
  (``import preprocess``, ``from .tokenizer import T``, ``import mypkg.sub``) and two versions or
  two models loaded at once share no module state. Unloading drops the package's modules.
- Its signature, ``serving_default``, is the instance's ``signature`` attribute after ``load`` (so
  ``load`` may set it from a model it wraps), else ``signature.json`` in the folder; the format is
  ``shiba.runtimes._signature_file``'s, and both ``inputs`` and ``outputs`` are needed.
- ``predict`` gets exactly the signature's inputs, of its dtypes (the service checks them; shapes
  are checked here), and returns at least its outputs: numbers are cast to the declared dtype
  where numpy casts them safely (``same_kind``), strings become ``bytes``.
- ``predict`` is called from several threads at once: a class with state guards it itself.
- A failure to import ``model.py`` (or a file it imports from the folder), to find the class, or
  in ``load`` fails the version's load (FailedPrecondition, with the error and the folder's file
  and line it came from); an exception in ``predict`` is the request's INTERNAL
  error with its message (a ``ShibaError`` it raises keeps its code); the server keeps serving.
- At unload, the instance's ``close()`` is called when it has one.
"""

from __future__ import annotations

import itertools
import re
import traceback
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar

import numpy as np

from shiba.core.errors import FailedPrecondition, Internal, NotFound, ShibaError
from shiba.core.ids import ServableId
from shiba.core.servable import Outputs
from shiba.core.tensors import DEFAULT_SIGNATURE, PREDICT_METHOD, DType, Signature, Tensors
from shiba.runtimes._bases import (
    FileRuntime,
    SignedServable,
    VersionLoader,
    as_bytes,
    check_shape,
)
from shiba.runtimes._python_package import VersionPackage
from shiba.runtimes._signature_file import SIGNATURE_FILE, parse_signature, read_signature_file
from shiba.runtimes.base import RuntimeOptions

__all__ = ["MODEL_FILE", "PythonRuntime", "PythonLoader", "PythonServable"]

#: The file a version folder holds.
MODEL_FILE = "model.py"
_PREFIX = "shiba_python_model"
_loads = itertools.count(1)


class PythonLoader(VersionLoader["PythonServable"]):
    """Loads one Python model version: imports ``model.py``, makes its class, calls ``load``.

    ``load`` raises NotFound without ``model.py``, FailedPrecondition with the user's error (type,
    message, and the folder's file and line it came from) for anything else. Not thread-safe (the
    manager serialises it)."""

    def __init__(self, servable_id: ServableId, version_dir: Path, options: RuntimeOptions) -> None:
        super().__init__(servable_id, version_dir, options)
        self._package: VersionPackage | None = None

    def _build(self) -> PythonServable:
        path = self.version_dir / MODEL_FILE
        if not path.is_file():
            raise NotFound(f"no {MODEL_FILE} in {self.version_dir}")
        stem = re.sub(r"\W", "_", f"{self.servable_id.name}_{self.servable_id.version}")
        package = VersionPackage(f"{_PREFIX}_{stem}_{next(_loads)}", self.version_dir)
        self._package = package
        try:
            module = self._import(package, path)
            model = self._instantiate(_model_class(module, path), path)
            signature = _signature(model, self.version_dir)
        except BaseException:
            self._forget()
            raise
        return PythonServable(model, signature)

    def _import(self, package: VersionPackage, path: Path) -> ModuleType:
        try:
            return package.import_module(Path(MODEL_FILE).stem)
        except Exception as err:
            raise FailedPrecondition(f"{path} failed to import: {self._describe(err)}") from err

    def _instantiate(self, cls: type[Any], path: Path) -> Any:
        """An instance of ``cls``, made and loaded; FailedPrecondition for what either raises."""
        try:
            model = cls()
            model.load(str(self.version_dir))
        except ShibaError:
            raise
        except Exception as err:
            raise FailedPrecondition(
                f"{path}: loading the model raised {self._describe(err)}"
            ) from err
        return model

    def _describe(self, err: BaseException) -> str:
        """``_describe``, with the folder's modules named as its files import them (``mypkg.sub``,
        not ``<package>.mypkg.sub``) and the package itself as the folder."""
        text = _describe(err, self.version_dir)
        if self._package is None:
            return text
        name = self._package.name
        return text.replace(f"{name}.", "").replace(name, str(self.version_dir))

    def _forget(self) -> None:
        package, self._package = self._package, None
        if package is not None:
            package.close()

    def unload(self) -> None:
        super().unload()
        self._forget()


class PythonRuntime(FileRuntime):
    """Serves Python models: a version folder holding ``model.py``."""

    platform: ClassVar[str] = "python"
    framework: ClassVar[str | None] = None
    extra: ClassVar[str | None] = None
    model_files: ClassVar[tuple[str, ...]] = (MODEL_FILE,)
    loader_type = PythonLoader


class PythonServable(SignedServable):
    """A Servable over the user's model object. ``run`` is as thread-safe as its ``predict``."""

    def __init__(self, model: Any, signature: Signature) -> None:
        super().__init__({DEFAULT_SIGNATURE: signature})
        self._model: Any = model
        self._signature = signature

    def run(
        self, signature_name: str, inputs: Tensors, output_filter: Sequence[str] | None = None
    ) -> Outputs:
        """Calls ``predict``. FailedPrecondition for a signature other than ``serving_default``,
        InvalidArgument for an input of the wrong shape, Internal for whatever ``predict`` raises
        (a ``ShibaError`` keeps its code) or an answer that lacks an output or cannot take its
        dtype."""
        if signature_name != DEFAULT_SIGNATURE:
            raise FailedPrecondition(f'Serving signature key "{signature_name}" not found.')
        model = self._model
        if model is None:
            raise FailedPrecondition("the servable is closed")
        for name, spec in self._signature.inputs.items():
            check_shape(name, spec, inputs[name].shape)
        try:
            result = model.predict(dict(inputs))
        except ShibaError:
            raise
        except Exception as err:
            raise Internal(f"predict raised {type(err).__name__}: {err}") from None
        if not isinstance(result, Mapping):
            raise Internal(f"predict returned {type(result).__name__}, not a dict of arrays")
        names = output_filter or tuple(self._signature.outputs)
        outputs: Outputs = {}
        for name in names:
            if name not in result:
                raise Internal(f"predict's answer has no output {name!r}")
            outputs[name] = _output(name, result[name], self._signature.outputs[name].dtype)
        return outputs

    def close(self) -> None:
        """Calls the model's ``close()`` when it has one; drops the model. Idempotent."""
        model, self._model = self._model, None
        close = getattr(model, "close", None)
        if callable(close):
            close()


def _model_class(module: ModuleType, path: Path) -> type[Any]:
    found = [
        value
        for value in vars(module).values()
        if isinstance(value, type)
        and value.__module__ == module.__name__
        and callable(getattr(value, "load", None))
        and callable(getattr(value, "predict", None))
    ]
    if len(found) != 1:
        names = ", ".join(cls.__name__ for cls in found) or "none"
        raise FailedPrecondition(
            f"{path} must define exactly one class with load(self, path) and "
            f"predict(self, inputs) methods; found {names}"
        )
    return found[0]


def _signature(model: Any, version_dir: Path) -> Signature:
    declared_by = getattr(model, "signature", None)
    where = f"{version_dir / MODEL_FILE}: signature"
    if declared_by is not None:
        declared = parse_signature(declared_by, where)
    else:
        where = str(version_dir / SIGNATURE_FILE)
        found = read_signature_file(version_dir)
        if found is None:
            raise FailedPrecondition(
                f"{version_dir / MODEL_FILE} declares no signature: give its class a signature "
                f"attribute or write {SIGNATURE_FILE} beside it"
            )
        declared = found
    if declared.inputs is None or declared.outputs is None:
        raise FailedPrecondition(f"{where} must declare both inputs and outputs")
    return Signature(inputs=declared.inputs, outputs=declared.outputs, method_name=PREDICT_METHOD)


def _output(name: str, value: Any, dtype: DType) -> Any:
    try:
        array = np.asarray(value)
        if dtype is DType.DT_STRING:
            if array.dtype.kind not in ("O", "S", "U"):
                raise TypeError(f"{array.dtype} values are not strings")
            return as_bytes(array)
        return array.astype(dtype.numpy, casting="same_kind", copy=False)
    except (TypeError, ValueError) as err:
        raise Internal(f"predict's output {name!r} is not {dtype.name}: {err}") from None


def _describe(err: BaseException, version_dir: Path) -> str:
    """``Type: message (file line N)``: where in the version folder's files it was raised (the
    deepest frame in one of them; for a SyntaxError, the line that does not parse)."""
    folder = version_dir.absolute()
    where: tuple[str, int | None] | None = None
    message = str(err)
    if isinstance(err, SyntaxError) and err.filename is not None:
        place = _relative(err.filename, folder)
        if place is not None:
            where, message = (place, err.lineno), str(err.msg)
    if where is None:
        for frame in traceback.extract_tb(err.__traceback__):
            place = _relative(frame.filename, folder)
            if place is not None:
                where = (place, frame.lineno)
    if where is None:
        return f"{type(err).__name__}: {message}"
    return f"{type(err).__name__}: {message} ({where[0]} line {where[1]})"


def _relative(filename: str, folder: Path) -> str | None:
    """``filename`` as a path within ``folder`` (``mypkg/sub.py``), or None outside it."""
    try:
        return Path(filename).absolute().relative_to(folder).as_posix()
    except ValueError:
        return None
