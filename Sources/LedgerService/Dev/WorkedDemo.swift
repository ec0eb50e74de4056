import LedgerCore
import LedgerCrypto

/// The story `mlledger dev --demo` runs for real with the embedded workers: two data sets registered, a training run
/// in the UAE that the workers execute (model trained, digest recorded, validation gate), a canary deployment of
/// the model it produced, and a second training request that moves EU personal data to a UAE region with no
/// transfer basis, which the policies deny, so no job is ever created for it.
public enum WorkedDemo {
    public static let source = "ci://github.com/acme/fraud-model"
    public static let model = "fraud-detector"
    public static let deployment = "fraud-prod"
    public static let region = "azure:uaenorth"

    /// The run the workers execute, and the run the policies deny.
    public static func runIDs(_ tag: String) -> (allowed: String, denied: String) {
        ("run-\(tag)", "run-\(tag)-eu")
    }

    /// Registrations and the two training requests.
    public static func requests(tag: String) -> [DemoStory.Step] {
        let (allowed, denied) = runIDs(tag)
        func digest(_ s: String) -> JSONValue { .string("sha256:" + Hex.encode(SHA256.hash(Array(s.utf8)))) }
        return [
            DemoStory.Step(type: "mlops.dataset.registered", subject: "dataset/card-txns", source: source,
                           region: region, data: [
                "name": "card-txns", "version": "7", "uri": "abfss://acme-uae@lake/card-txns/7/",
                "digest": digest("card-txns@7"), "location": .string(region), "classification": "personal",
                "regimes": ["ae-pdpl"], "categories": ["financial"],
            ]),
            DemoStory.Step(type: "mlops.dataset.registered", subject: "dataset/eu-customers", source: source,
                           region: "gcp:europe-west4", data: [
                "name": "eu-customers", "version": "2", "uri": "gs://acme-eu/customers/2/",
                "digest": digest("eu-customers@2"), "location": "gcp:europe-west4", "classification": "personal",
                "regimes": ["eu-gdpr"],
            ]),
            DemoStory.Step(type: "mlops.training.requested", subject: "run/\(allowed)", source: source, region: region,
                           data: [
                "run_id": .string(allowed), "model": .string(model), "job": "train-logreg",
                "params": ["seed": 42, "epochs": 40], "inputs": ["card-txns@7"],
                "gpus": ["count": 1, "type": "nvidia-a100-80gb"], "region": .string(region),
                "validate": ["job": "validate-threshold", "params": ["gate": "pre-production"]],
            ]),
            DemoStory.Step(type: "mlops.training.requested", subject: "run/\(denied)", source: source,
                           region: "aws:me-central-1", data: [
                "run_id": .string(denied), "model": "churn", "job": "train-logreg", "params": [:],
                "inputs": ["eu-customers@2"], "gpus": ["count": 1, "type": "nvidia-a10g"],
                "region": "aws:me-central-1",
            ]),
        ]
    }

    /// The canary deployment of the model version the allowed run produced.
    public static func deploymentRequest(modelVersion: String) -> DemoStory.Step {
        DemoStory.Step(type: "mlops.deployment.requested", subject: "deployment/\(deployment)", source: source,
                       region: region, data: [
            "deployment_id": .string(deployment), "model": .string("\(model)@\(modelVersion)"),
            "environment": "production", "region": .string(region), "strategy": "canary", "job": "deploy-local",
            "params": ["weights": "10,50,100"],
        ])
    }
}
