"""The package's shape: no import circles, and the SDK never needs the server.

The import graph is built from the source with ``ast``: every ``import`` and ``from ... import``
anywhere in a module (function-local ones too), except those under ``if TYPE_CHECKING:``,
which never run. A name imported from a package counts as an import of its submodule when
there is one (``from . import session`` is an edge to ``explorer_magics.session``).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("explorer_magics", "server_ext")


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement that can run (``if TYPE_CHECKING:`` bodies left out)."""
    found: list[ast.Import | ast.ImportFrom] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append(node)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def _targets(module: str, path: Path, node: ast.Import | ast.ImportFrom, modules: dict[str, Path]) -> set[str]:
    """The modules (of ours, or external top-level names) that ``node`` imports."""
    names: list[str] = []
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        if node.level:
            base = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
            base = base[: len(base) - (node.level - 1)]
            prefix = ".".join(base + ([node.module] if node.module else []))
        else:
            prefix = node.module or ""
        for alias in node.names:
            candidate = f"{prefix}.{alias.name}"
            names.append(candidate if candidate in modules else prefix)
    out = set()
    for name in names:
        ours = name
        while ours and ours not in modules:
            ours = ours.rpartition(".")[0]
        out.add(ours or name)
    return out


def import_graph() -> dict[str, set[str]]:
    """Module -> what it imports (our modules by full name, external ones as written)."""
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        edges: set[str] = set()
        for node in _imports(tree):
            edges |= _targets(module, path, node, modules)
        edges.discard(module)
        graph[module] = edges
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One concrete loop per strongly connected group of our modules (Tarjan, iterative)."""
    ours = {m: {t for t in ts if t in graph} for m, ts in graph.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []
    counter = 0
    for start in sorted(ours):
        if start in index:
            continue
        work = [(start, iter(sorted(ours[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    group = set()
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        group.add(member)
                        if member == node:
                            break
                    if len(group) > 1:
                        groups.append(group)
            elif child not in index:
                index[child] = low[child] = counter
                counter += 1
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(sorted(ours[child]))))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    loops = []
    for group in groups:  # a shortest way back to the group's first module
        first = min(group)
        paths = {first: [first]}
        frontier = [first]
        loop = None
        while frontier and loop is None:
            nxt = []
            for node in frontier:
                for child in sorted(ours[node] & group):
                    if child == first:
                        loop = paths[node] + [first]
                        break
                    if child not in paths:
                        paths[child] = paths[node] + [child]
                        nxt.append(child)
                if loop:
                    break
            frontier = nxt
        loops.append(loop or sorted(group))
    return loops


def test_the_graph_sees_function_local_imports_and_skips_type_checking_ones(tmp_path):
    """The checker itself: a loop closed by a function-local import is found."""
    graph = {"a": {"b"}, "b": {"a"}, "c": {"a"}}
    assert _cycles(graph) == [["a", "b", "a"]]
    tree = ast.parse("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import x\ndef f():\n    import y\n")
    assert sorted(alias.name for node in _imports(tree) for alias in node.names) == ["TYPE_CHECKING", "y"]


def test_no_module_imports_itself_through_others():
    loops = _cycles(import_graph())
    assert not loops, "import cycles: " + "; ".join(" -> ".join(loop) for loop in loops)


def test_the_sdk_never_imports_the_server():
    """explorer_magics runs in kernels and on cluster nodes, where there is no Jupyter server."""
    bad = sorted(
        f"{module} imports {target}"
        for module, targets in import_graph().items()
        if module.startswith("explorer_magics")
        for target in targets
        if target.split(".")[0] in ("tornado", "jupyter_server", "server_ext")
    )
    assert not bad, bad


# -- the explicit session: no process-global settings below the faces --------------------------
#: the faces: they hold a session (the process default for a notebook's magics, one built from
#: the environment for the CLI and the server) and may ask explorer_magics.session for it
FACES = ("explorer_magics.magics", "explorer_magics.cli", "explorer_magics.cli_cloud", "explorer_magics.cli_slurm")
#: a process's entry point that builds its session from its environment and makes it the default
#: (an element's work function, its File(...) included, means the element's)
MAKES_THE_DEFAULT = {"explorer_magics.runner", "explorer_magics.compute.inline"}
#: the process default's accessors (kept for faces, notebooks and tests)
GLOBAL_ACCESSORS = {"settings", "storage", "compute", "current", "use", "as_default"}
#: the public entry points that may fall back to the default for a caller that passed no session
#: (``session.or_default``): a new one is a decision, so it is listed here
FALLBACK_ALLOWED = {
    "explorer_magics.analysis",  # Analysis(...)
    "explorer_magics.models",  # File(...)
    "explorer_magics.job_manager",  # JobManager()
    "explorer_magics.eos.fs",  # the EOS calls without user=/storage=
    "explorer_magics.shortcuts._common",  # output_location() of the shortcuts
    "explorer_magics.observe.usage",  # prices() without settings
    "explorer_magics.compute.batch.provisioning",  # provisioning.init()
    "explorer_magics.compute.slurm.check",  # run_checks()
}


def _global_session_calls(module: str, tree: ast.AST) -> list[str]:
    """``session.settings()``-like calls (the module's accessors of the process default), and
    ``or_default`` calls, each as ``"<module>:<line> <call>"``."""
    aliases: set[str] = set()  # names bound to the explorer_magics.session module
    direct: dict[str, str] = {}  # names bound to one of its functions -> that function
    for node in _imports(tree):
        if isinstance(node, ast.ImportFrom):
            source = ("." * node.level) + (node.module or "")
            for alias in node.names:
                bound = alias.asname or alias.name
                if alias.name == "session" and source.rstrip(".").split(".")[-1] in ("", "explorer_magics"):
                    aliases.add(bound)
                elif source.split(".")[-1] == "session":
                    direct[bound] = alias.name
        else:
            for alias in node.names:
                if alias.name == "explorer_magics.session" and alias.asname:
                    aliases.add(alias.asname)
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = None
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id in aliases:
            name = func.attr
        elif isinstance(func, ast.Name) and func.id in direct:
            name = direct[func.id]
        if name in GLOBAL_ACCESSORS or name == "or_default":
            found.append(f"{module}:{node.lineno} {name}()")
    return found


def _session_violations() -> list[str]:
    bad = []
    for module, path in _modules().items():
        if module == "explorer_magics.session" or module in FACES or module.startswith("server_ext"):
            continue
        for call in _global_session_calls(module, ast.parse(path.read_text(), str(path))):
            if call.endswith(" or_default()") and module in FALLBACK_ALLOWED:
                continue
            if call.endswith((" use()", " as_default()")) and module in MAKES_THE_DEFAULT:
                continue
            bad.append(call)
    return bad


def test_the_session_check_finds_a_global_accessor_however_it_is_imported():
    """The checker itself: each way of reaching the process default is seen."""
    snippets = {
        "from . import session\nsession.settings().user\n": "settings",
        "from .. import session as s\ns.storage()\n": "storage",
        "from explorer_magics.session import compute\ncompute('local')\n": "compute",
        "from .session import current as cur\ncur()\n": "current",
        "from ..session import or_default\nor_default(None)\n": "or_default",
    }
    for code, name in snippets.items():
        assert _global_session_calls("m", ast.parse(code)) == [f"m:2 {name}()"], code
    assert _global_session_calls("m", ast.parse("def f(session):\n    session.compute('x')\n")) == []


def test_nothing_below_the_faces_reads_the_process_global_session():
    """Code below the faces receives its session (an Analysis, a File, a JobManager keep the one
    they were made with); only the listed public entry points fall back to the default, through
    ``session.or_default``, for a caller that passed none."""
    bad = _session_violations()
    assert not bad, "the process default reached below the faces (pass the session instead): " + "; ".join(bad)
