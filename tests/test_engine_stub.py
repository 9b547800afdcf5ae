"""_engine.pyi is the contract of the Rust extension: every name and parameter it declares exists in
`_engine` with the same parameter names, and `_engine` exports nothing it does not declare."""
import ast
import inspect
from pathlib import Path

from pymodaq_plugins_aefi import _engine

STUB = ast.parse((Path(_engine.__file__).parent / "_engine.pyi").read_text())


def _param_names(fn: ast.FunctionDef) -> list[str]:
    args = fn.args
    names = [a.arg for a in args.posonlyargs + args.args + args.kwonlyargs]
    names += [f"*{args.vararg.arg}"] if args.vararg else []
    names += [f"**{args.kwarg.arg}"] if args.kwarg else []
    return [n for n in names if n not in ("self", "cls")]


def _runtime_param_names(obj) -> list[str] | None:
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return None
    out = []
    for p in sig.parameters.values():
        if p.name in ("self", "cls", "$self", "$cls"):
            continue
        prefix = {p.VAR_POSITIONAL: "*", p.VAR_KEYWORD: "**"}.get(p.kind, "")
        out.append(prefix + p.name)
    return out


def _declared() -> list[tuple[str, object, ast.FunctionDef | None]]:
    items = []
    for node in STUB.body:
        if isinstance(node, ast.FunctionDef):
            items.append((node.name, getattr(_engine, node.name, None), node))
        elif isinstance(node, ast.ClassDef) and "TypedDict" not in [getattr(b, "id", "") for b in node.bases]:
            cls = getattr(_engine, node.name, None)
            items.append((node.name, cls, None))
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and not item.name.startswith("__"):
                    items.append((f"{node.name}.{item.name}", getattr(cls, item.name, None), item))
        elif isinstance(node, ast.AnnAssign) and node.target.id != "AxisName":
            items.append((node.target.id, getattr(_engine, node.target.id, None), None))
    return items


def test_every_declared_name_exists_with_its_parameters():
    missing, mismatched = [], []
    for name, obj, fn in _declared():
        if obj is None:
            missing.append(name)
            continue
        if fn is None or any(isinstance(d, ast.Name) and d.id == "property" for d in fn.decorator_list):
            continue
        runtime = _runtime_param_names(obj)
        if runtime is not None and runtime != _param_names(fn):
            mismatched.append(f"{name}: stub {_param_names(fn)} vs runtime {runtime}")
    assert missing == [] and mismatched == []


def test_nothing_public_is_undeclared():
    declared = {n.name for n in STUB.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    declared |= {n.target.id for n in STUB.body if isinstance(n, ast.AnnAssign)}
    assert [n for n in dir(_engine) if not n.startswith("_") and n not in declared] == []
