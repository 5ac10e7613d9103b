"""The README's tables of activations, losses and optimizers are the registry's (``fastmlp._registry``):
generated from it, and checked here so the docs cannot drift. After changing the registry, rewrite them
with ``python tests/test_docs.py --write``. Also: the public names the README documents exist."""
import re
import sys
from pathlib import Path

import pytest

import fastmlp
from fastmlp import exchange
from fastmlp._registry import ACTIVATION_TABLE, ACTIVATIONS, LOSS_TABLE, LOSSES, OPTIMIZER_TABLE, OPTIMIZERS

README = Path(__file__).resolve().parent.parent / "README.md"
BEGIN = ("<!-- BEGIN {} table: generated from src/fastmlp/_registry.py by "
         "`python tests/test_docs.py --write` -->")
END = "<!-- END {} table -->"


def _cell(text):
    """A table cell: pipes escaped (softsign's formula has |z|)."""
    return str(text).replace("|", "\\|")


def _code(text):
    return f"`{text}`"


def _param(entry):
    if entry.param is None:
        return "—"
    p = entry.param
    rule = []
    if p.low is not None:
        rule.append(f"{'>' if p.low_open else '≥'} {p.low:g}")
    if entry.per_unit:
        rule.append("trained per unit")
    return f"{p.name} = {p.default:g}" + (f" ({', '.join(rule)})" if rule else "")


def _derivative_from(entry):
    if entry.derivative is None:
        return "— (no elementwise derivative)"
    return "Z" if entry.needs_z else "A"


def _torch(entry):
    if entry.torch_module is None:
        return "—"
    return _code(f"nn.{entry.torch_module}") + (f" (`{entry.torch_param}`)" if entry.torch_param else "")


def _onnx(entry):
    if entry.onnx_op is not None:
        return _code(entry.onnx_op)
    return "composite" if hasattr(exchange, "_onnx_" + entry.name) else "—"


ACTIVATION_COLUMNS = ("activation", "aliases", "f(z)", "parameter (default)", "f′ from", "layers", "init",
                      "PyTorch", "ONNX")


def activation_rows():
    for name in ACTIVATIONS:
        e = ACTIVATION_TABLE[name]
        yield (_code(name), ", ".join(map(_code, e.aliases)) or "—", e.formula, _param(e),
               _derivative_from(e), "output only" if e.output_only else "hidden, output",
               "He" if e.he_init else ("LeCun" if e.lecun_init else "Glorot"), _torch(e),
               _onnx(e))


def loss_rows():
    for name in LOSSES:
        loss = LOSS_TABLE[name]
        yield (_code(name), _code(loss.output) if loss.output else "any",
               "classification" if loss.classifier else "regression", loss.formula)


def optimizer_rows():
    for name in OPTIMIZERS:
        o = OPTIMIZER_TABLE[name]
        yield (_code(name), f"{o.default_lr:g}", str(o.n_state),
               ", ".join(map(_code, o.hyperparameters)) or "—", o.formula)


TABLES = {
    "activations": (ACTIVATION_COLUMNS, activation_rows),
    "losses": (("loss", "output activation", "task", "L per sample"), loss_rows),
    "optimizers": (("optimizer", "default lr", "state vectors", "hyperparameters", "update"), optimizer_rows),
}


def render(kind):
    columns, rows = TABLES[kind]
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows()]
    return "\n".join(lines)


def _block(text, kind):
    begin, end = BEGIN.format(kind), END.format(kind)
    assert text.count(begin) == 1 and text.count(end) == 1, f"README.md: need one {begin!r} ... {end!r} block"
    start = text.index(begin) + len(begin)
    return start, text.index(end, start)


def readme_table(kind, text=None):
    text = README.read_text(encoding="utf-8") if text is None else text
    start, stop = _block(text, kind)
    return text[start:stop].strip("\n")


def parse_rows(table):
    """The body rows of a markdown table as lists of cells (escaped pipes kept inside their cell)."""
    rows = []
    for line in table.splitlines()[2:]:
        cells = re.split(r"(?<!\\)\|", line.strip())[1:-1]
        rows.append([c.strip().replace("\\|", "|") for c in cells])
    return rows


