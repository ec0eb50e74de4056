"""Answers one prediction request from a local serving directory written by deploy-local, through its routing table:

  python3 serve_local.py --serving-root DIR --deployment NAME --request-id ID amount=1.2 velocity=3 ...

Prints {"slot", "model", "probability"} as JSON; a feature left out is 0. Exit status 1 when no slot takes the request.
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mlcommon as ml  # noqa: E402
from deploy_local import NAME, route  # noqa: E402


def main(argv):
    p = argparse.ArgumentParser(prog="serve_local.py", description=__doc__.splitlines()[0])
    p.add_argument("--serving-root", required=True)
    p.add_argument("--deployment", required=True)
    p.add_argument("--request-id", required=True)
    p.add_argument("features", nargs="*", help="NAME=VALUE")
    args = p.parse_args(argv)
    if not NAME.match(args.deployment):
        p.error("--deployment is one path component")
    row = {f: 0.0 for f in ml.FEATURES}
    for item in args.features:
        name, _, value = item.partition("=")
        if name not in row:
            p.error(f"unknown feature {name}")
        row[name] = float(value)
    directory = os.path.join(args.serving_root, args.deployment)
    with open(os.path.join(directory, "routing.json"), encoding="utf-8") as f:
        routing = json.load(f)
    slot = route(routing["routes"], args.request_id)
    if slot is None:
        ml.fail("no slot takes this request")
    entry = next(r for r in routing["routes"] if r["slot"] == slot)
    model = ml.load_model(os.path.join(directory, "slots", slot, "model.json"), entry["digest"])
    print(json.dumps({"slot": slot, "model": entry["model"], "probability": ml.r6(ml.predict(model, row))}))
    return 0


if __name__ == "__main__":
    ml.run(main)
