"""deploy-local: deploys a model to a local serving directory, moving traffic with a health check at every step.

Serving directory (--serving-root/<deployment>/):
  routing.json        the live routing table: {"deployment", "revision", "routes": [{"slot", "model", "digest", "weight"}]}
  slots/<slot>/       one installed model version each: model.json and slot.json (its status)
  history.jsonl       every routing change, one JSON object a line
  .lock               held for the whole rollout: one rollout of a deployment at a time

Strategies (the same steps as LedgerWorkers.DeploymentPlan):
  canary       install, health check with no traffic, then for each weight (10,50,100 by default): shift, health check
  blue-green   install green beside blue, health check green with no traffic, switch all traffic, health check again

A failed health check rolls back: the routing table returns to what it was before the install. Writes --out:
  progress.jsonl   one line per step as it happens
  deployment.json  the report: steps, outcome (completed | rolled_back), reason

Exit status: 0 completed, 3 rolled back (deployment.json says why), 1 error, 2 bad arguments.
"""

import argparse
import fcntl
import hashlib
import json
import math
import os
import re
import shutil
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mlcommon as ml  # noqa: E402

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,62}$")
PROBE_SEED = 20240601


def parse_args(argv):
    p = argparse.ArgumentParser(prog="deploy_local.py", description=__doc__.splitlines()[0])
    p.add_argument("--deployment", required=True)
    p.add_argument("--model", required=True, help="name@version")
    p.add_argument("--model-file", required=True)
    p.add_argument("--model-digest", required=True)
    p.add_argument("--serving-root", required=True)
    p.add_argument("--strategy", required=True, choices=["canary", "blue-green"])
    p.add_argument("--weights", default="10,50,100", help="canary weights, rising, ending at 100")
    p.add_argument("--min-probe-accuracy", type=float, default=0.6)
    p.add_argument("--max-p99-latency-ms", type=float, default=50.0)
    p.add_argument("--probe-requests", type=int, default=200)
    p.add_argument("--bake-seconds", type=float, default=0.0,
                   help="how long traffic stays at each weight before its health check")
    p.add_argument("--drill-fail-at-weight", type=int, default=-1,
                   help="rollback drill: the health check at this weight fails (-1: never)")
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    if not NAME.match(args.deployment):
        p.error("--deployment is one path component of letters, digits, . _ : -")
    try:
        weights = [int(w) for w in args.weights.split(",")]
    except ValueError:
        p.error("--weights are integers separated by commas")
    if args.strategy == "blue-green":
        weights = [100]
    if not weights or weights[-1] != 100 or any(not 1 <= w <= 100 for w in weights) or weights != sorted(set(weights)):
        p.error("--weights rise strictly within 1..100 and end at 100")
    if args.probe_requests < 1:
        p.error("--probe-requests is at least 1")
    if not 0 <= args.bake_seconds <= 3600:
        p.error("--bake-seconds is within 0..3600")
    args.weight_list = weights
    return args


def plan(strategy, weights):
    """The ordered steps: ("install",), ("health_check", w), ("shift", w)."""
    steps = [("install", None), ("health_check", 0)]
    for w in (weights if strategy == "canary" else [100]):
        steps += [("shift", w), ("health_check", w)]
    return steps


def route(routes, key):
    """The slot a request goes to: a stable hash of its key into 100 buckets, laid over the weights in order.
    None when the bucket falls in traffic no slot has (a first deployment below 100 %)."""
    bucket = int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "big") % 100
    edge = 0
    for r in routes:
        edge += r["weight"]
        if bucket < edge:
            return r["slot"]
    return None


