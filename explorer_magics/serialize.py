"""Pickling work functions and inputs.

Work functions are pickled *by value* with cloudpickle, so they may use notebook globals,
helper functions and modules imported outside them. Two IPython-specific things are handled:

* ``!cmd`` lines compile to ``get_ipython().system(...)``; ``get_ipython`` in a notebook is a
  bound method of the kernel's shell, which cannot (and must not) travel. It is replaced by a
  reference to :func:`explorer_magics.shell.get_ipython`, a real IPython shell where the
  function runs.
* ``!echo {ref}`` names ``ref`` only inside a string, so cloudpickle would not capture it. The
  names used in ``{...}``/``$name`` of such strings are captured as well and put in the
  shell's namespace before the function runs (IPython's own expansion then finds them).
"""

from __future__ import annotations

import ast
import io
import os
import pickle
import re
import string
import sys
import types
from typing import Any

import cloudpickle

from .errors import InvalidAnalysis

_DOLLAR_NAME = re.compile(r"(?<!\$)\$([A-Za-z_]\w*)")


def _is_shell(obj: object) -> bool:
    mod = sys.modules.get("IPython.core.interactiveshell")
    return mod is not None and isinstance(obj, mod.InteractiveShell)


def _shell_function() -> Any:
    from .shell import get_ipython

    return get_ipython


def _shell_instance() -> Any:
    from .shell import get_ipython

    return get_ipython()


class _Pickler(cloudpickle.CloudPickler):
    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, types.MethodType) and obj.__name__ == "get_ipython" and _is_shell(obj.__self__):
            return _shell_function, ()
        if _is_shell(obj):
            return _shell_instance, ()
        return super().reducer_override(obj)


def dumps(obj: Any) -> bytes:
    """cloudpickle ``obj`` (IPython shells replaced by references to the runner's shell)."""
    buf = io.BytesIO()
    _Pickler(buf, protocol=pickle.HIGHEST_PROTOCOL).dump(obj)
    return buf.getvalue()


def loads(data: bytes) -> Any:
    return pickle.loads(data)


def _names_in_template(text: str) -> set[str]:
    names: set[str] = set()
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(text) if f]
    except ValueError:
        fields = []
    for field in fields:
        try:
            tree = ast.parse(field, mode="eval")
        except SyntaxError:
            continue
        names.update(n.id for n in ast.walk(tree) if isinstance(n, ast.Name))
    names.update(_DOLLAR_NAME.findall(text))
    return names


def _template_names(code: types.CodeType) -> set[str]:
    names: set[str] = set()
    for const in code.co_consts:
        if isinstance(const, str) and ("{" in const or "$" in const):
            names |= _names_in_template(const)
        elif isinstance(const, types.CodeType):
            names |= _template_names(const)
    return names


def shell_globals(function: Any) -> dict[str, Any]:
    """Globals named only inside ``!`` command strings of ``function`` (and of the helper
    functions it calls that were defined beside it), that can be pickled."""
    found: dict[str, Any] = {}
    seen: set[int] = set()

    def visit(fn: Any) -> None:
        code = getattr(fn, "__code__", None)
        if code is None or id(fn) in seen:
            return
        seen.add(id(fn))
        glob = getattr(fn, "__globals__", {})
        if "get_ipython" in code.co_names or any(
            isinstance(c, types.CodeType) and "get_ipython" in c.co_names for c in code.co_consts
        ):
            for name in _template_names(code):
                if name in glob and name not in found and not isinstance(glob[name], types.ModuleType):
                    try:
                        dumps(glob[name])
                    except Exception:  # noqa: BLE001 - best effort: leave it out
                        continue
                    found[name] = glob[name]
        for name in code.co_names:
            value = glob.get(name)
            if isinstance(value, types.FunctionType) and value.__module__ == getattr(fn, "__module__", None):
                visit(value)

    visit(function)
    return found


def _local_module(function: Any) -> types.ModuleType | None:
    """The function's module if it is the user's own file (not installed, not the stdlib):
    such a module is not importable where the element runs, so it travels by value."""
    name = getattr(function, "__module__", None)
    module = sys.modules.get(name or "")
    path = getattr(module, "__file__", None)
    if module is None or name is None or name == "__main__" or not path or name.split(".")[0] == "explorer_magics":
        return None
    installed = {sys.prefix, sys.base_prefix, sys.exec_prefix, *(p for p in sys.path if "-packages" in p)}
    real = os.path.realpath(path)
    if any(real.startswith(os.path.realpath(root) + os.sep) for root in installed if root):
        return None
    return module


def dumps_function(function: Any) -> bytes:
    """Pickle a work function with the globals its shell lines need; a clear error if not."""
    if not callable(function):
        raise InvalidAnalysis(f"function must be callable (a def or lambda), not {type(function).__name__}.")
    local = _local_module(function)
    try:
        if local is not None:
            cloudpickle.register_pickle_by_value(local)
        return dumps((function, shell_globals(function)))
    except Exception as exc:  # noqa: BLE001 - any pickling failure becomes one clear error
        raise InvalidAnalysis(
            f"The work function {getattr(function, '__name__', function)!r} cannot be sent to "
            f"the cluster: {type(exc).__name__}: {exc}. It (or a global it uses) holds something "
            "that cannot be pickled, such as an open file, a lock or a database connection; "
            "create that inside the function instead."
        ) from exc
    finally:
        if local is not None:
            cloudpickle.unregister_pickle_by_value(local)


def dumps_value(value: Any, *, what: str) -> bytes:
    """Pickle one input value; a clear error naming ``what`` if it cannot be."""
    try:
        return dumps(value)
    except Exception as exc:  # noqa: BLE001
        raise InvalidAnalysis(
            f"{what} cannot be pickled ({type(exc).__name__}: {exc}); nothing was submitted. "
            "Pass plain data (str, numbers, lists, dicts, File objects) and open files, "
            "connections or locks inside the work function."
        ) from exc
