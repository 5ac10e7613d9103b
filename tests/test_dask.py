"""fastmlp.dask on a real LocalCluster of worker processes: exactness, reproducibility, fault tolerance,
memory, bad input, inference, search, estimators and the CLI."""

from __future__ import annotations

import os
import pickle
import socket
import subprocess
import sys
import threading
import time
import warnings

import numpy as np
import pytest

dask = pytest.importorskip("dask")
distributed = pytest.importorskip("distributed")
pytest.importorskip("sklearn")
import dask.array as da  # noqa: E402
from distributed import Client, LocalCluster  # noqa: E402

import fastmlp.dask as fd  # noqa: E402
from fastmlp import FastMLP  # noqa: E402
from fastmlp.sklearn import FastMLPClassifier, FastMLPRegressor  # noqa: E402

pytestmark = pytest.mark.filterwarnings(
    "ignore::UserWarning", "ignore::sklearn.exceptions.ConvergenceWarning"
)


def _cluster(n_workers, **kw):
    return LocalCluster(
        n_workers=n_workers, threads_per_worker=1, processes=True, dashboard_address=None, **kw
    )


@pytest.fixture(scope="module")
def client():
    with _cluster(2) as cluster, Client(cluster) as c:
        yield c


def _problem(n=2000, d=20, classes=3, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)).astype(dtype)
    W = rng.standard_normal((d, classes))
    y = (X @ W + 0.5 * rng.standard_normal((n, classes))).argmax(axis=1)
    return X, y


def _digits():
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    return (X / 16.0), y


# ------------------------------------------------------------------------------------------------------
# Exactness and reproducibility
# ------------------------------------------------------------------------------------------------------


def _train_both(c, Xd, yd):
    m1 = FastMLP([20, 16, 3], activation="tanh", dtype=np.float32, seed=1, l2=1e-3)
    fd.fit_lbfgs(m1, Xd, yd, max_iter=15, client=c)
    m2 = FastMLP([20, 16, 3], dtype=np.float32, seed=1)
    fd.fit_local_sgd(m2, Xd, yd, rounds=3, local_epochs=2, optimizer="adam", lr=0.01, batch_size=16, client=c)
    return m1.get_params_vector(), m2.get_params_vector(), m1.loss_curve, m2.loss_curve


def test_bitwise_equal_weights_on_1_2_and_4_workers_and_every_run(client):
    X, y = _problem(dtype=np.float32)
    Xd, yd = da.from_array(X, chunks=(250, 20)), da.from_array(y, chunks=250)  # 8 blocks
    ref = _train_both(client, Xd, yd)
    again = _train_both(client, Xd, yd)
    runs = {2: ref}
    for n in (1, 4):
        with _cluster(n) as cluster, Client(cluster, set_as_default=False) as c:
            runs[n] = _train_both(c, Xd, yd)
    for n, run in list(runs.items()) + [("again", again)]:
        assert run[0].tobytes() == ref[0].tobytes(), f"L-BFGS weights differ on {n} workers"
        assert run[1].tobytes() == ref[1].tobytes(), f"local-SGD weights differ on {n} workers"
        assert run[2] == ref[2] and run[3] == ref[3]
    assert len(ref[2]) == 15 and ref[2][-1] < ref[2][0]
    assert len(ref[3]) == 3 and ref[3][-1] < ref[3][0]


