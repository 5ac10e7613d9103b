"""FastMLP end to end: the classic problems of the course material, early stopping, persistence."""
import json
import zipfile

import numpy as np
import pytest

from fastmlp import FastMLP

BACKENDS = ["cython", "numpy"]
XOR_X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
XOR_Y = np.array([0, 1, 1, 0])


def _blobs(n=600, d=6, k=3, seed=0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((k, d)) * 3
    y = rng.integers(0, k, n)
    X = centers[y] + rng.standard_normal((n, d))
    return X.astype(dtype), y


def _beans(n=100, seed=4):
    """The toxicity toy problem of seed 004: size x, toxic iff 0.7x + noise + 0.5 > 0.8."""
    rng = np.random.default_rng(seed)
    xs = np.sort(rng.random(n))
    ys = (0.7 * xs + (0.5 - rng.random(n)) / 50 + 0.5 > 0.8).astype(float)
    return xs[:, None], ys


@pytest.mark.parametrize("backend", BACKENDS)
def test_xor_needs_and_gets_one_hidden_layer(backend):
    single = FastMLP([2, 1], output="sigmoid", dtype=np.float64, backend=backend)
    single.fit(XOR_X, XOR_Y, epochs=500, batch_size=4, lr=0.5, verbose=False)
    assert single.score(XOR_X, XOR_Y) <= 0.75  # not linearly separable
    for seed in range(3):
        m = FastMLP([2, 4, 1], activation="tanh", output="sigmoid", dtype=np.float64, seed=seed,
                    backend=backend)
        m.fit(XOR_X, XOR_Y, epochs=2000, batch_size=4, lr=0.5, optimizer="momentum", verbose=False)
        assert m.score(XOR_X, XOR_Y) == 1.0
        np.testing.assert_array_equal(m.predict(XOR_X), XOR_Y)


@pytest.mark.parametrize("backend", BACKENDS)
def test_beans_logistic_neuron_trains(backend):
    """One logistic neuron, squared error, per-sample SGD from w = b = 0.1 (the course's own loop;
    its e = (y − a)² is twice our ½(y − a)², so lr = 2α with α = 0.01)."""
    X, y = _beans()
    m = FastMLP([1, 1], output="sigmoid", loss="squared_error", dtype=np.float64, backend=backend)
    m.weights, m.biases = [np.array([[0.1]])], [np.array([0.1])]
    epochs = 5000 if backend == "cython" else 300
    m.fit(X, y, epochs=epochs, batch_size=1, lr=0.02, shuffle=False, verbose=False)
    assert m.loss_curve[-1] < m.loss_curve[0] / 3
    w, b = m.weights[0][0, 0], m.biases[0][0]
    if backend == "cython":
        assert abs(-b / w - 3 / 7) < 0.03  # the learned boundary sits at the true 0.3/0.7
        assert np.mean((m.predict(X) > 0.5) == y) >= 0.95


def test_beans_matches_the_course_loop_exactly():
    X, y = _beans()
    m = FastMLP([1, 1], output="sigmoid", loss="squared_error", dtype=np.float64)
    m.weights, m.biases = [np.array([[0.1]])], [np.array([0.1])]
    m.fit(X, y, epochs=20, batch_size=1, lr=0.02, shuffle=False, verbose=False)
    w, b, alpha = 0.1, 0.1, 0.01
    for _ in range(20):
        for x, t in zip(X[:, 0], y):
            a = 1 / (1 + np.exp(-(w * x + b)))
            deda, dadz = -2 * (t - a), a * (1 - a)
            w, b = w - alpha * deda * dadz * x, b - alpha * deda * dadz
    assert m.weights[0][0, 0] == pytest.approx(w, rel=1e-10)
    assert m.biases[0][0] == pytest.approx(b, rel=1e-10)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "nesterov", "adam"])