class Serving:
    """One deployment's serving directory."""

    def __init__(self, root, deployment):
        self.dir = os.path.join(root, deployment)
        self.deployment = deployment
        os.makedirs(os.path.join(self.dir, "slots"), exist_ok=True)
        self.lock_file = open(os.path.join(self.dir, ".lock"), "w")
        fcntl.flock(self.lock_file, fcntl.LOCK_EX)

    def routing(self):
        path = os.path.join(self.dir, "routing.json")
        if not os.path.exists(path):
            return {"deployment": self.deployment, "revision": 0, "routes": []}
        with open(path, encoding="utf-8") as f:
            return json.load(f)

    def write_routing(self, routes, why):
        current = self.routing()
        table = {"deployment": self.deployment, "revision": current["revision"] + 1, "routes": routes}
        ml.write_json(os.path.join(self.dir, "routing.json"), table)
        with open(os.path.join(self.dir, "history.jsonl"), "a", encoding="utf-8") as f:
            f.write(json.dumps({"revision": table["revision"], "routes": routes, "why": why, "time": time.time()},
                               sort_keys=True) + "\n")
            f.flush()
            os.fsync(f.fileno())
        return table

    def new_slot_name(self):
        existing = [n for n in os.listdir(os.path.join(self.dir, "slots")) if n.startswith("s")]
        numbers = [int(n[1:]) for n in existing if n[1:].isdigit()]
        return "s%04d" % (max(numbers, default=0) + 1)

    def slot_dir(self, slot):
        return os.path.join(self.dir, "slots", slot)

    def set_status(self, name, **fields):
        path = os.path.join(self.slot_dir(name), "slot.json")
        info = {}
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                info = json.load(f)
        info.update(fields)
        ml.write_json(path, info)


