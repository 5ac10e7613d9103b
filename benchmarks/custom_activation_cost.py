"""What an activation of your own (fastmlp.Activation) costs against the built-in kernel: a W4-sized
network (13-64-64-1, tanh, squared error), one SGD step of 64 rows and inference on 4096 rows, float32,
compiled backend. Run: python benchmarks/custom_activation_cost.py"""
import timeit

import numpy as np

import fastmlp
from fastmlp import FastMLP


def main(repeat=7):
    my_tanh = fastmlp.Activation("my_tanh", f=np.tanh, f_prime=lambda A: 1 - A * A)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((4096, 13)).astype(np.float32)
    y = rng.standard_normal(4096).astype(np.float32)
    Xb, yb = X[:64], y[:64].reshape(-1, 1)
    rows = []
    for label, act in (("built-in tanh", "tanh"), ("fastmlp.Activation(np.tanh)", my_tanh)):
        m = FastMLP([13, 64, 64, 1], activation=act, output="identity", seed=0)
        m.fit(Xb, yb[:, 0], epochs=1, batch_size=64, lr=1e-3)
        net = m._training_network(64)
        opt = m.optimizer
        step = min(timeit.repeat(lambda net=net, opt=opt: net.train_step(Xb, yb, None, opt), number=200,
                                 repeat=repeat)) / 200
        infer = min(timeit.repeat(lambda m=m: m.predict(X), number=20, repeat=repeat)) / 20
        rows.append((label, step, infer))
    print(f"{'activation':32s} {'train step b64':>16s} {'predict 4096 rows':>18s}")
    for label, step, infer in rows:
        print(f"{label:32s} {step * 1e6:13.1f} us {infer * 1e6:15.1f} us")
    print(f"custom / built-in: step {rows[1][1] / rows[0][1]:.2f}x, predict {rows[1][2] / rows[0][2]:.2f}x")


if __name__ == "__main__":
    main()
