"""Every exception the project defines derives from :class:`hall_common.errors.HallError`
(STYLE pattern 12: one root, so ``except HallError`` is "any of ours"; each also a builtin).

Which modules define exceptions is read with :mod:`ast` (a class whose base is a builtin
exception, a name ending in ``Error``/``Exception``/``Warning``, or another such class of the
project, found by name); only those modules are imported, so the test does not load
every blueprint, simulator and device module. Nothing here imports cv2: the camera module
loads OpenCV only when a camera is used.
"""

from __future__ import annotations

import ast
import builtins
import importlib
import inspect
import subprocess
import sys
from pathlib import Path

from hall_common.errors import HallError

from .test_imports import project_modules

BUILTIN_EXCEPTIONS = {name for name, value in vars(builtins).items()
                      if isinstance(value, type) and issubclass(value, BaseException)}


def _base_name(node: ast.expr) -> str:
    if isinstance(node, ast.Attribute):
        return node.attr
    return node.id if isinstance(node, ast.Name) else ""


def modules_defining_exceptions() -> set[str]:
    """The project modules that define a class that looks like an exception."""
    classes: list[tuple[str, str, set[str]]] = []
    for name, module in project_modules().items():
        tree = ast.parse(module.path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                classes.append((name, node.name, {_base_name(b) for b in node.bases}))
    exceptions = set(BUILTIN_EXCEPTIONS)
    found: set[str] = set()
    grew = True
    while grew:
        grew = False
        for module, cls, bases in classes:
            if cls not in exceptions and (bases & exceptions or any(
                    b.endswith(("Error", "Exception", "Warning")) for b in bases)):
                exceptions.add(cls)
                found.add(module)
                grew = True
            elif cls in exceptions and bases & exceptions:
                found.add(module)
    return found


def project_exceptions() -> list[type[BaseException]]:
    """Every exception class the project's modules define (importing only those modules)."""
    found: list[type[BaseException]] = []
    for name in sorted(modules_defining_exceptions()):
        module = importlib.import_module(name)
        found += [cls for _, cls in inspect.getmembers(module, inspect.isclass)
                  if cls.__module__ == name and issubclass(cls, BaseException)]
    return found


def test_the_walk_finds_the_exceptions():
    names = {f"{cls.__module__}.{cls.__qualname__}" for cls in project_exceptions()}
    assert {"edge_agent.printing.driver.PrinterError", "central_sync.signing.ConfigRejected",
            "hall_common.errors.RequestFailed", "kiosk.camera.CameraError"} <= names


def test_the_walk_loads_no_opencv():
    """In a fresh interpreter: under xdist, an earlier test of the same worker may have
    loaded cv2 for its own camera."""
    code = ("import sys; from tests.test_exceptions import project_exceptions; project_exceptions(); "
            "sys.exit(3 if 'cv2' in sys.modules else 0)")
    done = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parent.parent, timeout=120)
    assert done.returncode == 0, "importing the modules that define exceptions loaded cv2"


def test_every_exception_derives_from_hall_error():
    outside = [f"{cls.__module__}.{cls.__qualname__}" for cls in project_exceptions() if not issubclass(cls, HallError)]
    assert outside == []


def test_every_hall_error_is_also_a_builtin():
    """STYLE 12: callers that only know Python's builtins still catch ours. A class that only
    groups others (as HallError itself does) may stand on HallError alone."""
    classes = project_exceptions()
    groups = {base for cls in classes for base in cls.__mro__[1:]}
    lacking = [f"{cls.__module__}.{cls.__qualname__}" for cls in classes
               if cls not in groups and not any(c.__module__ == "builtins" and c not in (Exception, BaseException)
                                                for c in cls.__mro__)]
    assert lacking == []
