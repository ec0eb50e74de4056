"""Shared pieces of the shipped job scripts: the synthetic data set, the logistic model, metrics, and careful file
writing. Python standard library only; deterministic: the same seed gives the same bytes.
"""

import hashlib
import json
import math
import os
import random
import sys

# The features of the synthetic card-transaction data set, in model order.
FEATURES = ["amount", "velocity", "merchant_risk", "account_age", "foreign", "night"]

# The true (hidden) relation the generator draws labels from.
_TRUE_BIAS = -2.2
_TRUE_WEIGHTS = {"amount": 0.9, "velocity": 0.45, "merchant_risk": 2.0, "account_age": -0.35, "foreign": 1.2, "night": 0.6}

MODEL_FORMAT = "mlledger.logreg.v1"


class JobError(Exception):
    """A failure the script reports in one line on stderr before exiting with status 1."""


def fail(message):
    print(f"error: {message}", file=sys.stderr, flush=True)
    sys.exit(1)


def run(main):
    """Runs a script's `main(argv)`: its return value is the exit status; a JobError ends it with status 1."""
    try:
        sys.exit(main(sys.argv[1:]))
    except JobError as e:
        fail(str(e))


def _normal(rng):
    # Box-Muller on random(), whose sequence for a seed is stable across Python versions.
    u1 = rng.random() or 1e-12
    u2 = rng.random()
    return math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)


def sigmoid(z):
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-min(z, 500.0)))
    e = math.exp(max(z, -500.0))
    return e / (1.0 + e)


def generate(seed, samples):
    """Rows of the synthetic data set: dicts with the FEATURES, `label` (0/1) and `segment` ("a"/"b", a group
    attribute the model never sees, used by the bias check)."""
    rng = random.Random(seed)
    rows = []
    for _ in range(samples):
        row = {
            "amount": round(math.exp(0.6 * _normal(rng)) * 1.2, 6),
            "velocity": float(int(-math.log(rng.random() or 1e-12) * 1.5)),
            "merchant_risk": round(rng.random(), 6),
            "account_age": round(-math.log(rng.random() or 1e-12) * 3.0, 6),
            "foreign": 1.0 if rng.random() < 0.15 else 0.0,
            "night": 1.0 if rng.random() < 0.25 else 0.0,
        }
        row["segment"] = "a" if rng.random() < 0.5 else "b"
        z = _TRUE_BIAS + sum(_TRUE_WEIGHTS[f] * row[f] for f in FEATURES) - 0.9 * 1.2
        row["label"] = 1 if rng.random() < sigmoid(z) else 0
        rows.append(row)
    return rows


def read_csv(path):
    """Rows from a CSV file with a header naming the FEATURES, `label`, and optionally `segment`."""
    import csv

    rows = []
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = [c for c in FEATURES + ["label"] if c not in (reader.fieldnames or [])]
        if missing:
            raise JobError(f"{os.path.basename(path)}: missing columns {', '.join(missing)}")
        for n, record in enumerate(reader, start=2):
            try:
                row = {f: float(record[f]) for f in FEATURES}
                row["label"] = int(record["label"])
            except (TypeError, ValueError):
                row = {"invalid": True}
            row["segment"] = record.get("segment") or "a"
            rows.append(row)
    return rows


def load_rows(args):
    """The data set a job names: a CSV file (`--data`) or the synthetic one (`--dataset-seed`, `--samples`)."""
    if getattr(args, "data", None):
        return read_csv(args.data), {"file": os.path.basename(args.data), "digest": file_digest(args.data)}
    return generate(args.dataset_seed, args.samples), {"synthetic_seed": args.dataset_seed, "samples": args.samples}


def is_valid(row):
    if row.get("invalid") or row.get("label") not in (0, 1):
        return False
    return all(isinstance(row.get(f), float) and math.isfinite(row[f]) for f in FEATURES)


def split(rows):
    """Every fourth row is held out for validation; the rest is for training."""
    train = [r for i, r in enumerate(rows) if i % 4 != 0]
    holdout = [r for i, r in enumerate(rows) if i % 4 == 0]
    return train, holdout


def predict(model, row):
    z = model["bias"]
    for f, w, m, s in zip(model["features"], model["weights"], model["mean"], model["scale"]):
        z += w * (row[f] - m) / s
    return sigmoid(z)


def log_loss(labels, probabilities):
    eps = 1e-12
    total = 0.0
    for y, p in zip(labels, probabilities):
        p = min(max(p, eps), 1.0 - eps)
        total -= y * math.log(p) + (1 - y) * math.log(1.0 - p)
    return total / max(len(labels), 1)


def accuracy(labels, probabilities, threshold=0.5):
    hits = sum(1 for y, p in zip(labels, probabilities) if (p >= threshold) == (y == 1))
    return hits / max(len(labels), 1)


def auc(labels, probabilities):
    """Area under the ROC curve as the Mann-Whitney statistic, ties counted half."""
    pairs = sorted(zip(probabilities, labels))
    positives = sum(labels)
    negatives = len(labels) - positives
    if positives == 0 or negatives == 0:
        return 0.5
    rank_sum = 0.0
    i = 0
    while i < len(pairs):
        j = i
        while j + 1 < len(pairs) and pairs[j + 1][0] == pairs[i][0]:
            j += 1
        average_rank = (i + j) / 2.0 + 1.0
        rank_sum += average_rank * sum(1 for k in range(i, j + 1) if pairs[k][1] == 1)
        i = j + 1
    return (rank_sum - positives * (positives + 1) / 2.0) / (positives * negatives)


def canonical_json(value):
    """Compact, key-sorted JSON with a final newline: the same value always gives the same bytes."""
    return (json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False) + "\n").encode("utf-8")


def write_file(path, data):
    """Writes bytes atomically: a temporary file in the same directory, fsync, rename."""
    directory = os.path.dirname(os.path.abspath(path))
    tmp = os.path.join(directory, f".{os.path.basename(path)}.tmp-{os.getpid()}")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def write_json(path, value, pretty=True):
    if pretty:
        data = (json.dumps(value, sort_keys=True, indent=2, allow_nan=False) + "\n").encode("utf-8")
    else:
        data = canonical_json(value)
    write_file(path, data)


def file_digest(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 16), b""):
            h.update(block)
    return "sha256:" + h.hexdigest()


def load_model(path, expected_digest=None):
    """A model file, checked against the digest the ledger recorded for it."""
    if expected_digest is not None:
        actual = file_digest(path)
        if actual != expected_digest:
            raise JobError(f"model digest mismatch: expected {expected_digest}, file is {actual}")
    with open(path, "rb") as f:
        model = json.loads(f.read().decode("utf-8"))
    if model.get("format") != MODEL_FORMAT:
        raise JobError(f"not a {MODEL_FORMAT} model")
    n = len(model["features"])
    if not (len(model["weights"]) == len(model["mean"]) == len(model["scale"]) == n):
        raise JobError("model arrays have different lengths")
    return model


def r6(x):
    """Six decimals: what metrics and checks record (and compare)."""
    return round(float(x), 6)
