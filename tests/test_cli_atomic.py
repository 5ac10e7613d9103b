"""fastmlp._atomic: a file is either its old self or completely the new one; and the CLI writes through it
(a failure while writing predictions or a picture leaves the old file byte-identical, no temporary file
behind)."""
import os
import stat
import sys

import numpy as np
import pytest

from fastmlp import FastMLP, datasets
from fastmlp._atomic import atomic_path, atomic_write, replace_durably
from fastmlp.cli import main

posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits and umask")


class Boom(Exception):
    pass


@pytest.fixture
def umask():
    """Set the umask for one test, and put the old one back."""
    old = os.umask(0o022)
    os.umask(old)
    yield lambda mask: os.umask(mask)
    os.umask(old)


def _mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_writes_bytes_and_text(tmp_path):
    p = tmp_path / "a.bin"
    with atomic_write(p) as fh:
        fh.write(b"\x00\x01binary")
    assert p.read_bytes() == b"\x00\x01binary"
    with atomic_write(p, "w", newline="", encoding="utf-8") as fh:
        fh.write("é\r\nline\n")
    assert p.read_bytes() == "é\r\nline\n".encode()
    with atomic_write(str(p), "wt", encoding="utf-8") as fh:  # str or PathLike
        fh.write("x")
    assert p.read_text() == "x"
    assert os.listdir(tmp_path) == ["a.bin"]


def test_nothing_is_visible_before_the_block_ends(tmp_path):
    p = tmp_path / "out.csv"
    p.write_text("old\n")
    with atomic_write(p, "w") as fh:
        fh.write("new\n")
        fh.flush()
        assert p.read_text() == "old\n"  # the new content is in a temporary file beside it
        others = [n for n in os.listdir(tmp_path) if n != "out.csv"]
        assert len(others) == 1 and others[0].startswith(".out.csv.")
    assert p.read_text() == "new\n"
    assert os.listdir(tmp_path) == ["out.csv"]


@pytest.mark.parametrize("exc", [Boom, KeyboardInterrupt])
def test_an_exception_mid_write_keeps_the_old_file_and_leaves_no_temp(tmp_path, exc):
    p = tmp_path / "model.npz"
    old = os.urandom(4096)
    p.write_bytes(old)
    before = os.stat(p)
    with pytest.raises(exc):
        with atomic_write(p) as fh:
            fh.write(b"half of the new conte")
            fh.flush()
            raise exc()
    assert p.read_bytes() == old
    assert os.stat(p).st_ino == before.st_ino  # the very same file, not a copy
    assert os.listdir(tmp_path) == ["model.npz"]


def test_an_exception_with_no_old_file_leaves_nothing(tmp_path):
    with pytest.raises(Boom):
        with atomic_write(tmp_path / "new.csv", "w") as fh:
            fh.write("partial")
            raise Boom()
    assert os.listdir(tmp_path) == []


def test_closing_the_handle_in_the_block_is_allowed(tmp_path):
    p = tmp_path / "c.txt"
    with atomic_write(p, "w", encoding="utf-8") as fh:
        fh.write("closed early")
        fh.close()
    assert p.read_text() == "closed early"
    assert os.listdir(tmp_path) == ["c.txt"]


def test_bad_modes_are_refused(tmp_path):
    for mode in ("r", "a", "ab", "w+", "xb"):
        with pytest.raises(ValueError, match="mode"):
            with atomic_write(tmp_path / "x", mode):
                pass
    with pytest.raises(ValueError, match="encoding"):
        with atomic_write(tmp_path / "x", "wb", encoding="utf-8"):
            pass
    assert os.listdir(tmp_path) == []


def test_a_missing_directory_is_an_oserror_and_leaves_nothing(tmp_path):
    with pytest.raises(FileNotFoundError):
        with atomic_write(tmp_path / "nowhere" / "x.csv", "w"):
            pass
    assert os.listdir(tmp_path) == []


@posix_only
@pytest.mark.parametrize("mask", [0o022, 0o027, 0o077, 0o002])
def test_a_new_file_gets_the_permissions_open_would_give(tmp_path, umask, mask):
    umask(mask)
    with open(tmp_path / "by_open", "w") as fh:
        fh.write("x")
    with atomic_write(tmp_path / "atomic", "w") as fh:
        fh.write("x")
    with atomic_path(tmp_path / "by_path") as tmp:
        with open(tmp, "w") as fh:
            fh.write("x")
    assert _mode(tmp_path / "atomic") == _mode(tmp_path / "by_open") == 0o666 & ~mask
    assert _mode(tmp_path / "by_path") == 0o666 & ~mask  # not mkstemp's 0o600


@posix_only
def test_replacing_a_file_keeps_its_permissions_as_open_would(tmp_path, umask):
    umask(0o022)
    p = tmp_path / "shared.csv"
    p.write_text("old")
    os.chmod(p, 0o664)
    with atomic_write(p, "w") as fh:
        fh.write("new")
    assert _mode(p) == 0o664 and p.read_text() == "new"
    os.chmod(p, 0o600)
    with atomic_write(p, "w") as fh:
        fh.write("newer")
    assert _mode(p) == 0o600


@pytest.mark.skipif(not hasattr(os, "symlink") or sys.platform == "win32", reason="symbolic links")
def test_a_symlink_is_written_through(tmp_path):
    (tmp_path / "real").mkdir()
    target = tmp_path / "real" / "data.csv"
    target.write_text("old")
    link = tmp_path / "link.csv"
    link.symlink_to(target)
    with atomic_write(link, "w") as fh:
        fh.write("new")
    assert link.is_symlink() and target.read_text() == "new"
    assert sorted(os.listdir(tmp_path / "real")) == ["data.csv"]


