"""IPython magics: ``%%explorer_job`` and friends, a thin face over the SDK.

``%load_ext explorer_magics`` registers:

``%%explorer_job [options]``
    The cell becomes a work function ``def <name>(ac): <cell>`` and is submitted as an
    :class:`~explorer_magics.analysis.Analysis` (``--local``: ``run_local()``). ``!`` lines,
    ``{}``/``$$`` substitution and ``x = !cmd`` work as in any work function; notebook names
    the cell uses are captured by value. The Analysis is stored in the variable ``--as`` (by
    default the name). Option values that are expressions are evaluated as Python
    expressions in the notebook's namespace.
``%explorer_jobs [--since 1d] [--date 2023-05] [--name x] [--limit 20]``
    Recent analyses with their status.
``%explorer_status ID``
    Status of an analysis (an id, or a variable holding an Analysis), failed elements first.
``%explorer_logs ID [INDEX] [--live] [--since 10m] [--attempt K]``
    The log of one element, optionally followed until it ends (or of an earlier attempt).
``%explorer_rerun ID [--indices 1,5-9]``
    Rerun the FAILED elements (or exactly those indices) in place.
"""

from __future__ import annotations

import ast
import html
import re
import sys
import types
from typing import Any

from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from IPython.core.magic import Magics, cell_magic, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring

from .analysis import Analysis, GlobalConfig, InputShared, JobDefinition, parse_duration
from .errors import ExplorerError, InvalidPath, NotFound
from .records import FAILED, TERMINAL, format_counts
from .session import Session, current

__all__ = ["ExplorerMagics"]

DEFAULT_NAME = "job"
#: elements shown by ``--wait`` (with their outputs) and by ``%explorer_status`` (failed ones)
SHOW_ELEMENTS = 20
_MEMORY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(m|mb|mib|g|gb|gib)?\s*$", re.IGNORECASE)


def _parse_memory(text: str) -> int:
    """Megabytes in ``"4000"``, ``"500M"``, ``"4G"``."""
    m = _MEMORY.match(text)
    if not m:
        raise UsageError(f"--memory {text!r}: give megabytes (e.g. 4000) or a size such as 500M or 4G.")
    number = float(m.group(1))
    unit = (m.group(2) or "m").lower()
    return int(number * 1024) if unit.startswith("g") else int(number)


def _parse_timeout(text: str) -> float:
    """Seconds in ``"600"``, ``"10m"``, ``"2h"``."""
    try:
        return float(text)
    except ValueError:
        pass
    try:
        return parse_duration(text)
    except ExplorerError:
        raise UsageError(f"--timeout {text!r}: give seconds (e.g. 600) or a duration such as 10m or 2h.") from None


def _identifier(name: str) -> str:
    """A Python identifier made from an analysis name (for the work function's ``def``)."""
    ident = re.sub(r"\W+", "_", name).strip("_") or DEFAULT_NAME
    return f"_{ident}" if ident[0].isdigit() else ident


def _parse(magic: Any, line: str) -> Any:
    """Parse a magic's line with its ``magic_arguments`` parser.

    Words are split as IPython does (quotes inside a word stay: ``--input ['a','b']``), and
    a value quoted as a whole loses that one pair of quotes, so an expression with spaces is
    written ``--input "[s for s in samples]"`` and a string literal ``--pip 'rich>=13'``.
    """
    try:
        args = parse_argstring(magic, line)
    except ValueError as exc:  # shlex: an unclosed quote
        raise UsageError(f"Cannot split the options {line.strip()!r}: {exc}.") from None
    for key, value in vars(args).items():
        if isinstance(value, str):
            setattr(args, key, _unquote(value))
        elif isinstance(value, list):
            setattr(args, key, [_unquote(v) if isinstance(v, str) else v for v in value])
    return args


def _unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"" and text[0] not in text[1:-1]:
        return text[1:-1]
    return text