def test_lbfgs_equals_single_process_lbfgs(client):
    X, y = _problem()
    sw = np.random.default_rng(3).uniform(0.5, 2.0, len(y))
    Xd, yd, swd = (
        da.from_array(X, chunks=(300, 20)),
        da.from_array(y, chunks=300),
        da.from_array(sw, chunks=300),
    )
    dist = FastMLP([20, 16, 3], activation="logistic", dtype=np.float64, seed=0, l2=1e-3)
    fd.fit_lbfgs(dist, Xd, yd, sample_weight=swd, max_iter=25, client=client)
    local = FastMLP([20, 16, 3], activation="logistic", dtype=np.float64, seed=0, l2=1e-3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        local.fit(X, y, epochs=25, optimizer="lbfgs", sample_weight=sw)
    np.testing.assert_allclose(dist.get_params_vector(), local.get_params_vector(), rtol=0, atol=1e-8)
    np.testing.assert_allclose(dist.loss_curve, local.loss_curve, rtol=1e-11)
    assert dist.n_epochs == local.n_epochs == 25
    np.testing.assert_array_equal(dist.classes_, [0, 1, 2])


def test_estimators_equal_their_single_process_twins(client):
    X, y = _problem(1200, 10, 2, seed=5)
    Xd = da.from_array(X, chunks=(200, 10))
    labels = np.array(["no", "yes"])[y]
    clf = fd.DaskMLPClassifier((12,), max_iter=30, random_state=0, class_weight="balanced", client=client)
    clf.fit(Xd, da.from_array(labels, chunks=200))
    ref = FastMLPClassifier((12,), solver="lbfgs", max_iter=30, random_state=0, class_weight="balanced")
    ref.fit(X, labels)
    for a, b in zip(clf.coefs_ + clf.intercepts_, ref.coefs_ + ref.intercepts_):
        np.testing.assert_allclose(a, b, atol=1e-8)
    np.testing.assert_allclose(clf.loss_curve_, ref.loss_curve_, rtol=1e-9)
    assert list(clf.classes_) == ["no", "yes"] and clf.n_iter_ == ref.n_iter_
    local = clf.to_local()
    assert type(local) is FastMLPClassifier and local.solver == "lbfgs"
    np.testing.assert_array_equal(local.predict(X), ref.predict(X))
    np.testing.assert_allclose(local.predict_proba(X), ref.predict_proba(X), atol=1e-9)
    assert clf.score(Xd, da.from_array(labels, chunks=200)) == pytest.approx(ref.score(X, labels))
    np.testing.assert_allclose(clf.predict_proba(Xd).compute(), ref.predict_proba(X), atol=1e-9)
    local2 = pickle.loads(pickle.dumps(local))
    np.testing.assert_array_equal(local2.predict(X[:50]), local.predict(X[:50]))

    Y = np.c_[X[:, 0] - X[:, 1], np.sin(X[:, 2])]
    reg = fd.DaskMLPRegressor(
        hidden_layer_sizes=(12,), max_iter=30, random_state=0, alpha=1e-3, client=client
    )
    reg.fit(Xd, da.from_array(Y, chunks=(200, 2)))
    rref = FastMLPRegressor(hidden_layer_sizes=(12,), solver="lbfgs", max_iter=30, random_state=0, alpha=1e-3)
    rref.fit(X, Y)
    for a, b in zip(reg.coefs_, rref.coefs_):
        np.testing.assert_allclose(a, b, atol=1e-8)
    assert reg.loss_ == pytest.approx(rref.loss_, rel=1e-9)
    assert reg.score(Xd, da.from_array(Y, chunks=(200, 2))) == pytest.approx(rref.score(X, Y), rel=1e-9)
    assert type(reg.to_local()) is FastMLPRegressor
    np.testing.assert_allclose(reg.predict(Xd).compute(), rref.predict(X), atol=1e-8)


def test_multilabel_and_poisson_estimators(client):
    X, y = _problem(800, 6, 3, seed=7)
    Y = np.c_[X[:, 0] > 0, X[:, 1] + X[:, 2] > 0, X[:, 3] > 0.5].astype(int)
    Xd = da.from_array(X, chunks=(200, 6))
    clf = fd.DaskMLPClassifier((8,), max_iter=20, random_state=0, client=client)
    clf.fit(Xd, da.from_array(Y, chunks=(200, 3)))
    ref = FastMLPClassifier((8,), solver="lbfgs", max_iter=20, random_state=0).fit(X, Y)
    for a, b in zip(clf.coefs_, ref.coefs_):
        np.testing.assert_allclose(a, b, atol=1e-8)
    np.testing.assert_array_equal(clf.predict(Xd).compute(), ref.predict(X))
    np.testing.assert_array_equal(clf.to_local().predict(X), ref.predict(X))
    counts = np.random.default_rng(0).poisson(np.exp(0.3 * X[:, 0]))
    reg = fd.DaskMLPRegressor("poisson", hidden_layer_sizes=(8,), max_iter=20, random_state=0, client=client)
    reg.fit(Xd, da.from_array(counts, chunks=200))
    rref = FastMLPRegressor("poisson", hidden_layer_sizes=(8,), solver="lbfgs", max_iter=20, random_state=0)
    rref.fit(X, counts)
    np.testing.assert_allclose(reg.predict(Xd).compute(), rref.predict(X), rtol=1e-7)


def test_local_sgd_reaches_single_process_accuracy_on_digits(client):
    from sklearn.model_selection import train_test_split

    X, y = _digits()
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.3, random_state=0, stratify=y)
    single = FastMLPClassifier(
        (64,), solver="adam", learning_rate_init=0.01, max_iter=40, random_state=0, n_iter_no_change=40
    ).fit(Xtr, ytr)
    Xd, yd = da.from_array(Xtr, chunks=(315, 64)), da.from_array(ytr, chunks=315)  # 4 blocks
    dist = fd.DaskMLPClassifier(
        (64,),
        solver="local-sgd",
        local_solver="adam",
        learning_rate_init=0.01,
        max_iter=40,
        random_state=0,
        n_iter_no_change=40,
        client=client,
    ).fit(Xd, yd)
    acc_single = single.score(Xte, yte)
    acc_dist = dist.score(da.from_array(Xte, chunks=200), da.from_array(yte, chunks=200))
    assert acc_dist >= acc_single - 0.01, (acc_dist, acc_single)
    assert dist.to_local().score(Xte, yte) == pytest.approx(acc_dist)
    assert dist.n_iter_ == 40 and dist.t_ == 40 * len(ytr)