def test_classification_reaches_a_good_score(backend, optimizer):
    X, y = _blobs()
    Xt, yt = _blobs(seed=0)[0][:200], _blobs(seed=0)[1][:200]
    m = FastMLP([6, 32, 16, 3], activation="relu", dtype=np.float32, seed=1, backend=backend)
    m.fit(X, y, epochs=15, batch_size=32, lr=0.01 if optimizer == "adam" else 0.05, optimizer=optimizer,
          verbose=False)
    assert m.score(Xt, yt) >= 0.95
    P = m.predict_proba(X[:10])
    assert P.dtype == np.float32 and P.shape == (10, 3)
    np.testing.assert_allclose(P.sum(axis=1), 1, rtol=1e-5)
    assert m.loss_curve[-1] < m.loss_curve[0]


@pytest.mark.parametrize("backend", BACKENDS)
def test_regression_reaches_a_good_score(backend):
    rng = np.random.default_rng(3)
    X = rng.uniform(-2, 2, (800, 3))
    y = np.column_stack([np.sin(X[:, 0]) + 0.5 * X[:, 1] * X[:, 2], X[:, 0] ** 2 - X[:, 2]])
    m = FastMLP([3, 64, 64, 2], activation="tanh", output="identity", dtype=np.float64, seed=0,
                backend=backend)
    m.fit(X, y, epochs=60, batch_size=32, lr=0.003, optimizer="adam", verbose=False)
    assert m.score(X, y) > 0.95
    assert m.predict(X[:5]).shape == (5, 2)
    single = FastMLP([3, 16, 1], activation="tanh", output="identity", dtype=np.float64, backend=backend)
    single.fit(X, y[:, 0], epochs=3, verbose=False)
    assert single.predict(X[:5]).shape == (5,)


@pytest.mark.parametrize("backend", BACKENDS)
def test_early_stopping_restores_best_weights(backend):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 10))
    y = rng.integers(0, 2, 40)  # pure noise: validation loss rises as the net memorises
    Xv, yv = rng.standard_normal((200, 10)), rng.integers(0, 2, 200)
    m = FastMLP([10, 64, 2], activation="relu", dtype=np.float64, seed=0, backend=backend)
    snapshots = {}
    m.fit(X, y, epochs=300, batch_size=8, lr=0.1, optimizer="momentum", validation_data=(Xv, yv),
          patience=5, verbose=False,
          callback=lambda model, info: snapshots.__setitem__(info["epoch"], model.get_params_vector()))
    assert len(m.loss_curve) < 300  # stopped early
    assert len(m.val_loss_curve) == len(m.loss_curve) == len(m.val_score_curve)
    best = int(np.argmin(m.val_loss_curve)) + 1
    assert m.best_epoch == best and len(m.loss_curve) == best + 5
    np.testing.assert_array_equal(m.get_params_vector(), snapshots[best])
    val_loss = m._validation_metrics(*_encoded(m, Xv, yv), None)[0]
    assert val_loss == pytest.approx(min(m.val_loss_curve), rel=1e-12)


def _encoded(m, X, y):
    return m._check_X(X), m._encode(y, len(X))[0]


def test_validation_split_and_patience_on_training_loss():
    X, y = _blobs(n=300)
    m = FastMLP([6, 8, 3], seed=2).fit(X, y, epochs=5, validation_split=0.25, verbose=False)
    assert len(m.val_loss_curve) == 5 and all(0 <= s <= 1 for s in m.val_score_curve)
    m2 = FastMLP([6, 8, 3], seed=2).fit(X, y, epochs=400, lr=1e-9, patience=3, verbose=False)
    assert len(m2.loss_curve) < 400


def test_deterministic_given_seed():
    X, y = _blobs(n=200)
    a = FastMLP([6, 10, 3], seed=7).fit(X, y, epochs=3, verbose=False)
    b = FastMLP([6, 10, 3], seed=7).fit(X, y, epochs=3, verbose=False)
    c = FastMLP([6, 10, 3], seed=8).fit(X, y, epochs=3, verbose=False)
    np.testing.assert_array_equal(a.get_params_vector(), b.get_params_vector())
    assert not np.array_equal(a.get_params_vector(), c.get_params_vector())