def _short(value: Any, width: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= width else text[: width - 1] + "…"


@magics_class
class ExplorerMagics(Magics):
    """``%%explorer_job``, ``%explorer_jobs``, ``%explorer_status``, ``%explorer_logs``."""

    # -- helpers ------------------------------------------------------------------------------
    @property
    def session(self) -> Session:
        """The session the magics submit to and read from: the notebook's own, the process default
        (:func:`explorer_magics.session.current`, which a plain ``Analysis(...)`` uses too)."""
        return current()

    @property
    def _ip(self) -> InteractiveShell:
        """The shell these magics are registered in (always set once they are)."""
        assert self.shell is not None
        return self.shell

    def _eval(self, option: str, expr: str) -> Any:
        """Evaluate ``expr`` as a Python expression in the notebook's namespace."""
        try:
            tree = ast.parse(expr.strip(), mode="eval")
        except SyntaxError as exc:
            raise UsageError(f"{option} {expr!r} is not a Python expression ({exc.msg}).") from None
        code = compile(tree, f"<{option}>", "eval")
        try:
            return eval(code, self._ip.user_ns)  # noqa: S307 - an expression the user wrote for this option
        except Exception as exc:  # noqa: BLE001 - any failure is a usage error naming the option
            raise UsageError(f"{option} {expr!r} could not be evaluated: {type(exc).__name__}: {exc}") from None

    def _assignments(self, option: str, items: list[str] | None) -> dict[str, Any]:
        """``NAME=EXPR`` pairs, each EXPR evaluated."""
        values: dict[str, Any] = {}
        for item in items or ():
            name, sep, expr = item.partition("=")
            name = name.strip()
            if not sep or not expr.strip():
                raise UsageError(f"{option} {item!r}: write NAME=EXPR, e.g. {option} reference=ref_file.")
            if not name.isidentifier():
                raise UsageError(f"{option} {item!r}: {name!r} is not a valid name (letters, digits, _).")
            if name in values:
                raise UsageError(f"{option} names {name!r} twice.")
            values[name] = self._eval(f"{option} {name}=", expr)
        return values

    def _job_definition(self, args: Any) -> JobDefinition:
        given: dict[str, Any] = {}
        if args.cpu is not None:
            given["cpu"] = args.cpu
        if args.memory is not None:
            given["memory_mb"] = _parse_memory(args.memory)
        if args.timeout is not None:
            given["timeout_seconds"] = _parse_timeout(args.timeout)
        if args.image is not None:
            given["image"] = args.image
        try:
            return JobDefinition(**given)
        except ExplorerError as exc:
            options = {"cpu": "--cpu", "memory_mb": "--memory", "timeout_seconds": "--timeout"}
            named = next((opt for field, opt in options.items() if field in str(exc)), "resource options")
            raise UsageError(f"{named}: {exc}") from None

    def _make_function(self, name: str, cell: str) -> types.FunctionType:
        """``def name(ac): <cell>`` with the notebook namespace as its globals.

        The cell is transformed by IPython (``!cmd`` -> ``get_ipython().system(...)``),
        parsed, and its statements become the body of the function, so line numbers in
        tracebacks are the cell's own and nothing is added to the notebook's namespace.
        """
        from IPython.core.inputtransformer2 import TransformerManager

        source = TransformerManager().transform_cell(cell)
        try:
            filename = self._ip.compile.cache(source, raw_code=cell)
        except Exception:  # noqa: BLE001 - only for nicer tracebacks
            filename = f"<explorer_job {name}>"
        module = ast.parse(source, filename=filename)
        body = module.body or [ast.Pass()]
        func = ast.FunctionDef(
            name=name,
            args=ast.arguments(posonlyargs=[], args=[ast.arg(arg="ac")], kwonlyargs=[], kw_defaults=[], defaults=[]),
            body=body,
            decorator_list=[],
            returns=None,
            lineno=1,
            col_offset=0,
        )
        if sys.version_info >= (3, 12):
            func.type_params = []
        ast.fix_missing_locations(func)
        code = compile(ast.Module(body=[func], type_ignores=[]), filename, "exec")
        func_code = next(c for c in code.co_consts if isinstance(c, types.CodeType))
        return types.FunctionType(func_code, self._ip.user_ns, name)

    def _resolve(self, ref: str) -> Analysis:
        """An Analysis from a variable name or an analysis id."""
        ref = ref.strip()
        value = self._ip.user_ns.get(ref) if ref.isidentifier() else None
        if isinstance(value, Analysis):
            if value.id is None:
                raise UsageError(f"{ref} has not been submitted yet; call {ref}.run() first.")
            return value
        from .job_manager import JobManager

        try:
            return JobManager(session=self.session).get_analysis(job_id=ref)
        except (InvalidPath, NotFound) as exc:
            raise UsageError(
                f"{ref!r} is neither a variable holding an Analysis nor a known analysis id: {exc}"
            ) from None

    # -- %%explorer_job -------------------------------------------------------------------------
    @magic_arguments()
    @argument("--name", help="analysis name (default: the --as variable, else 'job'); also ac.dependency(name)")
    @argument("--input", metavar="EXPR", help="input expression; a list makes an array job (one element per item)")
    @argument("--shared", metavar="NAME=EXPR", action="append", help="input shared by all elements (repeatable)")
    @argument(
        "--global",
        dest="global_",
        metavar="NAME=EXPR",
        action="append",
        help="analysis-wide parameter, ac.global_context.NAME (repeatable)",
    )
    @argument("--cpu", type=float, help="CPUs per element (default 2)")
    @argument("--memory", metavar="MB", help="memory per element: megabytes or 500M / 4G (default 4000)")
    @argument("--timeout", metavar="SECONDS", help="time limit per element: seconds or 10m / 2h")
    @argument("--image", help="container image (cluster backends)")
    @argument("--pip", metavar="PKG", action="append", help="PyPI requirement to install for the job (repeatable)")
    @argument(
        "--depends-on",
        dest="depends_on",
        metavar="VAR",
        action="append",
        help="an Analysis this one waits for (repeatable)",
    )
    @argument("--local", action="store_true", help="run here and now (run_local) instead of submitting")
    @argument("--wait", action="store_true", help="block until done, then show the outputs")
    @argument("--resume", action="store_true", help="reuse earlier SUCCEEDED results of identical elements")
    @argument("--as", dest="as_", metavar="VAR", help="variable that receives the Analysis (default: the name)")
    @cell_magic
    def explorer_job(self, line: str, cell: str) -> None:
        """Run the cell as a work function (``ac`` is the AnalysisContext). See the module docs."""
        args = _parse(self.explorer_job, line)
        name = args.name or args.as_ or DEFAULT_NAME
        var = args.as_ or name
        if not var.isidentifier():
            raise UsageError(f"--name {name!r} is not a Python name, so give the variable with --as VAR.")
        if args.name is not None and not args.name.strip():
            raise UsageError("--name cannot be empty.")
        input_value = self._eval("--input", args.input) if args.input is not None else None
        shared = self._assignments("--shared", args.shared)
        global_ = self._assignments("--global", args.global_)
        depends_on = []
        for ref in args.depends_on or ():
            dep = self._eval("--depends-on", ref)
            if not isinstance(dep, Analysis):
                raise UsageError(f"--depends-on {ref}: that is a {type(dep).__name__}, not an Analysis.")
            depends_on.append(dep)
        job_definition = self._job_definition(args)
        function = self._make_function(_identifier(name), cell)
        analysis = Analysis(
            function=function,
            input=input_value,
            input_shared=InputShared(**shared) if shared else None,
            global_config=GlobalConfig(**global_) if global_ else None,
            job_definition=job_definition,
            pip_packages=args.pip,
            depends_on=depends_on,
            name=name,
            resume=args.resume,
            session=self.session,
        )
        try:
            if args.local:
                analysis.run_local()
            else:
                analysis.run()
        finally:
            if analysis.id is not None:
                self._ip.user_ns[var] = analysis
        if args.wait and not args.local:
            self._wait_and_show(analysis)

    def _wait_and_show(self, analysis: Analysis) -> None:
        """Block until done; a single job's log is followed as it runs. Then the outputs."""
        if analysis.size is None:
            analysis.logs(live=True)
        status = analysis.wait_done()
        print(self._status_line(analysis, status))
        elements = analysis.elements(limit=SHOW_ELEMENTS)
        for el in elements:
            label = "" if analysis.size is None else f"[{el.index}] "
            if el.status != "SUCCEEDED":
                print(f"  {label}{el.status}: {el.reason or 'no reason recorded'}  -> .logs({el.index})")
                continue
            out = analysis.get_output(el.index)
            keys = out.keys()
            shown = [f"{k}={_short(out.value(k))}" for k in keys["values"]]
            shown += [f"{k} (file)" for k in keys["files"]]
            print(f"  {label}" + (", ".join(shown) or "(no outputs)"))
        if analysis.size is not None and analysis.size > len(elements):
            print(f"  ... {analysis.size - len(elements)} more: {analysis.name}.get_output(i)")

    @staticmethod
    def _status_line(analysis: Analysis, status: dict[str, Any]) -> str:
        text = f"{analysis.name}: {status['status']}"
        if "summary" in status:
            text += f" ({status['size']} elements: {format_counts(status['summary'])})"
        if status.get("reason"):
            text += f" - {status['reason']}"
        return text

    # -- line magics --------------------------------------------------------------------------------
    @magic_arguments()
    @argument("--since", help="only analyses newer than this: 1h, 1d, 2w")
    @argument("--date", help="only analyses of this UTC date: 2023-05-09, 2023-05, 2023")
    @argument("--name", help="case-insensitive substring of the analysis name")
    @argument("--limit", type=int, default=20, help="at most this many, newest first (default 20)")
    @line_magic
    def explorer_jobs(self, line: str) -> JobTable:
        """A table of recent analyses (newest first) with their status."""
        args = _parse(self.explorer_jobs, line)
        if args.limit < 1:
            raise UsageError("--limit must be at least 1.")
        from .job_manager import JobManager

        manager = JobManager(session=self.session)
        try:
            jobs = manager.list_jobs(since=args.since, date=args.date, name=args.name, limit=args.limit)
        except ExplorerError as exc:
            raise UsageError(str(exc)) from None
        rows = []
        for job in jobs:
            try:
                an = manager.get_analysis(job_id=job.id)
                status = an.status()
            except ExplorerError as exc:
                status, an = {"status": f"? ({exc})"}, None
            rows.append(
                {
                    "created": job.created,
                    "name": job.name,
                    "status": status["status"],
                    "size": an.size if an is not None else None,
                    "summary": status.get("summary", {}),
                    "id": job.id,
                }
            )
        return JobTable(rows)

    @magic_arguments()
    @argument("id", metavar="ID", help="an analysis id, or a variable holding an Analysis")
    @line_magic
    def explorer_status(self, line: str) -> None:
        """Print the status of an analysis; failed elements (first few) with their reasons."""
        args = _parse(self.explorer_status, line)
        analysis = self._resolve(args.id)
        status = analysis.status()
        print(f"{analysis.id}")
        print(self._status_line(analysis, status))
        failed = (status.get("summary") or {}).get(FAILED, 0)
        if analysis.size is not None and failed:
            elements = analysis.elements(status=FAILED, limit=SHOW_ELEMENTS)
            print(f"failed elements ({failed}; logs: %explorer_logs {analysis.id} INDEX):")
            for el in elements:
                print(f"  [{el.index}] {el.reason or 'no reason recorded'}")
            if failed > len(elements):
                print(f"  ... {failed - len(elements)} more")
        elif status["status"] not in TERMINAL:
            print(f"still running; follow a log with %explorer_logs {analysis.id} INDEX --live")

    @magic_arguments()
    @argument("id", metavar="ID", help="an analysis id, or a variable holding an Analysis")
    @argument("index", metavar="INDEX", nargs="?", type=int, default=None, help="element index (arrays)")
    @argument("--live", action="store_true", help="follow the log until the element ends")
    @argument("--since", help="skip an element that ended longer ago than this (10m, 1h)")
    @argument("--attempt", type=int, default=None, help="an earlier attempt's log (0 = the first; default: the latest)")
    @line_magic
    def explorer_logs(self, line: str) -> None:
        """Print one element's stdout and stderr (``--live``: follow it until it ends)."""
        args = _parse(self.explorer_logs, line)
        analysis = self._resolve(args.id)
        try:
            analysis.logs(args.index, live=args.live, since=args.since, attempt=args.attempt)
        except ExplorerError as exc:
            raise UsageError(str(exc)) from None

    @magic_arguments()
    @argument("id", metavar="ID", help="an analysis id, or a variable holding an Analysis")
    @argument("--indices", metavar="LIST", help="exactly these elements, e.g. 1,5-9 (default: every FAILED one)")
    @line_magic
    def explorer_rerun(self, line: str) -> None:
        """Rerun an analysis's FAILED elements (or ``--indices``) in place; the rest keep their outputs."""
        args = _parse(self.explorer_rerun, line)
        analysis = self._resolve(args.id)
        from .rerun import parse_indices

        try:
            indices = parse_indices(args.indices, analysis.manifest.count) if args.indices is not None else None
            if args.indices is not None and not indices:
                raise UsageError("--indices is empty; write e.g. --indices 1,5-9.")
            analysis.rerun(indices=indices)
        except ExplorerError as exc:
            raise UsageError(str(exc)) from None


class JobTable(list):
    """Rows of ``%explorer_jobs``: prints as a text table, shows as HTML in a notebook."""

    _COLUMNS = ("created (UTC)", "name", "status", "elements", "id")

    def _cells(self, row: dict[str, Any]) -> tuple[str, ...]:
        if row["size"] is None:
            elements = ""
        else:
            counts = format_counts(row["summary"])
            elements = f"{row['size']}" + (f" ({counts})" if counts else "")
        return (f"{row['created']:%Y-%m-%d %H:%M:%S}", row["name"], row["status"], elements, row["id"])

    def __repr__(self) -> str:
        if not self:
            return "(no analyses)"
        table = [self._COLUMNS] + [self._cells(r) for r in self]
        widths = [max(len(r[i]) for r in table) for i in range(len(self._COLUMNS))]
        return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in table)

    def _repr_html_(self) -> str:
        if not self:
            return "<i>(no analyses)</i>"
        head = "".join(f"<th style='text-align:left'>{html.escape(c)}</th>" for c in self._COLUMNS)
        body = "".join(
            "<tr>" + "".join(f"<td style='text-align:left'>{html.escape(c)}</td>" for c in self._cells(r)) + "</tr>"
            for r in self
        )
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