def test_local_sgd_early_stopping_on_held_out_dask_array(client):
    X, y = _problem(1600, 20, 3, seed=2)
    Xv, yv = _problem(400, 20, 3, seed=2)
    Xd, yd = da.from_array(X, chunks=(400, 20)), da.from_array(y, chunks=400)
    Xvd, yvd = da.from_array(Xv, chunks=(200, 20)), da.from_array(yv, chunks=200)
    m = FastMLP([20, 64, 3], dtype=np.float64, seed=0)
    fd.fit_local_sgd(
        m,
        Xd,
        yd,
        rounds=60,
        local_epochs=3,
        optimizer="adam",
        lr=0.05,
        batch_size=8,
        validation_data=(Xvd, yvd),
        patience=3,
        client=client,
    )
    assert m.last_fit.reason == "early_stopping" and m.n_epochs < 60
    assert len(m.val_loss_curve) == m.n_epochs
    best = int(np.argmin(m.val_loss_curve))
    assert m.best_epoch == best + 1
    assert m.loss(Xv, yv) == pytest.approx(m.val_loss_curve[best], rel=1e-9)  # the best round's weights

    clf = fd.DaskMLPClassifier(
        (32,),
        solver="local-sgd",
        early_stopping=True,
        n_iter_no_change=2,
        learning_rate_init=0.05,
        max_iter=60,
        random_state=0,
        client=client,
    )
    clf.fit(Xd, yd)
    assert clf.n_iter_ < 60 and len(clf.validation_scores_) == clf.n_iter_
    assert clf.best_validation_score_ == max(clf.validation_scores_)


# ------------------------------------------------------------------------------------------------------
# Inference, data frames, search
# ------------------------------------------------------------------------------------------------------


def test_distributed_inference_is_lazy_and_typed(client):
    X, y = _problem(1000, 20, 3)
    m = FastMLP([20, 16, 3], dtype=np.float32, seed=0).fit(X, y, epochs=2)
    Xd = da.from_array(X, chunks=(300, 10))  # column chunks are joined
    p, P, H = fd.predict(m, Xd), fd.predict_proba(m, Xd), fd.transform(m, Xd, layer=0)
    assert isinstance(p, da.Array) and p.shape == (1000,) and p.dtype == m.predict(X[:1]).dtype
    assert P.shape == (1000, 3) and P.dtype == np.float32 and H.shape == (1000, 16)
    np.testing.assert_array_equal(p.compute(), m.predict(X))
    np.testing.assert_array_equal(P.compute(), m.predict_proba(X))
    np.testing.assert_array_equal(H.compute(), m.transform(X, layer=0))
    est = FastMLPClassifier((8,), max_iter=5, random_state=0).fit(X, np.array(list("abc"))[y])
    pe = fd.predict(est, Xd)
    assert pe.dtype == est.predict(X[:1]).dtype
    np.testing.assert_array_equal(pe.compute(), est.predict(X))
    with pytest.raises(ValueError, match="expected 20 features"):
        fd.predict(m, Xd[:, :5])


def test_tasks_limit_blas_threads_to_the_worker_threads(client):
    def probe():
        from threadpoolctl import threadpool_info

        from fastmlp.dask import _blocks

        with _blocks.blas_threads():
            return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]

    for threads in client.run(probe).values():
        assert threads and all(t == 1 for t in threads)


