"""Learning-rate schedules step, exponential, cosine (with warm-up) and reduce-on-plateau: the rates per
epoch against torch.optim.lr_scheduler, through FastMLP.fit and the scikit-learn wrappers; gradient clipping
options; errors naming the argument."""
import math

import numpy as np
import pytest

from fastmlp import FastMLP, schedules
from fastmlp.validation import ParameterError


def _data(n=64, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 4))
    y = (X[:, 0] * X[:, 1] > 0).astype(int)
    return X, y


def _rates(schedule, epochs=12, lr=0.1, **fit):
    """The learning rate of every epoch of a fit, read by a callback (rate used in that epoch)."""
    X, y = _data()
    seen = []
    m = FastMLP([4, 8, 2], dtype=np.float64, seed=0)
    orig = m._training_network

    def spy(bs):
        net = orig(bs)
        return _Spy(net, seen)
    m._training_network = spy
    m.fit(X, y, epochs=epochs, lr=lr, schedule=schedule, **fit)
    return seen


class _Spy:
    def __init__(self, net, seen):
        self.net, self.seen = net, seen

    def train_epoch(self, X, y, sw, order, bs, opt):
        self.seen.append(opt.lr)
        return self.net.train_epoch(X, y, sw, order, bs, opt)

    def __getattr__(self, name):
        return getattr(self.net, name)


def _torch_rates(make, epochs=12, lr=0.1):
    torch = pytest.importorskip("torch")
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)
    sched = make(torch.optim.lr_scheduler, opt)
    out = []
    for _ in range(epochs):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


def test_step_and_exponential_match_torch():
    np.testing.assert_allclose(_rates(schedules.Step(step_size=3, gamma=0.5)),
                               _torch_rates(lambda s, o: s.StepLR(o, step_size=3, gamma=0.5)), rtol=1e-14)
    np.testing.assert_allclose(_rates(schedules.Exponential(gamma=0.8)),
                               _torch_rates(lambda s, o: s.ExponentialLR(o, gamma=0.8)), rtol=1e-12)


def test_cosine_matches_torch_and_warms_up():
    np.testing.assert_allclose(_rates("cosine"),
                               _torch_rates(lambda s, o: s.CosineAnnealingLR(o, T_max=12)), rtol=1e-12)
    r = _rates(schedules.Cosine(cycle=8, min_lr=0.01))
    ref = _torch_rates(lambda s, o: s.CosineAnnealingLR(o, T_max=8, eta_min=0.01))
    np.testing.assert_allclose(r[:8], ref[:8], rtol=1e-12)
    assert r[8:] == [0.01] * 4  # past the cycle: min_lr (torch's rate would climb back)
    r = _rates(schedules.Cosine(warmup=4, min_lr=0.001), epochs=14)
    np.testing.assert_allclose(r[:4], [0.025, 0.05, 0.075, 0.1])
    np.testing.assert_allclose(r[4:], [0.001 + 0.099 * (1 + math.cos(math.pi * k / 10)) / 2
                                       for k in range(10)])
    assert max(r) == pytest.approx(0.1)


def test_reduce_on_plateau_matches_torch():
    torch = pytest.importorskip("torch")
    losses = [1.0, 0.9, 0.95, 0.95, 0.95, 0.89, 0.9, 0.9, 0.9, 0.9, 0.9, 0.5, 0.6, 0.6, 0.6, 0.6]
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    ref = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=2, cooldown=1, min_lr=0.01)
    ours = schedules.ReduceOnPlateau(factor=0.5, patience=2, cooldown=1, min_lr=0.01, monitor="val_loss")

    class Opt:
        lr = 0.1
    ours.start(0.1)
    for v in losses:
        ref.step(v)
        ours.end_epoch(Opt, 0, {"loss": 0.0, "val_loss": v})
        assert Opt.lr == pytest.approx(opt.param_groups[0]["lr"], rel=1e-15)