def write():
    text = README.read_text(encoding="utf-8")
    for kind in TABLES:
        start, stop = _block(text, kind)
        text = text[:start] + "\n" + render(kind) + "\n" + text[stop:]
    README.write_text(text, encoding="utf-8")


# ----------------------------------------------------------------------------------------------------
# Tests
# ----------------------------------------------------------------------------------------------------
def test_activation_table_rows_match_the_registry():
    rows = parse_rows(readme_table("activations"))
    header = [c.strip() for c in readme_table("activations").splitlines()[0].strip().strip("|").split("|")]
    assert header == list(ACTIVATION_COLUMNS)
    names = [r[0].strip("`") for r in rows]
    missing = [n for n in ACTIVATIONS if n not in names]
    extra = [n for n in names if n not in ACTIVATION_TABLE]
    assert not missing and not extra, (f"README activation table: missing {missing}, not in the registry "
                                       f"{extra}; run `python tests/test_docs.py --write`")
    assert len(names) == len(set(names)) == len(ACTIVATIONS)
    for row in rows:
        entry = ACTIVATION_TABLE[row[0].strip("`")]
        cells = dict(zip(ACTIVATION_COLUMNS, row))
        aliases = [] if cells["aliases"] == "—" else [a.strip(" `") for a in cells["aliases"].split(",")]
        assert aliases == list(entry.aliases), entry.name
        if entry.param is None:
            assert cells["parameter (default)"] == "—", entry.name
        else:
            assert cells["parameter (default)"].startswith(f"{entry.param.name} = {entry.param.default:g}")
        assert cells["f′ from"] == _derivative_from(entry), entry.name        # needs Z or not
        assert cells["f(z)"] == entry.formula, entry.name


@pytest.mark.parametrize("kind", sorted(TABLES))
def test_readme_tables_are_the_generated_ones(kind):
    assert readme_table(kind) == render(kind), (
        f"README.md's {kind} table differs from the registry; run `python tests/test_docs.py --write`")


def test_loss_and_optimizer_tables_name_every_registry_entry():
    assert [r[0].strip("`") for r in parse_rows(readme_table("losses"))] == list(LOSSES)
    assert [r[0].strip("`") for r in parse_rows(readme_table("optimizers"))] == list(OPTIMIZERS)


def test_write_round_trips(tmp_path, monkeypatch):
    copy = tmp_path / "README.md"
    copy.write_text(README.read_text(encoding="utf-8"), encoding="utf-8")
    monkeypatch.setattr(sys.modules[__name__], "README", copy)
    text = copy.read_text(encoding="utf-8")
    start, stop = _block(text, "activations")
    copy.write_text(text[:start] + "\n| stale |\n" + text[stop:], encoding="utf-8")
    write()
    assert readme_table("activations", copy.read_text(encoding="utf-8")) == render("activations")


def test_documented_public_names_exist():
    from fastmlp import _training, schedules
    assert fastmlp.EarlyStopping is _training.EarlyStopping
    assert fastmlp.ConvergenceWarning is _training.ConvergenceWarning
    assert fastmlp.schedules is schedules
    names = ("Schedule", "Constant", "InvScaling", "Adaptive", "Step", "Exponential", "Cosine",
             "ReduceOnPlateau")
    for name in names:
        assert getattr(schedules, name) is getattr(_training, name)
        assert f"`{name}(" in README.read_text(encoding="utf-8") or name == "Schedule"
    assert sorted(schedules.__all__) == sorted(names)
    for name in fastmlp.__all__:
        assert hasattr(fastmlp, name), name
    assert {"EarlyStopping", "ConvergenceWarning", "schedules", "get_include"} <= set(fastmlp.__all__)


if __name__ == "__main__":
    if sys.argv[1:] == ["--write"]:
        write()
        print(f"wrote the {', '.join(TABLES)} tables of {README}")
    else:
        for kind in TABLES:
            print(render(kind), end="\n\n")