def test_initialisation_scales():
    m = FastMLP([400, 300, 200, 10], activation=["relu", "tanh"], dtype=np.float64, seed=0)
    W1, W2, W3 = m.weights
    assert W1.std() == pytest.approx(np.sqrt(2 / 400), rel=0.05)          # He for relu
    assert np.abs(W2).max() <= np.sqrt(6 / 500) and W2.std() == pytest.approx(np.sqrt(2 / 500), rel=0.05)
    assert all((b == 0).all() for b in m.biases)
    p = FastMLP([3, 4, 2], activation="prelu")
    assert p.slopes[0].tolist() == [0.25] * 4 and p.slopes[1] is None


def test_weights_are_views_and_have_model_dtype():
    m = FastMLP([3, 4, 2], dtype=np.float32)
    assert [W.shape for W in m.weights] == [(3, 4), (4, 2)]
    assert all(W.dtype == np.float32 for W in m.weights + m.biases)
    m.weights[0][...] = 0
    assert (m.get_params_vector()[:12] == 0).all()
    with pytest.raises(ValueError, match="weights"):
        m.weights = [np.zeros((3, 4))]


@pytest.mark.parametrize("backend", BACKENDS)
def test_any_labels_are_mapped_and_remembered(backend):
    X, y = _blobs(n=300)
    names = np.array(["cat", "dog", "emu"])[y]
    m = FastMLP([6, 8, 3], backend=backend).fit(X, names, epochs=10, lr=0.1, verbose=False)
    assert m.classes_.tolist() == ["cat", "dog", "emu"]
    assert set(m.predict(X)) <= {"cat", "dog", "emu"}
    assert m.score(X, names) > 0.9
    with pytest.raises(ValueError, match="y: labels \\['yak'\\]"):
        m.score(X[:2], ["cat", "yak"])


def test_binary_and_multilabel_sigmoid():
    X, y = _blobs(n=300, k=2)
    m = FastMLP([6, 8, 1], output="sigmoid").fit(X, y * 5 + 3, epochs=10, lr=0.1, verbose=False)
    assert m.classes_.tolist() == [3, 8]
    assert m.predict_proba(X[:4]).shape == (4, 2) and set(m.predict(X)) <= {3, 8}
    assert m.score(X, y * 5 + 3) > 0.9
    Y = np.column_stack([y, 1 - y, (X[:, 0] > 0).astype(int)])
    ml = FastMLP([6, 16, 3], output="sigmoid").fit(X, Y, epochs=30, lr=0.1, verbose=False)
    assert ml.predict(X).shape == (300, 3) and ml.score(X, Y) > 0.8


def test_partial_fit_keeps_optimizer_state():
    X, y = _blobs(n=256)
    m = FastMLP([6, 8, 3], seed=0)
    m.partial_fit(X[:8], y[:8] % 3, optimizer="adam", classes=[0, 1, 2])
    t = m._optimizer.t
    m.partial_fit(X[8:], y[8:], optimizer="adam")
    assert m._optimizer.t == t + int(np.ceil(248 / 32))
    for _ in range(10):
        m.partial_fit(X, y, optimizer="adam", lr=0.01)
    assert m.score(X, y) > 0.9


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_save_load_round_trip(tmp_path, dtype):
    X, y = _blobs(n=200, dtype=dtype)
    labels = np.array(["a", "b", "c"])[y]
    m = FastMLP([6, 7, 5, 3], activation=["prelu", ("leaky_relu", 0.2)], dtype=dtype, seed=3, l2=0.01)
    m.fit(X, labels, epochs=3, validation_split=0.2, verbose=False)
    path = tmp_path / "model.npz"
    m.save(path)
    m2 = FastMLP.load(path)
    assert m2.dtype == dtype and m2.layer_sizes == [6, 7, 5, 3] and m2.l2 == 0.01
    assert m2.spec.activations == m.spec.activations and m2.spec.params == m.spec.params
    np.testing.assert_array_equal(m2.get_params_vector(), m.get_params_vector())
    np.testing.assert_array_equal(m2.predict_proba(X), m.predict_proba(X))
    np.testing.assert_array_equal(m2.predict(X), m.predict(X))
    assert m2.loss_curve == m.loss_curve and m2.val_loss_curve == m.val_loss_curve
    with zipfile.ZipFile(path) as zf:  # plain arrays + JSON: nothing pickled
        assert sorted(zf.namelist()) == ["classes.npy", "meta.npy", "theta.npy"]
    m3 = FastMLP.load(path, backend="numpy")
    np.testing.assert_allclose(m3.predict_proba(X), m.predict_proba(X), rtol=1e-4)


