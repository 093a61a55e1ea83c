"""A Python model's version folder imported as a package of its own, isolated from every other.

A :class:`VersionPackage` gives one load of one version folder a unique top-level package name
(``shiba_python_model_<model>_<version>_<n>``) whose ``__path__`` is the folder. Its files are that
package's modules, so within them:

- ``from .preprocess import x`` and ``from . import tokenizer`` resolve in the folder (``model.py``
  is the submodule ``<package>.model``);
- ``import preprocess``, ``from tokenizer import Tokenizer``, ``import mypkg.sub`` resolve in the
  folder first, as they would with the folder first on ``sys.path`` when running ``model.py`` as a
  script: a ``name.py`` or a ``name/`` package folder (with ``__init__.py``) wins over an installed
  module of that name; a folder without ``__init__.py`` is a namespace package only where nothing
  installed has the name. Other names import as usual. ``sys.path`` is never changed: the folder's
  own modules see it through a ``__builtins__`` of their own whose ``__import__`` knows the
  package (the ``import`` statement uses it; ``importlib.import_module`` does not, so code that
  calls it names folder modules relatively: ``import_module(".preprocess", __package__)``; so does
  ``pickle``, which finds a class's module in ``sys.modules`` by the name it was pickled under).

Two loads never share a module, also when they run at once: version 1's ``helpers`` is
``<package 1>.helpers``, version 2's ``<package 2>.helpers``. :meth:`VersionPackage.close` drops
every module of the package from ``sys.modules``; a later load makes a new package and reads the
files again. Sources are compiled from the ``.py`` files on every load, never from or into
``__pycache__``: a changed file is always seen, and the model folder is never written (it may be
read-only). Only Python source files and package folders are the folder's modules; compiled
extension modules in it are not imported from there.

One meta path finder (:class:`_Finder`, added to ``sys.meta_path`` with the first package) finds
the modules under live packages' names and answers ``None`` for any other name. A name under a live
package that is not one of its source modules is missing (``ModuleNotFoundError``, also from
``importlib.util.find_spec``): no later finder looks for it in the folder, so a stray ``.pyc`` or
extension module there is not imported, and ``sys.path_importer_cache`` never holds the folder.
"""

from __future__ import annotations

import builtins
import importlib
import importlib.machinery
import importlib.util
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import CodeType, ModuleType
from typing import Any

__all__ = ["VersionPackage"]

_packages: dict[str, VersionPackage] = {}
_install_lock = threading.Lock()


class _SourceLoader(importlib.machinery.SourceFileLoader):
    """Executes a folder's source file with the package's ``__builtins__``, compiled afresh."""

    def get_code(self, fullname: str) -> CodeType:
        source = self.get_data(self.path)
        return self.source_to_code(source, self.path)

    def exec_module(self, module: ModuleType) -> None:
        package = _packages.get(module.__name__.partition(".")[0])
        if package is not None:
            module.__dict__["__builtins__"] = package.builtins
        super().exec_module(module)


class _Finder:
    """A meta path finder for the modules under live :class:`VersionPackage` names."""

    @classmethod
    def find_spec(
        cls, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        root, dot, _ = fullname.partition(".")
        package = _packages.get(root)
        if package is None or not dot or path is None:
            return None
        for entry in path:
            spec = package.finder(entry).find_spec(fullname, target)
            if spec is not None:
                return spec
        # Not None: the finders after this one (PathFinder) would look in the folder too.
        raise ModuleNotFoundError(f"No module named {fullname!r}", name=fullname)

    @classmethod
    def invalidate_caches(cls) -> None:
        for package in list(_packages.values()):
            package.forget_listings()


class VersionPackage:
    """One load of a version ``folder`` as the package ``name`` (unique per load): registered in
    ``sys.modules`` on construction, its modules dropped by :meth:`close`. ``import_module`` may be
    called from any thread; ``close`` once, when nothing imports from the package any more."""

    def __init__(self, name: str, folder: Path) -> None:
        if "." in name or name in sys.modules:
            raise ValueError(f"{name!r} is not a free top-level module name")
        self.name = name
        self.folder = Path(folder).absolute()
        self._finders: dict[str, importlib.machinery.FileFinder] = {}
        self._holds: dict[str, bool] = {}
        self.builtins: Mapping[str, Any] = {**vars(builtins), "__import__": self._import}
        spec = importlib.machinery.ModuleSpec(name, None, origin=str(self.folder), is_package=True)
        spec.submodule_search_locations = [str(self.folder)]
        root = importlib.util.module_from_spec(spec)
        _install()
        _packages[name] = self
        sys.modules[name] = root

    def import_module(self, stem: str) -> ModuleType:
        """Imports the folder's module ``stem`` (``model`` for ``model.py``) as
        ``<package>.<stem>``; raises what importing it raises."""
        return importlib.import_module(f"{self.name}.{stem}")

    def finder(self, entry: str) -> importlib.machinery.FileFinder:
        """The finder of source files in the folder (or a package folder in it) ``entry``."""
        found = self._finders.get(entry)
        if found is None:
            details = (_SourceLoader, importlib.machinery.SOURCE_SUFFIXES)
            found = self._finders.setdefault(entry, importlib.machinery.FileFinder(entry, details))
        return found

    def forget_listings(self) -> None:
        """Makes the finders list their folders again (``importlib.invalidate_caches``)."""
        for found in list(self._finders.values()):
            found.invalidate_caches()

    def holds(self, top: str) -> bool:
        """Whether ``import top`` in the folder's code means the folder's own ``top``: decided at
        the first import of ``top`` by the folder's code and kept for the package's life (an
        ``import`` in ``predict`` costs a dict look-up more than a plain one)."""
        known = self._holds.get(top)
        if known is None:
            known = self._holds.setdefault(top, self._find(top))
        return known

    def _find(self, top: str) -> bool:
        if f"{self.name}.{top}" in sys.modules:
            return True
        spec = self.finder(str(self.folder)).find_spec(f"{self.name}.{top}")
        if spec is None:
            return False
        if spec.loader is not None:
            return True
        # A folder without __init__.py: a namespace package, which anything installed outranks.
        return top not in sys.modules and importlib.util.find_spec(top) is None

    def close(self) -> None:
        """Unregisters the package and drops it and all its modules from ``sys.modules``."""
        _packages.pop(self.name, None)
        prefix = f"{self.name}."
        for key in [k for k in list(sys.modules) if k == self.name or k.startswith(prefix)]:
            sys.modules.pop(key, None)

    def _import(
        self,
        name: str,
        globals: Mapping[str, Any] | None = None,
        locals: Mapping[str, Any] | None = None,
        fromlist: Sequence[str] | None = (),
        level: int = 0,
    ) -> ModuleType:
        real: Callable[..., ModuleType] = builtins.__import__
        top = name.partition(".")[0]
        if level != 0 or not top or not self.holds(top):
            return real(name, globals, locals, fromlist, level)
        full = f"{self.name}.{name}"
        try:
            module = real(full, globals, locals, fromlist, 0)
        except ModuleNotFoundError as err:
            missing = err.name or ""
            if not missing.startswith(f"{self.name}."):
                raise
            short = missing[len(self.name) + 1 :]
            raise ModuleNotFoundError(
                f"No module named {short!r} in {self.folder}", name=short
            ) from None
        return module if fromlist else sys.modules[f"{self.name}.{top}"]


def _install() -> None:
    with _install_lock:
        if _Finder not in sys.meta_path:
            sys.meta_path.insert(0, _Finder)
