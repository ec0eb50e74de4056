import LedgerCore
import LedgerCrypto

/// A short, realistic MLOps story for `mlledger dev --demo`: a data set registered, a training run requested,
/// started and completed, a validation gate passed, a model registered and a deployment requested.
public enum DemoStory {
    public static let producerName = "demo-producer"
    public static let sources = ["ci://github.com/acme/*", "cluster://*"]

    public struct Step: Sendable {
        public var type: String
        public var subject: String
        public var source: String
        public var region: String?
        public var data: JSONObject
    }

    /// What the story names: the data set (name, version), the model and the deployment. The demo uses one of
    /// each; benchmarks vary them so that the lineage graph has the shape of a fleet's.
    public struct Names: Sendable {
        public var dataset = "customer-txns"
        public var datasetVersion = "3"
        public var model = "fraud-detector"
        public var deployment = "fraud-prod"
        public init() {}
        public static let demo = Names()
    }

    /// The story's events; `run` makes ids unique so the demo can be run again on the same ledger.
    public static func steps(run: String, names: Names = .demo) -> [Step] {
        let ci = "ci://github.com/acme/fraud-model"
        let cluster = "cluster://k8s-uae-1/trainer"
        let dataset = names.dataset, dsVersion = names.datasetVersion, model = names.model
        let datasetRef = "\(dataset)@\(dsVersion)"
        let datasetDigest = "sha256:" + Hex.encode(SHA256.hash(Array(datasetRef.utf8)))
        let modelDigest = "sha256:" + Hex.encode(SHA256.hash(Array("\(model)@\(run)".utf8)))
        let runID = "run-\(run)"
        return [
            Step(type: "mlops.dataset.registered", subject: "dataset/\(dataset)", source: ci, region: "azure:uaenorth",
                 data: ["name": .string(dataset), "version": .string(dsVersion),
                        "uri": .string("s3://acme-uae/datasets/\(dataset)/v\(dsVersion)"),
                        "digest": .string(datasetDigest), "location": "azure:uaenorth", "classification": "personal",
                        "regimes": ["ae-pdpl"], "categories": ["financial"]]),
            Step(type: "mlops.training.requested", subject: "run/\(runID)", source: ci, region: "azure:uaenorth",
                 data: ["run_id": .string(runID), "model": .string(model), "job": "train-logreg",
                        "params": ["learning_rate": 0.1, "epochs": 20], "inputs": [.string(datasetRef)],
                        "gpus": ["count": 1, "type": "a100"], "region": "azure:uaenorth"]),
            Step(type: "mlops.training.started", subject: "run/\(runID)", source: cluster, region: "azure:uaenorth",
                 data: ["run_id": .string(runID), "node": "gpu-uae-01", "region": "azure:uaenorth"]),
            Step(type: "mlops.training.completed", subject: "run/\(runID)", source: cluster, region: "azure:uaenorth",
                 data: ["run_id": .string(runID),
                        "outputs": [["model": .string(model), "version": .string(run), "digest": .string(modelDigest),
                                     "uri": .string("s3://acme-uae/models/\(model)/\(run)")]],
                        "metrics": ["auc": 0.934, "precision": 0.88, "recall": 0.81]]),
            Step(type: "mlops.validation.passed", subject: "model/\(model)", source: ci, region: "azure:uaenorth",
                 data: ["model": .string("\(model)@\(run)"), "gate": "pre-production",
                        "checks": [["name": "auc", "kind": "metric", "metric": "auc", "value": 0.934, "op": ">=",
                                    "threshold": 0.9, "passed": true],
                                   ["name": "demographic-parity", "kind": "bias", "metric": "dp_difference",
                                    "value": 0.03, "op": "<=", "threshold": 0.05, "passed": true]]]),
            Step(type: "mlops.model.registered", subject: "model/\(model)", source: ci, region: "azure:uaenorth",
                 data: ["model": .string("\(model)@\(run)"), "run_id": .string(runID),
                        "uri": .string("s3://acme-uae/models/\(model)/\(run)"), "digest": .string(modelDigest),
                        "location": "azure:uaenorth"]),
            Step(type: "mlops.deployment.requested", subject: "deployment/\(names.deployment)", source: ci, region: "azure:uaenorth",
                 data: ["deployment_id": .string(names.deployment), "model": .string("\(model)@\(run)"),
                        "environment": "production", "region": "azure:uaenorth", "strategy": "canary",
                        "job": "deploy-local"]),
        ]
    }

    /// The signed envelope of a step, with its CloudEvent id.
    public static func envelope(_ step: Step, id: String, time: String, signer: EnvelopeSigner) -> [UInt8] {
        var ext: [(String, String)] = [("actor", "demo")]
        if let r = step.region { ext.append(("region", r)) }
        let attributes = CloudEvent.make(id: id, source: step.source, type: step.type, subject: step.subject, time: time,
                                         data: step.data, extensions: ext)
        return signer.envelope(for: attributes).envelope
    }
}
