"""The registry (fastmlp/_registry.py) is the one place an activation, loss or optimizer is declared: the
generated C header, the compiled kernels' constants, the Cython API's codes and both backends agree with
it, and no other module spells an activation's name."""
import ast
import os
import re

import numpy as np
import pytest

import fastmlp
from conftest import assert_close
from fastmlp import _registry
from fastmlp._registry import (
    ACTIVATION_CODES,
    ACTIVATION_TABLE,
    ACTIVATIONS,
    ALIASES,
    LOSS_CODES,
    OPTIMIZER_CODES,
)

PKG = os.path.dirname(os.path.abspath(fastmlp.__file__))
# Every name an activation answers to (aliases included).
NAMES = frozenset(ACTIVATION_TABLE) | frozenset(ALIASES)


def _read(name):
    with open(os.path.join(PKG, name), encoding="utf-8") as fh:
        return fh.read()


# ------------------------------------------------------------------------------------------------------
# Codes: registry -> _codes.h -> compiled constants; registry -> kernels.pxd
# ------------------------------------------------------------------------------------------------------

def test_codes_header_is_generated_from_the_registry():
    assert _read("_codes.h") == _registry.c_header(), \
        "_codes.h is stale: run `python -m fastmlp._registry --write-header`, then rebuild the extension"


def test_compiled_codes_equal_the_registry(cy):
    assert cy.CODES == {"activation": ACTIVATION_CODES, "loss": LOSS_CODES, "optimizer": OPTIMIZER_CODES}, \
        ("the compiled FASTMLP_* constants differ from the registry: declare every code in the "
         "`cdef extern from \"_codes.h\"` block of _kernels.pyx and rebuild the extension")
    for name, code in ACTIVATION_CODES.items():
        assert getattr(cy, f"ACT_{name.upper()}") == code


def test_cython_api_activation_codes_equal_the_registry():
    """fastmlp/kernels.pxd spells the codes as literals (an extension cimporting it needs no header)."""
    text = _read("kernels.pxd")
    found = {m.group(1).lower(): int(m.group(2))
             for m in re.finditer(r"^\s+ACT_(\w+)\s*=\s*(\d+)", text, re.MULTILINE)}
    assert found == ACTIVATION_CODES


# ------------------------------------------------------------------------------------------------------
# Every activation has a NumPy implementation and a kernel, and they agree
# ------------------------------------------------------------------------------------------------------

def _param(entry, m, rng, dtype):
    if entry.per_unit:
        return rng.uniform(0.05, 0.4, m).astype(dtype)
    return None if entry.param is None else entry.param.default


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_every_activation_has_a_numpy_implementation_and_a_kernel(cy, npb, dtype, rng, name):
    entry = ACTIVATION_TABLE[name]
    assert callable(entry.forward) and (entry.derivative is None or callable(entry.derivative))
    Z = (rng.standard_normal((5, 3)) * 2).astype(dtype)
    p = _param(entry, 3, rng, dtype)
    ref = npb.activation_forward(Z, np.empty_like(Z), name, p)
    got = cy.activation_forward(Z, np.empty_like(Z), name, p)
    assert got.dtype == dtype and np.isfinite(got).all()
    assert_close(got, ref, dtype, scale=4)
    if entry.derivative is None:  # softmax: refused alike
        for be in (cy, npb):
            with pytest.raises(ValueError, match="not an elementwise derivative"):
                be.activation_derivative(ref, Z, np.empty_like(Z), name, p)
        return
    d_ref = npb.activation_derivative(ref, Z, np.empty_like(Z), name, p)
    d_got = cy.activation_derivative(ref, Z, np.empty_like(Z), name, p)
    assert_close(d_got, d_ref, dtype, scale=8)


# ------------------------------------------------------------------------------------------------------
# Adding an activation touches one registry entry (and its kernel branch): no module spells the names
# ------------------------------------------------------------------------------------------------------

def _py_files():
    out = []
    for root, _, files in os.walk(PKG):
        for f in files:
            if f.endswith(".py") and f != "_registry.py":
                out.append(os.path.relpath(os.path.join(root, f), PKG))
    return sorted(out)


def _docstrings(tree):
    nodes = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) \
                    and isinstance(first.value.value, str):
                nodes.add(id(first.value))
    return nodes


def _all_entries(tree):
    """The strings of ``__all__ = [...]``: they name module attributes (ops.softmax), not activations."""
    nodes = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id == "__all__" for t in targets) and node.value is not None:
                nodes.update(id(n) for n in ast.walk(node.value) if isinstance(n, ast.Constant))
    return nodes


_DATA_MARK = "# activation names as data"


def _marked_as_data(tree, lines):
    """Constants of an assignment whose first line says ``# activation names as data``: configuration (the
    CLI's demo table), not special cases of an activation."""
    nodes = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Assign, ast.AnnAssign)) and _DATA_MARK in lines[node.lineno - 1]:
            nodes.update(id(n) for n in ast.walk(node) if isinstance(n, ast.Constant))
    return nodes


def _activation_literals(path):
    with open(os.path.join(PKG, path), encoding="utf-8") as fh:
        source = fh.read()
    tree = ast.parse(source, filename=path)
    skip = _docstrings(tree) | _all_entries(tree) | _marked_as_data(tree, source.splitlines())
    return sorted({(path, node.lineno, node.value) for node in ast.walk(tree)
                   if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in NAMES
                   and id(node) not in skip})


@pytest.mark.parametrize("path", _py_files())
def test_no_module_but_the_registry_spells_an_activation(path):
    """A string equal to an activation's name or alias outside _registry.py (docstrings and ``__all__``
    aside) is a special case that adding or renaming an activation would have to find: read the
    registry's tables (per_unit, needs_z, output_only, LOSS_OF_OUTPUT, ...) instead."""
    found = _activation_literals(path)
    assert not found, ("activation names spelled outside the registry, as (file, line, name): "
                       + ", ".join(f"({p}, {line}, {name!r})" for p, line, name in found))


def _cython_string_literals(text):
    """The single-line string literals of Cython source, docstrings and comments left out."""
    text = re.sub(r'"""[\s\S]*?"""|\'\'\'[\s\S]*?\'\'\'', "", text)
    literals = []
    for line in text.splitlines():
        # drop a comment: a '#' outside quotes
        quote, cut = None, len(line)
        for i, ch in enumerate(line):
            if quote:
                if ch == quote:
                    quote = None
            elif ch in "\"'":
                quote = ch
            elif ch == "#":
                cut = i
                break
        literals += [a or b for a, b in re.findall(r'"([^"\\]*)"|\'([^\'\\]*)\'', line[:cut])]
    return literals


def test_kernels_dispatch_on_codes_not_names():
    """The Cython sources compare generated ACT_* codes; names reach them only through the registry."""
    files = [f for f in os.listdir(PKG) if f.endswith((".pyx", ".pxi", ".pxd"))]
    assert "_kernels.pyx" in files and "_activations.pxi" in files
    found = [(f, s) for f in sorted(files) for s in _cython_string_literals(_read(f)) if s in NAMES]
    assert not found, f"activation names in the Cython sources: {found}"