def test_dask_dataframe_input_and_feature_names(client):
    pd = pytest.importorskip("pandas")
    dd = pytest.importorskip("dask.dataframe")
    X, y = _problem(800, 5, 2)
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(5)])
    frame["target"] = y
    ddf = dd.from_pandas(frame, npartitions=4)
    clf = fd.DaskMLPClassifier((8,), max_iter=10, random_state=0, client=client)
    clf.fit(ddf[[f"f{i}" for i in range(5)]], ddf["target"])
    assert list(clf.feature_names_in_) == [f"f{i}" for i in range(5)]
    local = clf.to_local()
    assert list(local.feature_names_in_) == list(clf.feature_names_in_)
    pred = clf.predict(ddf[[f"f{i}" for i in range(5)]])
    np.testing.assert_array_equal(pred.compute(), local.predict(frame[[f"f{i}" for i in range(5)]]))


def test_grid_search_through_joblib_dask_backend(client):
    import joblib
    from sklearn.model_selection import GridSearchCV

    X, y = _problem(600, 8, 2)
    grid = {"alpha": [1e-4, 1e-1], "hidden_layer_sizes": [(4,), (16,)]}
    est = FastMLPClassifier(solver="lbfgs", max_iter=30, random_state=0)
    with joblib.parallel_backend("dask"):
        on_dask = GridSearchCV(est, grid, cv=3).fit(X, y)
    local = GridSearchCV(est, grid, cv=3).fit(X, y)
    assert on_dask.best_params_ == local.best_params_
    np.testing.assert_allclose(on_dask.cv_results_["mean_test_score"], local.cv_results_["mean_test_score"])


# ------------------------------------------------------------------------------------------------------
# Faults, memory
# ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("solver", ["lbfgs", "local-sgd"])
def test_worker_killed_mid_run_gives_the_undisturbed_result(client, tmp_path, solver):
    X, y = _problem(3000, 20, 3, dtype=np.float32)
    Xd, yd = da.from_array(X, chunks=(250, 20)), da.from_array(y, chunks=250)

    def train(callback=None):
        m = FastMLP([20, 32, 3], dtype=np.float32, seed=4)
        if solver == "lbfgs":
            return fd.fit_lbfgs(m, Xd, yd, max_iter=12, client=client, persist=True, callback=callback)
        return fd.fit_local_sgd(m, Xd, yd, rounds=6, local_epochs=2, optimizer="momentum", lr=0.02,
                                client=client, persist=True, callback=callback)

    client.wait_for_workers(2, timeout=60)
    undisturbed = train()
    victim = sorted(client.scheduler_info(n_workers=-1)["workers"])[0]
    killed = threading.Event()

    def kill():
        try:
            client.run(os._exit, 1, workers=[victim])
        except Exception:  # the worker dies before it answers
            pass
        killed.set()

    def callback(info):
        if info["epoch"] == 3:
            threading.Thread(target=kill, daemon=True).start()
            time.sleep(0.05)  # the next evaluation is under way when the worker goes

    disturbed = train(callback)
    assert killed.wait(30)
    assert victim not in client.scheduler_info(n_workers=-1)["workers"]
    assert disturbed.get_params_vector().tobytes() == undisturbed.get_params_vector().tobytes()
    assert disturbed.loss_curve == undisturbed.loss_curve
    path = tmp_path / "model.npz"
    disturbed.save(path)
    assert FastMLP.load(path).get_params_vector().tobytes() == undisturbed.get_params_vector().tobytes()
    assert [p.name for p in tmp_path.iterdir()] == ["model.npz"]
    client.wait_for_workers(2, timeout=60)


def test_data_larger_than_worker_memory_streams():
    """600 MB of float32 generated lazily, workers limited to 200 MB each: the data is not persisted but
    recomputed block by block on every pass, and no worker is killed."""
    with _cluster(2, memory_limit="200MB") as cluster, Client(cluster, set_as_default=False) as c:
        pids = sorted(c.run(os.getpid).values())
        rng = da.random.default_rng(0)
        X = rng.random((1_500_000, 100), dtype=np.float32, chunks=(25_000, 100))  # 600 MB, 10 MB blocks
        assert X.nbytes == 600_000_000
        y = (X[:, 0] + X[:, 1] > 1).astype(np.int64)
        m = FastMLP([100, 8, 2], dtype=np.float32, seed=0)
        fd.fit_lbfgs(m, X, y, max_iter=2, client=c, classes=[0, 1])
        assert m.n_epochs == 2 and m.loss_curve[-1] < m.loss_curve[0] + 1e-6
        workers = c.scheduler_info(n_workers=-1)["workers"].values()
        managed = sum(w["metrics"]["managed_bytes"] for w in workers)
        assert managed < 100e6   # streamed from the graph, not persisted
        p = fd.predict(m, X)
        assert isinstance(p, da.Array) and p.shape == (1_500_000,)
        counts = c.compute(da.bincount(p, minlength=2)).result()
        assert counts.sum() == 1_500_000
        assert sorted(c.run(os.getpid).values()) == pids  # no worker was killed or restarted


