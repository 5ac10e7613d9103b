"""``fastmlp train DIR --scheduler ADDRESS`` / ``--dask-workers N``: train on a Dask cluster from a directory
of CSV or Parquet files, read by the workers (dask.dataframe), never gathered here. dask is imported only
when one of these options is given."""

from __future__ import annotations

import argparse
import glob
import os
import time
from typing import Any

import numpy as np

from .errors import EXIT_OK, CLIError


def _read_frame(path: str) -> tuple[Any, str]:
    """A dask DataFrame of every .csv/.tsv or .parquet file in the directory (or glob) ``path``."""
    try:
        import dask.dataframe as dd
    except ImportError as exc:
        raise CLIError(
            f"--scheduler/--dask-workers need dask[dataframe] and pandas: pip install "
            f"'fastmlp[dask]' pandas ({exc})"
        ) from None
    if path is None:
        raise CLIError("data: give a directory of CSV or Parquet files to train on a cluster")
    files = sorted(glob.glob(os.path.join(path, "*")) if os.path.isdir(path) else glob.glob(path))
    csv = [f for f in files if f.lower().endswith((".csv", ".tsv"))]
    parquet = [f for f in files if f.lower().endswith((".parquet", ".pq"))]
    if parquet and not csv:
        return dd.read_parquet(parquet), f"{len(parquet)} Parquet file(s) in {path}"
    if csv and not parquet:
        sep = "\t" if all(f.lower().endswith(".tsv") for f in csv) else ","
        return dd.read_csv(csv, sep=sep, assume_missing=False), f"{len(csv)} CSV file(s) in {path}"
    if csv and parquet:
        raise CLIError(f"data: {path} holds both CSV and Parquet files; keep one kind")
    raise CLIError(f"data: no .csv, .tsv or .parquet files in {path}")


def _target(frame: Any, target: str | None) -> str:
    cols = [str(c) for c in frame.columns]
    if target is None:
        return frame.columns[-1]
    if target in cols:
        return frame.columns[cols.index(target)]
    try:
        i = int(target)
    except ValueError:
        raise CLIError(f"--target: no column {target!r} (columns: {', '.join(cols[:10])})") from None
    if not -len(cols) <= i < len(cols):
        raise CLIError(f"--target: column index {i} out of range for {len(cols)} columns")
    return frame.columns[i]


def _features_block(part: Any, features: list) -> np.ndarray:
    return part[features].to_numpy(dtype=np.float64)


def _target_block(part: Any, tcol: Any, dtype: Any) -> np.ndarray:
    return part[tcol].to_numpy(dtype=dtype)


def _arrays(client: Any, frame: Any, features: list, tcol: Any) -> tuple[Any, Any]:
    """X (n, d) float64 and y (n,) as dask arrays built from the *same* partitions of ``frame`` (selecting
    columns separately lets dask fuse Parquet row groups differently for X and y), with known row
    counts (one pass over the files)."""
    import dask
    import dask.array as da

    bad = [str(c) for c in features if getattr(frame.dtypes[c], "kind", "O") not in "biuf"]
    if bad:
        raise CLIError(f"data: feature columns {bad[:5]} are not numeric")
    kind = getattr(frame.dtypes[tcol], "kind", "O")
    ydtype = np.dtype(frame.dtypes[tcol]) if kind in "biufb" else np.dtype(object)
    parts = frame.to_delayed(optimize_graph=True)
    lengths = client.compute([dask.delayed(len)(p) for p in parts], sync=True)
    keep = [(p, n) for p, n in zip(parts, lengths) if n]
    if not keep:
        raise CLIError("data: the files hold no rows")
    xs = [da.from_delayed(dask.delayed(_features_block)(p, list(features)), shape=(n, len(features)),
                          dtype=np.float64) for p, n in keep]
    ys = [da.from_delayed(dask.delayed(_target_block)(p, tcol, ydtype), shape=(n,), dtype=ydtype)
          for p, n in keep]
    return da.concatenate(xs), da.concatenate(ys)


