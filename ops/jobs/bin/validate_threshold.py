"""validate-threshold: a validation gate. Scores a model on held-out data (the rows train-logreg never saw), compares
each metric to its threshold, and writes --out/checks.json:

  {"model": "name@version", "gate": "...", "model_digest": "sha256:...", "passed": true|false,
   "checks": [{"name", "kind", "metric", "value", "op", "threshold", "passed"}, ...], "holdout": {...}}

Checks (catalog shape, wire format section 4): auc-floor, accuracy-floor, log-loss-ceiling (metric), segment-parity
(bias: demographic parity difference between segments a and b), holdout-completeness (data_quality: invalid rows).
Values are rounded to six decimals before they are compared, so the recorded value decides the recorded verdict.

Exit status: 0 the gate passed, 3 the gate failed (checks.json says why), 1 error, 2 bad arguments.
"""

import argparse
import operator
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mlcommon as ml  # noqa: E402

OPERATORS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge, "==": operator.eq, "!=": operator.ne}


def parse_args(argv):
    p = argparse.ArgumentParser(prog="validate_threshold.py", description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True, help="the model reference name@version")
    p.add_argument("--model-file", required=True)
    p.add_argument("--model-digest", required=True, help="sha256:<hex> the ledger recorded for the model")
    p.add_argument("--gate", default="pre-production")
    p.add_argument("--dataset-seed", type=int, default=7)
    p.add_argument("--samples", type=int, default=2000)
    p.add_argument("--data", help="CSV data set instead of the synthetic one")
    p.add_argument("--min-auc", type=float, default=0.75)
    p.add_argument("--min-accuracy", type=float, default=0.7)
    p.add_argument("--max-log-loss", type=float, default=0.6)
    p.add_argument("--max-parity-gap", type=float, default=0.1)
    p.add_argument("--out", required=True)
    return p.parse_args(argv)


def check(name, kind, metric, value, op, threshold):
    value = value if isinstance(value, int) else ml.r6(value)
    threshold = threshold if isinstance(threshold, int) else float(threshold)
    return {
        "name": name, "kind": kind, "metric": metric, "value": value, "op": op, "threshold": threshold,
        "passed": bool(OPERATORS[op](value, threshold)),
    }


def parity_gap(rows, probabilities, threshold):
    rates = []
    for segment in ("a", "b"):
        flagged = [p >= threshold for r, p in zip(rows, probabilities) if r["segment"] == segment]
        rates.append(sum(flagged) / len(flagged) if flagged else 0.0)
    return abs(rates[0] - rates[1])


def main(argv):
    args = parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    model = ml.load_model(args.model_file, args.model_digest)
    rows, dataset = ml.load_rows(args)
    _, holdout = ml.split(rows)
    valid = [r for r in holdout if ml.is_valid(r)]
    if len(valid) < 8 or len({r["label"] for r in valid}) < 2:
        raise ml.JobError("the held-out split needs at least 8 valid rows of both classes")
    labels = [r["label"] for r in valid]
    probabilities = [ml.predict(model, r) for r in valid]
    threshold = model.get("threshold", 0.5)
    checks = [
        check("auc-floor", "metric", "auc", ml.auc(labels, probabilities), ">=", args.min_auc),
        check("accuracy-floor", "metric", "accuracy", ml.accuracy(labels, probabilities, threshold), ">=", args.min_accuracy),
        check("log-loss-ceiling", "metric", "log_loss", ml.log_loss(labels, probabilities), "<=", args.max_log_loss),
        check("segment-parity", "bias", "demographic_parity_difference", parity_gap(valid, probabilities, threshold),
              "<=", args.max_parity_gap),
        check("holdout-completeness", "data_quality", "invalid_rows", len(holdout) - len(valid), "==", 0),
    ]
    passed = all(c["passed"] for c in checks)
    result = {
        "model": args.model, "gate": args.gate, "model_digest": args.model_digest, "passed": passed, "checks": checks,
        "holdout": {"rows": len(holdout), "valid_rows": len(valid), "dataset": dataset},
    }
    ml.write_json(os.path.join(args.out, "checks.json"), result)
    for c in checks:
        mark = "pass" if c["passed"] else "FAIL"
        print(f"{mark} {c['name']}: {c['metric']} {c['value']} {c['op']} {c['threshold']}", flush=True)
    print(f"gate {args.gate} for {args.model}: {'passed' if passed else 'failed'}", flush=True)
    return 0 if passed else 3


if __name__ == "__main__":
    ml.run(main)