# ------------------------------------------------------------------------------------------------------
# Bad input: clear errors, no hang
# ------------------------------------------------------------------------------------------------------


def test_bad_input_errors_name_the_problem(client):
    X, y = _problem(1000, 6, 3)
    Xd, yd = da.from_array(X, chunks=(100, 6)), da.from_array(y, chunks=100)
    m = FastMLP([6, 4, 3], dtype=np.float64, seed=0)
    before = m.get_params_vector()
    with pytest.raises(ValueError, match=r"y: its row chunks \(150, 150.*differ from X's \(100, 100"):
        fd.fit_lbfgs(m, Xd, da.from_array(y, chunks=150), client=client)
    with pytest.raises(ValueError, match="unknown"):
        fd.fit_lbfgs(m, Xd[Xd[:, 0] > 0], yd[Xd[:, 0] > 0], client=client)
    Xnan = X.copy()
    Xnan[250, 3] = np.nan
    t0 = time.perf_counter()
    with pytest.raises(ValueError, match=r"X: block 2 \(rows 200-299\).*NaN"):
        fd.fit_lbfgs(m, da.from_array(Xnan, chunks=(100, 6)), yd, client=client, max_iter=3)
    ybad = y.copy()
    ybad[420] = 7
    with pytest.raises(
        ValueError, match=r"y: block 4 \(rows 400-499\) has labels \[7\].*classes \[0, 1, 2\]"
    ):
        fd.fit_local_sgd(m, Xd, da.from_array(ybad, chunks=100), classes=[0, 1, 2], client=client, rounds=2)
    with pytest.raises(ValueError, match=r"y: found 4 classes"):
        fd.fit_lbfgs(m, Xd, da.from_array(ybad, chunks=100), client=client)
    assert time.perf_counter() - t0 < 60
    np.testing.assert_array_equal(m.get_params_vector(), before)  # refused calls change nothing
    with pytest.raises(ValueError, match="expected 6 features"):
        fd.fit_lbfgs(m, Xd[:, :4], yd, client=client)


def test_dead_scheduler_address_fails_fast(monkeypatch):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    address = f"tcp://127.0.0.1:{port}"  # nothing listens there
    t0 = time.perf_counter()
    with pytest.raises(ConnectionError, match=f"no Dask scheduler answered at '{address}'"):
        fd.connect(address, timeout=2)
    assert time.perf_counter() - t0 < 15
    X, y = _problem(100, 4, 2)
    monkeypatch.setattr("fastmlp.dask._core.CONNECT_TIMEOUT", 2.0)
    est = fd.DaskMLPClassifier((4,), client=address)
    with pytest.raises(ConnectionError, match="scheduler"):
        est.fit(da.from_array(X, chunks=50), da.from_array(y, chunks=50))