def test_data_and_directory_are_fsynced(tmp_path, monkeypatch):
    synced = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(os.fstat(fd).st_mode), real(fd)))
    with atomic_write(tmp_path / "f", "wb") as fh:
        fh.write(b"x")
    assert stat.S_ISREG(synced[0])
    if os.name == "posix":
        assert any(stat.S_ISDIR(m) for m in synced[1:])


def test_atomic_path_for_writers_that_open_the_file_themselves(tmp_path):
    p = tmp_path / "pic.png"
    p.write_bytes(b"old picture")
    with atomic_path(p) as tmp:
        assert os.path.dirname(tmp) == str(tmp_path) and os.path.exists(tmp)
        with open(tmp, "wb") as fh:  # truncates and rewrites, as savefig(path) does
            fh.write(b"new picture")
        assert p.read_bytes() == b"old picture"
    assert p.read_bytes() == b"new picture" and os.listdir(tmp_path) == ["pic.png"]
    with pytest.raises(Boom):
        with atomic_path(p) as tmp:
            with open(tmp, "wb") as fh:
                fh.write(b"half")
            raise Boom()
    assert p.read_bytes() == b"new picture" and os.listdir(tmp_path) == ["pic.png"]
    with pytest.raises(FileNotFoundError, match="nothing was written"):
        with atomic_path(p) as tmp:
            os.unlink(tmp)  # a writer that removed it (or wrote elsewhere)
    assert p.read_bytes() == b"new picture" and os.listdir(tmp_path) == ["pic.png"]


def test_replace_durably(tmp_path):
    src, dst = tmp_path / ".tmp", tmp_path / "dst"
    src.write_text("content")
    dst.write_text("old")
    replace_durably(src, dst)
    assert dst.read_text() == "content" and not src.exists()


# ----------------------------------------------------------------------------------------------------
# The CLI writes through it
# ----------------------------------------------------------------------------------------------------
@pytest.fixture
def moons_model(tmp_path):
    X, y = datasets.moons(40, seed=0)
    FastMLP([2, 4, 2]).fit(X, y, epochs=1, verbose=False).save(tmp_path / "m.npz")
    np.savez(tmp_path / "pts.npz", X=X, y=y)
    return tmp_path


def test_predict_failing_midway_leaves_the_old_predictions(moons_model, monkeypatch, capsys):
    monkeypatch.chdir(moons_model)
    (moons_model / "p.csv").write_bytes(b"prediction\nold\n")
    from fastmlp.cli import data as cli_data

    def broken(*args, **kwargs):
        raise OSError("disk full")

    real_write = cli_data.atomic_write

    class Failing:
        def __init__(self, *a, **k):
            self._cm = real_write(*a, **k)

        def __enter__(self):
            fh = self._cm.__enter__()
            fh.write("prediction\npartial")
            fh.write = broken
            return fh

        def __exit__(self, *exc):
            return self._cm.__exit__(*exc)

    monkeypatch.setattr(cli_data, "atomic_write", Failing)
    assert main(["predict", "m.npz", "pts.npz", "-o", "p.csv"]) == 1
    assert "disk full" in capsys.readouterr().err
    assert (moons_model / "p.csv").read_bytes() == b"prediction\nold\n"
    assert sorted(os.listdir(moons_model)) == ["m.npz", "p.csv", "pts.npz"]


def test_a_picture_failing_midway_leaves_the_old_png(moons_model, monkeypatch, capsys):
    pytest.importorskip("matplotlib")
    from fastmlp import plotting
    monkeypatch.chdir(moons_model)
    (moons_model / "c.png").write_bytes(b"old png")
    real = plotting.plot_curves

    def half_then_fail(model, path, **kwargs):
        real(model, path, **kwargs)  # the temporary file is complete...
        raise MemoryError("out of memory")  # ...and still never replaces c.png

    monkeypatch.setattr(plotting, "plot_curves", half_then_fail)
    assert main(["plot", "curves", "m.npz", "-o", "c.png"]) == 1
    assert "out of memory" in capsys.readouterr().err
    assert (moons_model / "c.png").read_bytes() == b"old png"
    assert sorted(os.listdir(moons_model)) == ["c.png", "m.npz", "pts.npz"]
    monkeypatch.setattr(plotting, "plot_curves", real)
    assert main(["plot", "curves", "m.npz", "-o", "c.png", "-q"]) == 0
    assert (moons_model / "c.png").read_bytes()[:4] == b"\x89PNG"
    assert sorted(os.listdir(moons_model)) == ["c.png", "m.npz", "pts.npz"]


@posix_only
def test_cli_outputs_get_normal_permissions(moons_model, monkeypatch, umask):
    umask(0o022)
    monkeypatch.chdir(moons_model)
    assert main(["predict", "m.npz", "pts.npz", "-o", "p.csv", "-q"]) == 0
    assert main(["predict", "m.npz", "pts.npz", "-o", "p.npz", "-q"]) == 0
    assert _mode("p.csv") == _mode("p.npz") == 0o644
    if _has_matplotlib():
        assert main(["plot", "activations", "--names", "relu,tanh", "-o", "acts", "-q"]) == 0
        assert sorted(os.listdir("acts")) == ["activation_relu.png", "activation_tanh.png", "activations.png"]
        assert {_mode(os.path.join("acts", n)) for n in os.listdir("acts")} == {0o644}


def _has_matplotlib():
    try:
        import matplotlib  # noqa: F401
        return True
    except ImportError:
        return False
