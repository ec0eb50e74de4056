"""k8s-train and k8s-deploy: render Kubernetes manifests from checked parameters and, with --mode apply, apply them
with kubectl and wait for the outcome.

  k8s_render.py job      a batch/v1 Job that trains on GPU nodes of one location
  k8s_render.py rollout  an Argo Rollouts Rollout (canary steps with setWeight + analysis, or blueGreen with pre- and
                         post-promotion analysis), its AnalysisTemplate and Services

Every string is written as a double-quoted YAML scalar (JSON string syntax), so no value can change the document's
structure. Nodes are selected by the label mlledger.dev/location=<provider>.<region> (a label value cannot hold `:`),
which the cluster's nodes must carry for the residency decision to hold.

Writes --out/<manifest>.yaml and --out/render.json ({"files": [{"file", "digest"}], "applied": bool}).
Exit status: 0 rendered (and applied and finished), 1 error (kubectl missing or failed), 2 bad arguments.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mlcommon as ml  # noqa: E402

PLAIN_KEY = re.compile(r"^[A-Za-z0-9_./-]+$")
DNS_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
LOCATION = re.compile(r"^(aws|azure|gcp|oci|alibaba|onprem):([a-z0-9][a-z0-9-]*)$")


def to_yaml(value, indent=0):
    """Block-style YAML for dicts, lists, strings, numbers and booleans; strings always double-quoted."""
    pad = "  " * indent
    if isinstance(value, dict):
        if not value:
            return "{}\n"
        out = []
        for k, v in value.items():
            key = k if PLAIN_KEY.match(k) else json.dumps(k)
            if isinstance(v, (dict, list)) and v:
                out.append(f"{pad}{key}:\n{to_yaml(v, indent + 1)}")
            else:
                out.append(f"{pad}{key}: {to_yaml(v, indent + 1)}")
        return "".join(out)
    if isinstance(value, list):
        if not value:
            return "[]\n"
        out = []
        for item in value:
            text = to_yaml(item, indent + 1)
            if isinstance(item, (dict, list)) and item:
                # The first line of the item goes after the dash.
                out.append(f"{pad}- {text[len(pad) + 2:]}")
            else:
                out.append(f"{pad}- {text}")
        return "".join(out)
    if isinstance(value, bool):
        return ("true" if value else "false") + "\n"
    if isinstance(value, (int, float)):
        return json.dumps(value) + "\n"
    if value is None:
        return "null\n"
    return json.dumps(str(value), ensure_ascii=False) + "\n"


def documents(docs):
    return "".join("---\n" + to_yaml(d) for d in docs)


def location_label(location):
    m = LOCATION.match(location)
    if not m:
        raise ml.JobError("location is provider:region")
    return f"{m.group(1)}.{m.group(2)}"


def job_manifest(a):
    labels = {"app.kubernetes.io/managed-by": "mlledger", "mlledger.dev/run": a.run, "mlledger.dev/model": a.model}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": f"train-{a.run}",
            "namespace": a.namespace,
            "labels": labels,
            "annotations": {"mlledger.dev/location": a.location, "mlledger.dev/dataset": a.dataset},
        },
        "spec": {
            "backoffLimit": 0,
            "activeDeadlineSeconds": a.deadline_seconds,
            "ttlSecondsAfterFinished": 86400,
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "restartPolicy": "Never",
                    "nodeSelector": {"mlledger.dev/location": location_label(a.location),
                                     "nvidia.com/gpu.product": a.gpu_type},
                    "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
                    "containers": [{
                        "name": "trainer",
                        "image": a.image,
                        "args": ["--model", a.model, "--dataset", a.dataset, "--epochs", str(a.epochs),
                                 "--learning-rate", a.learning_rate, "--output", a.output_uri],
                        "env": [{"name": "MLLEDGER_RUN_ID", "value": a.run}],
                        "resources": {"limits": {"nvidia.com/gpu": a.gpu_count},
                                      "requests": {"cpu": "4", "memory": "16Gi"}},
                    }],
                },
            },
        },
    }


def rollout_manifests(a):
    name = a.deployment
    labels = {"app.kubernetes.io/name": name, "app.kubernetes.io/managed-by": "mlledger"}
    health = f"{name}-health"
    if a.strategy == "canary":
        weights = [int(w) for w in a.weights.split(",")]
        steps = []
        for w in weights:
            steps += [{"setWeight": w}, {"analysis": {"templates": [{"templateName": health}]}}]
        strategy = {"canary": {"canaryService": f"{name}-canary", "stableService": f"{name}-stable", "steps": steps}}
        services = [f"{name}-canary", f"{name}-stable"]
        probe_service = f"{name}-canary"
    else:
        strategy = {"blueGreen": {
            "activeService": f"{name}-active",
            "previewService": f"{name}-preview",
            "autoPromotionEnabled": True,
            "prePromotionAnalysis": {"templates": [{"templateName": health}]},
            "postPromotionAnalysis": {"templates": [{"templateName": health}]},
        }}
        services = [f"{name}-active", f"{name}-preview"]
        probe_service = f"{name}-preview"
    rollout = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": name, "namespace": a.namespace, "labels": labels,
                     "annotations": {"mlledger.dev/model": a.model, "mlledger.dev/model-digest": a.model_digest,
                                     "mlledger.dev/location": a.location}},
        "spec": {
            "replicas": a.replicas,
            "selector": {"matchLabels": {"app.kubernetes.io/name": name}},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "nodeSelector": {"mlledger.dev/location": location_label(a.location)},
                    "containers": [{
                        "name": "server",
                        "image": a.image,
                        "env": [{"name": "MODEL_URI", "value": a.model_uri},
                                {"name": "MODEL_DIGEST", "value": a.model_digest}],
                        "ports": [{"name": "http", "containerPort": 8080}],
                        "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080}},
                    }],
                },
            },
            "strategy": strategy,
        },
    }
    analysis = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "AnalysisTemplate",
        "metadata": {"name": health, "namespace": a.namespace, "labels": labels},
        "spec": {"metrics": [{
            "name": "health",
            "interval": "10s",
            "count": 3,
            "failureLimit": 0,
            "successCondition": "result == 'ok'",
            "provider": {"web": {"url": f"http://{probe_service}.{a.namespace}.svc:8080/healthz",
                                 "jsonPath": "{$.status}"}},
        }]},
    }
    service_docs = [{
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": s, "namespace": a.namespace, "labels": labels},
        "spec": {"selector": {"app.kubernetes.io/name": name}, "ports": [{"name": "http", "port": 8080,
                                                                          "targetPort": "http"}]},
    } for s in services]
    return [rollout, analysis] + service_docs


def kubectl(args, timeout):
    binary = shutil.which("kubectl")
    if not binary:
        raise ml.JobError("kubectl is not on PATH (use mode render to only write the manifests)")
    print("kubectl " + " ".join(args), flush=True)
    done = subprocess.run([binary] + args, timeout=timeout, stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        raise ml.JobError(f"kubectl {args[0]} failed with status {done.returncode}")


def parse_args(argv):
    p = argparse.ArgumentParser(prog="k8s_render.py", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="what", required=True)
    for name in ("job", "rollout"):
        s = sub.add_parser(name)
        s.add_argument("--namespace", required=True)
        s.add_argument("--image", required=True)
        s.add_argument("--location", required=True)
        s.add_argument("--mode", choices=["render", "apply"], default="apply")
        s.add_argument("--out", required=True)
        s.add_argument("--model", required=True)
    j = sub.choices["job"]
    j.add_argument("--run", required=True)
    j.add_argument("--dataset", required=True)
    j.add_argument("--gpu-count", type=int, required=True)
    j.add_argument("--gpu-type", required=True)
    j.add_argument("--epochs", type=int, default=10)
    j.add_argument("--learning-rate", default="0.1")
    j.add_argument("--output-uri", required=True)
    j.add_argument("--deadline-seconds", type=int, default=14400)
    r = sub.choices["rollout"]
    r.add_argument("--deployment", required=True)
    r.add_argument("--model-uri", required=True)
    r.add_argument("--model-digest", required=True)
    r.add_argument("--strategy", choices=["canary", "blue-green"], required=True)
    r.add_argument("--weights", default="10,50,100")
    r.add_argument("--replicas", type=int, default=2)
    r.add_argument("--wait-seconds", type=int, default=1800)
    a = p.parse_args(argv)
    name = a.run if a.what == "job" else a.deployment
    if not DNS_LABEL.match(a.namespace) or not DNS_LABEL.match(name):
        p.error("namespace and the run or deployment name are DNS labels (lowercase letters, digits, -)")
    return a


def main(argv):
    a = parse_args(argv)
    os.makedirs(a.out, exist_ok=True)
    if a.what == "job":
        file, docs = "job.yaml", [job_manifest(a)]
    else:
        file, docs = "rollout.yaml", rollout_manifests(a)
    path = os.path.join(a.out, file)
    ml.write_file(path, documents(docs).encode("utf-8"))
    summary = {"files": [{"file": file, "digest": ml.file_digest(path)}], "applied": False}
    print(f"rendered {file} {summary['files'][0]['digest']}", flush=True)
    if a.mode == "apply":
        kubectl(["apply", "-f", path], timeout=300)
        if a.what == "job":
            kubectl(["wait", "--for=condition=complete", f"--timeout={a.deadline_seconds}s", "-n", a.namespace,
                     f"job/train-{a.run}"], timeout=a.deadline_seconds + 60)
        else:
            kubectl(["argo", "rollouts", "status", a.deployment, "-n", a.namespace, "--timeout",
                     f"{a.wait_seconds}s"], timeout=a.wait_seconds + 60)
        summary["applied"] = True
    ml.write_json(os.path.join(a.out, "render.json"), summary)
    return 0


if __name__ == "__main__":
    ml.run(main)