def test_import_fastmlp_does_not_import_dask_and_default_cluster_starts_and_stops():
    code = (
        "import sys, numpy as np\n"
        "import fastmlp, fastmlp.sklearn\n"
        "assert 'dask' not in sys.modules and 'distributed' not in sys.modules\n"
        "if __name__ == '__main__':\n"
        "    import dask.array as da, distributed, fastmlp.dask as fd\n"
        "    X = np.random.default_rng(0).standard_normal((200, 3)); y = (X[:, 0] > 0).astype(int)\n"
        "    m = fd.fit_lbfgs(fastmlp.FastMLP([3, 4, 2], seed=0), da.from_array(X, chunks=100),\n"
        "                     da.from_array(y, chunks=100), max_iter=3)\n"
        "    assert m.n_epochs == 3\n"
        "    try:\n"
        "        distributed.get_client()\n"
        "    except ValueError:\n"
        "        print('stopped')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "stopped" in out.stdout


# ------------------------------------------------------------------------------------------------------
# Command line
# ------------------------------------------------------------------------------------------------------


def test_cli_trains_from_a_directory_of_csv_files_on_a_cluster(client, tmp_path, capsys):
    pytest.importorskip("pandas")
    from fastmlp.cli import main

    X, y = _problem(600, 4, 3)
    data = tmp_path / "data"
    data.mkdir()
    for i in range(3):
        rows = slice(200 * i, 200 * (i + 1))
        with open(data / f"part{i}.csv", "w") as fh:
            fh.write("a,b,c,d,label\n")
            for xr, yr in zip(X[rows], y[rows]):
                fh.write(",".join(f"{v:.6f}" for v in xr) + f",{yr}\n")
    out = tmp_path / "model.npz"
    address = client.scheduler.address
    rc = main(
        [
            "train",
            str(data),
            "--target",
            "label",
            "--scheduler",
            address,
            "--solver",
            "lbfgs",
            "--epochs",
            "20",
            "--hidden",
            "8",
            "--dtype",
            "float64",
            "-o",
            str(out),
        ]
    )
    assert rc == 0, capsys.readouterr().err
    m = FastMLP.load(out)
    assert m.layer_sizes == [4, 8, 3] and m.n_epochs >= 1
    assert m.score(X, y) > 0.6
    rc = main(
        [
            "train",
            str(data),
            "--target",
            "label",
            "--scheduler",
            address,
            "--optimizer",
            "adam",
            "--epochs",
            "3",
            "--hidden",
            "8",
            "-o",
            str(out),
        ]
    )
    assert rc == 0, capsys.readouterr().err
    assert FastMLP.load(out).n_epochs == 3


def test_estimators_clone_pickle_and_take_numpy_input(client):
    from sklearn.base import clone
    X, y = _problem(400, 6, 3)
    est = fd.DaskMLPClassifier((8,), max_iter=5, random_state=0, client=client)
    twin = clone(est)
    assert twin.client is client and twin.get_params()["max_iter"] == 5
    est.fit(X, y)   # NumPy input is wrapped in a dask array
    again = pickle.loads(pickle.dumps(est))
    assert again.client == client.scheduler.address
    np.testing.assert_array_equal(again.predict(X), est.predict(X))
    assert isinstance(est.predict(X), np.ndarray) and isinstance(est.predict(da.from_array(X)), da.Array)
    with pytest.raises(ValueError, match="solver"):
        fd.DaskMLPClassifier(solver="adam", client=client).fit(X, y)


def test_cli_parquet_on_a_local_cluster_it_starts(tmp_path, capsys):
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    from fastmlp.cli import main
    X, y = _problem(400, 3, 2)
    data = tmp_path / "pq"
    data.mkdir()
    frame = pd.DataFrame(X, columns=["a", "b", "c"]).assign(y=y)
    for i in range(2):
        frame.iloc[200 * i:200 * (i + 1)].to_parquet(data / f"part{i}.parquet")
    out = tmp_path / "m.npz"
    rc = main(["train", str(data), "--dask-workers", "1", "--epochs", "4", "--local-epochs", "2",
               "--scale", "standard", "--hidden", "4", "-o", str(out)])
    assert rc == 0, capsys.readouterr().err
    text = capsys.readouterr().out
    assert "task: classify" in text and "1 worker(s)" in text
    m = FastMLP.load(out)
    assert m.n_epochs == 4 and m.metadata["input_scaling"]["method"] == "standard"
    rc = main(["train", str(tmp_path / "nothing"), "--dask-workers", "1", "-o", str(out)])
    assert rc == 1 and "no .csv, .tsv or .parquet files" in capsys.readouterr().err


def test_local_sgd_follows_the_epoch_schedules(client):
    """A round is an epoch for every schedule of the engine: with step decay to ~0 after two rounds,
    rounds 3 and 4 leave the weights where round 2 put them."""
    import fastmlp.dask as fd
    from fastmlp import FastMLP
    from fastmlp.schedules import Step

    rng = np.random.default_rng(0)
    X = da.from_array(rng.standard_normal((400, 5)).astype(np.float32), chunks=100)
    y = da.from_array(rng.integers(0, 2, 400), chunks=100)
    two, four = FastMLP([5, 8, 2], seed=0), FastMLP([5, 8, 2], seed=0)
    for model, rounds in ((two, 2), (four, 4)):
        fd.fit_local_sgd(model, X, y, client=client, rounds=rounds, local_epochs=1, lr=0.1, seed=0,
                         schedule=Step(step_size=2, gamma=1e-9))
    moved = np.abs(four.get_params_vector() - FastMLP([5, 8, 2], seed=0).get_params_vector()).max()
    assert moved > 1e-3
    np.testing.assert_allclose(four.get_params_vector(), two.get_params_vector(), atol=1e-6)