def test_reduce_on_plateau_follows_the_validation_loss_in_fit():
    X, y = _data(200)
    Xv, yv = _data(100, seed=1)
    m = FastMLP([4, 16, 2], dtype=np.float64, seed=0)
    sched = schedules.ReduceOnPlateau(factor=0.5, patience=1)
    rates = []
    m.fit(X, y, epochs=40, lr=0.5, optimizer="sgd", validation_data=(Xv, yv), schedule=sched,
          callback=lambda model, info: rates.append(model.optimizer.lr))
    assert rates[-1] < rates[0]  # reduced at least once
    # the rate of every epoch is what the rule gives from the validation losses before it
    replay = schedules.ReduceOnPlateau(factor=0.5, patience=1)
    replay.start(0.5)

    class Opt:
        lr = 0.5
    for e, v in enumerate(m.val_loss_curve):
        assert rates[e] == Opt.lr
        replay.end_epoch(Opt, 0, {"loss": m.loss_curve[e], "val_loss": v})
    with pytest.raises(ParameterError, match="schedule: ReduceOnPlateau.*needs validation"):
        FastMLP([4, 8, 2]).fit(X, y, schedule=schedules.ReduceOnPlateau(monitor="val_loss"))


@pytest.mark.parametrize("name", ["step", "exponential", "cosine", "reduce_on_plateau"])
def test_schedules_by_name_train_on_both_backends(name):
    X, y = _data(128)
    for backend in ("cython", "numpy"):
        m = FastMLP([4, 16, 2], seed=0, backend=backend)
        m.fit(X, y, epochs=5, lr=0.05, schedule=name, validation_split=0.25)
        assert len(m.loss_curve) == 5 and all(np.isfinite(m.loss_curve))


def test_wrappers_take_the_new_schedules():
    pytest.importorskip("sklearn")
    from fastmlp.sklearn import FastMLPClassifier
    X, y = _data(128)
    for lr in ("cosine", "exponential", schedules.Cosine(warmup=2)):
        for solver in ("sgd", "adam"):
            clf = FastMLPClassifier((8,), solver=solver, learning_rate=lr, max_iter=5, random_state=0)
            import warnings
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                clf.fit(X, y)
            assert clf._model.optimizer.lr < clf.learning_rate_init  # the decay was applied
    with pytest.raises(ValueError, match="learning_rate"):
        FastMLPClassifier(learning_rate="warm").fit(X, y)


@pytest.mark.parametrize("schedule, match", [
    ("linear", "schedule"), (3, "schedule"),
])
def test_unknown_schedule_is_refused(schedule, match):
    X, y = _data()
    with pytest.raises(ParameterError, match=match):
        FastMLP([4, 8, 2]).fit(X, y, schedule=schedule)


@pytest.mark.parametrize("make, match", [
    (lambda: schedules.Step(step_size=0), "step_size"),
    (lambda: schedules.Step(gamma=0.0), "gamma"),
    (lambda: schedules.Exponential(gamma=1.5), "gamma"),
    (lambda: schedules.Cosine(warmup=-1), "warmup"),
    (lambda: schedules.Cosine(cycle=5, warmup=5), "warmup"),
    (lambda: schedules.Cosine(min_lr=-1.0), "min_lr"),
    (lambda: schedules.ReduceOnPlateau(factor=1.0), "factor"),
    (lambda: schedules.ReduceOnPlateau(patience=-1), "patience"),
    (lambda: schedules.ReduceOnPlateau(monitor="acc"), "monitor"),
])
def test_bad_schedule_arguments(make, match):
    with pytest.raises(ParameterError, match=match):
        make()


@pytest.mark.parametrize("backend", ["cython", "numpy"])
def test_clipping_bounds_every_step(backend):
    """With clip_norm tiny, SGD moves θ by at most lr·clip_norm per step (per epoch: steps·lr·clip)."""
    X, y = _data(64)
    m = FastMLP([4, 16, 2], dtype=np.float64, seed=0, backend=backend)
    before = m.get_params_vector()
    m.fit(X, y, epochs=1, batch_size=16, lr=1.0, clip_norm=1e-3)
    assert np.linalg.norm(m.get_params_vector() - before) <= 4 * 1e-3 * (1 + 1e-12)
    m2 = FastMLP([4, 16, 2], dtype=np.float64, seed=0, backend=backend)
    m2.partial_fit(X, y, batch_size=64, lr=1.0, clip_value=1e-4)
    assert np.abs(m2.get_params_vector() - before).max() <= 1e-4 * (1 + 1e-12)