class Rollout:
    def __init__(self, args):
        self.args = args
        self.steps = []
        self.progress_path = os.path.join(args.out, "progress.jsonl")

    def record(self, step):
        self.steps.append(step)
        with open(self.progress_path, "a", encoding="utf-8") as f:
            f.write(json.dumps(step, sort_keys=True, allow_nan=False) + "\n")
            f.flush()
            os.fsync(f.fileno())
        print("step " + json.dumps({k: v for k, v in step.items() if k != "checks"}, sort_keys=True), flush=True)

    def health_check(self, serving, candidate, weight, routing):
        a = self.args
        checks = []

        def check(name, kind, metric, value, op, threshold):
            ops = {"<=": value <= threshold, ">=": value >= threshold, "==": value == threshold}
            checks.append({"name": name, "kind": kind, "metric": metric, "value": value, "op": op,
                           "threshold": threshold, "passed": bool(ops[op])})

        model_path = os.path.join(serving.slot_dir(candidate), "model.json")
        check("model-integrity", "security", "digest_mismatch", 0 if ml.file_digest(model_path) == a.model_digest else 1,
              "==", 0)
        probes = ml.generate(PROBE_SEED, a.probe_requests)
        models = {}

        def model_of(slot):
            if slot not in models:
                models[slot] = ml.load_model(os.path.join(serving.slot_dir(slot), "model.json"))
            return models[slot]

        # Every probe straight to the candidate: is it up, right and fast?
        errors, hits, latencies = 0, 0, []
        for row in probes:
            started = time.perf_counter_ns()
            try:
                p = ml.predict(model_of(candidate), row)
                if not (math.isfinite(p) and 0.0 <= p <= 1.0):
                    raise ValueError("probability out of range")
                hits += 1 if (p >= 0.5) == (row["label"] == 1) else 0
            except Exception:  # noqa: BLE001 - any failure to answer is an error of the service
                errors += 1
            latencies.append((time.perf_counter_ns() - started) / 1e6)
        latencies.sort()
        p99 = latencies[max(0, math.ceil(0.99 * len(latencies)) - 1)]
        check("candidate-errors", "metric", "error_rate", ml.r6(errors / len(probes)), "<=", 0.0)
        check("probe-accuracy", "metric", "accuracy", ml.r6(hits / len(probes)), ">=", a.min_probe_accuracy)
        check("p99-latency-ms", "metric", "p99_latency_ms", ml.r6(p99), "<=", a.max_p99_latency_ms)

        # The same probes through the live routing table: does every routed request get an answer?
        routed, routed_errors = 0, 0
        for i, row in enumerate(probes):
            slot = route(routing["routes"], f"{a.deployment}:{routing['revision']}:{i}")
            if slot is None:
                continue
            routed += 1
            try:
                p = ml.predict(model_of(slot), row)
                if not math.isfinite(p):
                    raise ValueError("not finite")
            except Exception:  # noqa: BLE001
                routed_errors += 1
        check("routed-errors", "metric", "routed_error_rate", ml.r6(routed_errors / routed) if routed else 0.0, "<=", 0.0)

        if weight == a.drill_fail_at_weight:
            check("drill-fault", "metric", "injected_fault", 1, "==", 0)
        passed = all(c["passed"] for c in checks)
        self.record({"action": "health_check", "weight": weight, "passed": passed, "checks": checks})
        if passed:
            return None
        failed = "; ".join(f"{c['name']}: {c['metric']} {c['value']} not {c['op']} {c['threshold']}"
                           for c in checks if not c["passed"])
        return f"health check failed at {weight}% traffic: {failed}"

    def perform(self, serving, candidate, previous):
        """Carries out the plan; returns the reason of the first failed health check, or None."""
        a = self.args
        for action, weight in plan(a.strategy, a.weight_list):
            if action == "install":
                os.makedirs(serving.slot_dir(candidate))
                shutil.copyfile(a.model_file, os.path.join(serving.slot_dir(candidate), "model.json"))
                serving.set_status(candidate, slot=candidate, model=a.model, digest=a.model_digest, status="installed")
                self.record({"action": "install", "slot": candidate, "ok": True})
            elif action == "shift":
                routes = [{"slot": candidate, "model": a.model, "digest": a.model_digest, "weight": weight}]
                if previous and weight < 100:
                    routes.append(dict(previous, weight=100 - weight))
                table = serving.write_routing(routes, f"{a.strategy} {a.model} to {weight}%")
                self.record({"action": "shift", "weight": weight, "ok": True, "revision": table["revision"],
                             "routes": {r["slot"]: r["weight"] for r in routes}})
                time.sleep(a.bake_seconds)
            else:
                reason = self.health_check(serving, candidate, weight, serving.routing())
                if reason:
                    return reason
        return None

    def run(self):
        a = self.args
        os.makedirs(a.out, exist_ok=True)
        open(self.progress_path, "w").close()
        ml.load_model(a.model_file, a.model_digest)
        serving = Serving(a.serving_root, a.deployment)
        before = serving.routing()
        previous = next((r for r in before["routes"] if r["weight"] == 100), None)
        candidate = serving.new_slot_name()
        strategy_roles = {"blue": previous["slot"] if previous else None, "green": candidate} \
            if a.strategy == "blue-green" else {"stable": previous["slot"] if previous else None, "canary": candidate}

        try:
            reason = self.perform(serving, candidate, previous)
        except BaseException:
            # Whatever went wrong, traffic goes back to where it was before this rollout touched it.
            serving.write_routing(before["routes"], f"rollback of {a.model}: the rollout stopped on an error")
            raise

        if reason:
            serving.write_routing(before["routes"], f"rollback of {a.model}: {reason}")
            serving.set_status(candidate, status="rolled_back", reason=reason)
            outcome = "rolled_back"
        else:
            serving.set_status(candidate, status="live")
            if previous:
                serving.set_status(previous["slot"], status="retired")
            outcome = "completed"
        report = {
            "deployment": a.deployment, "strategy": a.strategy, "model": a.model, "model_digest": a.model_digest,
            "slot": candidate, "roles": strategy_roles, "plan": [list(s) for s in plan(a.strategy, a.weight_list)],
            "steps": self.steps, "outcome": outcome, "reason": reason, "routing": serving.routing(),
        }
        ml.write_json(os.path.join(a.out, "deployment.json"), report)
        print(f"deployment {a.deployment}: {outcome}" + (f" ({reason})" if reason else ""), flush=True)
        return 0 if outcome == "completed" else 3


if __name__ == "__main__":
    ml.run(lambda argv: Rollout(parse_args(argv)).run())