def test_load_refuses_pickles_and_garbage(tmp_path):
    bad = tmp_path / "evil.npz"
    np.savez(bad, theta=np.zeros(3), meta=np.array([{"format": "fastmlp"}], dtype=object))
    with pytest.raises(ValueError, match="pickle"):
        FastMLP.load(bad)
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip file at all")
    with pytest.raises(ValueError, match="path"):
        FastMLP.load(junk)
    other = tmp_path / "other.npz"
    np.savez(other, theta=np.zeros(3), meta=np.array(json.dumps({"format": "other"})))
    with pytest.raises(ValueError, match="not a fastmlp model"):
        FastMLP.load(other)
    with pytest.raises(FileNotFoundError):
        FastMLP.load(tmp_path / "missing.npz")


def test_float32_stays_float32():
    X, y = _blobs(n=100, dtype=np.float64)
    m = FastMLP([6, 8, 3], dtype=np.float32).fit(X, y, epochs=2, verbose=False)
    assert m.get_params_vector().dtype == np.float32
    assert m.predict_proba(X).dtype == np.float32
    assert all(g.dtype == np.float32 for g in m.gradients(X, y)[1])


def test_repr_is_short():
    r = repr(FastMLP([3, 4, 2], activation="relu"))
    assert r.startswith("FastMLP([3, 4, 2]") and "relu" in r and len(r) < 200


def test_pickle_round_trip_and_copy():
    import copy
    import pickle
    X, y = _blobs(n=100)
    m = FastMLP([6, 8, 3], seed=0).fit(X, y, epochs=2, verbose=False)
    m2 = pickle.loads(pickle.dumps(m))
    np.testing.assert_array_equal(m2.predict_proba(X), m.predict_proba(X))
    m2.fit(X, y, epochs=1, verbose=False)  # the copy trains on its own parameters
    assert not np.array_equal(m2.get_params_vector(), m.get_params_vector())
    m3 = copy.deepcopy(m)
    np.testing.assert_array_equal(m3.predict(X), m.predict(X))


def test_concurrent_predict_from_threads_is_correct():
    from concurrent.futures import ThreadPoolExecutor
    rng = np.random.default_rng(0)
    m = FastMLP([64, 256, 128, 10], seed=0)
    batches = [rng.standard_normal((rng.integers(1, 300), 64)).astype(np.float32) for _ in range(40)]
    expected = [m.predict_proba(b) for b in batches]
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(m.predict_proba, batches))
    for g, e in zip(got, expected):
        np.testing.assert_array_equal(g, e)


@pytest.mark.parametrize("how", ["fit", "partial_fit"])
def test_divergence_keeps_the_last_finite_weights(how):
    """A pass whose loss is not finite raises, names lr (and l2 when set), and leaves the model as it was
    before that pass: finite weights that still predict, and a fresh optimizer state for the next call."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 3)).astype(np.float32)
    y = (X[:, 0] > 0).astype(int)
    m = FastMLP([3, 5, 2], seed=0).fit(X, y, epochs=2, optimizer="momentum")
    before = [w.copy() for w in m.weights]
    train = m.fit if how == "fit" else m.partial_fit
    kw = dict(epochs=3) if how == "fit" else {}
    with pytest.raises(FloatingPointError, match=r"lr: training diverged .*lr=0\.01\) or the L2 penalty "
                                                 r"\(l2=1e\+30\)\. The weights from before"):
        train(X, y, l2=1e30, optimizer="momentum", **kw)
    for w, w0 in zip(m.weights, before):
        np.testing.assert_array_equal(w, w0)
    assert m.n_epochs == 2 and len(m.loss_curve) == 2
    m.partial_fit(X, y, optimizer="momentum")  # trains on from there with a new optimizer state
    assert all(np.isfinite(w).all() for w in m.weights) and m.n_epochs == 3