def cmd_train_cluster(args: argparse.Namespace, say: Any) -> int:
    """The cluster path of ``fastmlp train``."""
    import fastmlp.dask as fd

    from ..model import FastMLP
    from .commands import _describe, _head, class_limit, classifying_head, fmt_time

    if args.dataset is not None:
        raise CLIError(
            "--dataset: built-in datasets train locally; give a directory of files with --scheduler"
        )
    if args.patience is not None:
        raise CLIError(
            "--patience: early stopping on a cluster needs a held-out set; not available from the "
            "command line (use fastmlp.dask.fit_local_sgd(validation_data=...))"
        )
    frame, source = _read_frame(args.data)
    tcol = _target(frame, args.target)
    features = [c for c in frame.columns if c != tcol]
    if not features:
        raise CLIError("data: no feature columns besides the target")
    with fd.cluster_client(args.scheduler, n_workers=args.dask_workers) as client:
        X, y = _arrays(client, frame, features, tcol)
        n = int(X.shape[0])
        values = np.asarray(
            client.compute(y.map_blocks(np.unique, dtype=y.dtype, chunks=(np.nan,)), sync=True)
        )
        values = np.unique(values)
        whole = values.dtype.kind in "biu" or (values.dtype.kind == "f" and np.all(np.mod(values, 1) == 0))
        head = classifying_head(args.output, args.loss)
        if args.task == "classify" or (
            args.task == "auto"
            and (head is not None or values.dtype.kind in "USOb" or (whole and len(values) <= class_limit(n)))
        ):
            task = "classify"
            if values.dtype.kind == "f":
                values, y = values.astype(np.int64), y.astype(np.int64)
        else:
            if values.dtype.kind not in "biuf":
                raise CLIError("--task regress: the target column is not numeric")
            task = "regress"
            values, y = values.astype(np.float64), y.astype(np.float64)
        say(f"task: {task} ({len(values)} distinct target values in {n} rows, read on the cluster)")
        scaling = None
        if args.scale != "none":
            Xf = X.astype(np.float64)
            if args.scale == "standard":
                offset, scale, lo, hi = client.compute(
                    [Xf.mean(axis=0), Xf.std(axis=0), Xf.min(axis=0), Xf.max(axis=0)], sync=True
                )
            else:
                lo, hi = client.compute([Xf.min(axis=0), Xf.max(axis=0)], sync=True)
                offset, scale = lo, hi - lo
            scale = np.where((hi == lo) | ~np.isfinite(scale) | (scale <= 0), 1.0, scale)
            scaling = {
                "method": args.scale,
                "offset": [float(v) for v in offset],
                "scale": [float(v) for v in scale],
            }
            X = (Xf - np.asarray(offset)) / np.asarray(scale)
        output, d_out = _head(values, args.output, args.loss)
        model = FastMLP(
            [X.shape[1], *args.hidden, d_out],
            activation=args.activation,
            output=output,
            loss=args.loss,
            dtype=np.dtype(args.dtype).type,
            seed=args.seed,
            backend=args.backend,
            l2=args.l2,
        )
        if scaling is not None:
            model.metadata["input_scaling"] = scaling
        workers = len(client.scheduler_info(n_workers=-1)["workers"])
        say(f"cluster: {workers} worker(s) at {client.scheduler.address}; {X.numblocks[0]} row block(s)")
        t0 = time.perf_counter()
        if args.solver == "lbfgs":
            fd.fit_lbfgs(model, X, y, max_iter=args.epochs, client=client)
        else:
            fd.fit_local_sgd(
                model,
                X,
                y,
                rounds=args.epochs,
                local_epochs=args.local_epochs,
                batch_size=args.batch_size,
                lr=args.lr,
                optimizer=args.optimizer,
                seed=args.seed,
                client=client,
            )
        dt = time.perf_counter() - t0
    model.save(args.out)
    say(
        f"trained {_describe(model)} on {n} samples from {source} by {args.solver} on the cluster: "
        f"{model.n_epochs} {'iterations' if args.solver == 'lbfgs' else 'rounds'} in {fmt_time(dt)}, "
        f"loss {model.loss_curve[-1]:.4f}"
    )
    say(f"saved the model to {args.out}")
    return EXIT_OK
