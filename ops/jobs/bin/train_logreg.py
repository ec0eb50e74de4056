"""train-logreg: logistic regression by mini-batch gradient descent on the synthetic card-transaction data set (or a
CSV file), deterministic for a seed. Writes to --out:

  model.json     the model (features, standardisation, weights, bias, hyper-parameters), canonical JSON
  metrics.json   training metrics
  training.json  the manifest the worker reads: {"outputs": [{"model", "version", "file", "digest"}]}

Exit status: 0 trained, 1 failed, 2 bad arguments.
"""

import argparse
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mlcommon as ml  # noqa: E402


def parse_args(argv):
    p = argparse.ArgumentParser(prog="train_logreg.py", description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True, help="model name")
    p.add_argument("--version", required=True, help="model version")
    p.add_argument("--seed", type=int, default=42, help="seed for initialisation and batch order")
    p.add_argument("--dataset-seed", type=int, default=7, help="seed of the synthetic data set")
    p.add_argument("--samples", type=int, default=2000, help="rows of the synthetic data set")
    p.add_argument("--data", help="CSV data set instead of the synthetic one")
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--learning-rate", type=float, default=0.1)
    p.add_argument("--l2", type=float, default=0.001)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--out", required=True, help="output directory")
    args = p.parse_args(argv)
    if args.epochs < 1 or args.batch_size < 1 or args.samples < 8 or not args.learning_rate > 0 or args.l2 < 0:
        p.error("epochs, batch size, learning rate must be positive, samples at least 8, l2 not negative")
    return args


def standardisation(rows):
    mean, scale = [], []
    for f in ml.FEATURES:
        values = [r[f] for r in rows]
        m = sum(values) / len(values)
        var = sum((v - m) ** 2 for v in values) / len(values)
        mean.append(ml.r6(m))
        scale.append(ml.r6(var ** 0.5) if var > 1e-12 else 1.0)
    return mean, scale


def train(rows, args):
    mean, scale = standardisation(rows)
    xs = [[(r[f] - m) / s for f, m, s in zip(ml.FEATURES, mean, scale)] for r in rows]
    ys = [r["label"] for r in rows]
    rng = random.Random(args.seed)
    weights = [rng.uniform(-0.01, 0.01) for _ in ml.FEATURES]
    bias = 0.0
    order = list(range(len(xs)))
    n = len(ml.FEATURES)
    for _ in range(args.epochs):
        rng.shuffle(order)
        for start in range(0, len(order), args.batch_size):
            batch = order[start:start + args.batch_size]
            grad_w = [0.0] * n
            grad_b = 0.0
            for i in batch:
                x = xs[i]
                err = ml.sigmoid(bias + sum(w * v for w, v in zip(weights, x))) - ys[i]
                for k in range(n):
                    grad_w[k] += err * x[k]
                grad_b += err
            size = len(batch)
            for k in range(n):
                weights[k] -= args.learning_rate * (grad_w[k] / size + args.l2 * weights[k])
            bias -= args.learning_rate * grad_b / size
    return {
        "features": list(ml.FEATURES),
        "mean": mean,
        "scale": scale,
        "weights": [ml.r6(w) for w in weights],
        "bias": ml.r6(bias),
        "threshold": 0.5,
    }


def main(argv):
    args = parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    rows, dataset = ml.load_rows(args)
    train_rows, _ = ml.split(rows)
    train_rows = [r for r in train_rows if ml.is_valid(r)]
    if len(train_rows) < 8 or len({r["label"] for r in train_rows}) < 2:
        raise ml.JobError("the training split needs at least 8 valid rows of both classes")
    print(f"training {args.model}@{args.version} on {len(train_rows)} rows, {args.epochs} epochs, seed {args.seed}", flush=True)
    params = train(train_rows, args)
    model = {
        "format": ml.MODEL_FORMAT,
        "model": args.model,
        "version": args.version,
        **params,
        "training": {
            "seed": args.seed, "epochs": args.epochs, "learning_rate": args.learning_rate, "l2": args.l2,
            "batch_size": args.batch_size, "dataset": dataset, "rows": len(train_rows),
        },
    }
    model_path = os.path.join(args.out, "model.json")
    ml.write_file(model_path, ml.canonical_json(model))
    digest = ml.file_digest(model_path)

    labels = [r["label"] for r in train_rows]
    probabilities = [ml.predict(model, r) for r in train_rows]
    metrics = {
        "train_log_loss": ml.r6(ml.log_loss(labels, probabilities)),
        "train_accuracy": ml.r6(ml.accuracy(labels, probabilities)),
        "train_auc": ml.r6(ml.auc(labels, probabilities)),
        "train_rows": len(train_rows),
        "positive_rate": ml.r6(sum(labels) / len(labels)),
        "epochs": args.epochs,
    }
    ml.write_json(os.path.join(args.out, "metrics.json"), metrics)
    manifest = {"outputs": [{"model": args.model, "version": args.version, "file": "model.json", "digest": digest}]}
    ml.write_json(os.path.join(args.out, "training.json"), manifest)
    print(f"model {args.model}@{args.version} {digest}", flush=True)
    print("metrics " + " ".join(f"{k}={v}" for k, v in sorted(metrics.items())), flush=True)
    return 0


if __name__ == "__main__":
    ml.run(main)
