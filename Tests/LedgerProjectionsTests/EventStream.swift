import Foundation
import LedgerCore
import LedgerCrypto
import LedgerStore
import LedgerTestSupport

/// Signs CloudEvents into log entries.
struct EntryMaker {
    let key = Ed25519PrivateKey.generate()
    var micros: Int64 = 1_777_600_000_000_000
    var counter = 0

    mutating func entry(type: String, subject: String, data: JSONObject, source: String = "ci://github.com/acme/ml",
                        extensions: [(String, String)] = []) -> (id: String, entry: NewEntry) {
        counter += 1
        micros += 1_000_000 * Int64(1 + counter % 7)
        let id = String(format: "evt-%06d", counter)
        let attrs = CloudEvent.make(id: id, source: source, type: type, subject: subject,
                                    time: EventTime.format(micros: micros), data: data, extensions: extensions)
        let (payload, envelope) = EnvelopeSigner(key: key).envelope(for: attrs)
        let event = try! CloudEvent.parse(payload)
        return (id, NewEntry(envelope: envelope, payload: payload, leafHash: Merkle.leafHash(envelope), event: event,
                             signerKeyIDs: [key.publicKey.keyID], kafka: nil))
    }
}

/// A random but coherent MLOps history: data sets registered and ingested, feature sets built from them, runs
/// requested, started, allocated GPUs, completed or failed, models registered, validated, promoted, deployed,
/// shifted, rolled back, drift, access grants, erasures; with some references to things never registered and
/// some events out of order, as real producers send them.
struct EventStream {
    var random: SeededRandom
    var maker = EntryMaker()
    private(set) var ids: [String] = []

    static let locations = ["azure:uaenorth", "azure:uaecentral", "aws:me-central-1", "oci:me-dubai-1",
                            "gcp:europe-west4", "aws:eu-central-1", "aws:us-east-1", "onprem:difc-dc1"]
    static let regimes = ["ae-pdpl", "ae-health", "ae-cbuae", "ae-difc", "ae-adgm", "eu-gdpr"]
    static let categories = ["health", "financial", "biometric", "children"]
    static let classifications = ["public", "internal", "confidential", "personal", "sensitive"]
    static let tenants = ["fraud-analytics", "health-ai", "default"]

    private var datasets: [String] = []      // name@version
    private var featuresets: [String] = []
    private var runs: [String] = []
    private var completedRuns: [(run: String, model: String)] = []
    private var models: [String] = []        // name@version
    private var deployments: [String] = []
    private var allocations: [(id: String, run: String)] = []
    private var grants: [(principal: String, resource: String, role: String)] = []

    init(seed: UInt64) { random = SeededRandom(seed: seed) }

    private mutating func pick<T>(_ list: [T]) -> T { list[Int(random.next() % UInt64(list.count))] }
    private mutating func chance(_ percent: UInt64) -> Bool { random.next() % 100 < percent }
    private mutating func int(_ range: ClosedRange<Int>) -> Int { Int.random(in: range, using: &random) }

    private mutating func someOf(_ list: [String], max: Int) -> [JSONValue] {
        var out: [JSONValue] = []
        for _ in 0..<int(0...max) {
            let v = JSONValue.string(pick(list))
            if !out.contains(v) { out.append(v) }
        }
        return out
    }

    private mutating func refOrUnknown(_ list: [String], unknown: String) -> String {
        list.isEmpty || chance(3) ? unknown : pick(list)
    }

    private mutating func emit(_ type: String, _ subject: String, _ data: JSONObject) -> NewEntry {
        var ext: [(String, String)] = [("tenant", pick(Self.tenants))]
        if chance(40) { ext.append(("region", pick(Self.locations))) }
        if !ids.isEmpty, chance(30) { ext.append(("causationid", pick(ids))) }
        if chance(20) { ext.append(("correlationid", "wf-\(int(1...50))")) }
        let made = maker.entry(type: type, subject: subject, data: data, extensions: ext)
        ids.append(made.id)
        return made.entry
    }

    private func digest(_ seed: Int) -> JSONValue {
        .string("sha256:" + Hex.encode(SHA256.hash(Array("\(seed)".utf8))))
    }

    mutating func next() -> NewEntry {
        let roll = int(0...99)
        switch roll {
        case 0..<12:
            let name = "ds\(int(0...14))", version = int(1...4)
            let ref = "\(name)@\(version)"
            if !datasets.contains(ref) { datasets.append(ref) }
            return emit("mlops.dataset.registered", "dataset/\(name)", [
                "name": .string(name), "version": .number(JSONNumber(version)), "uri": .string("s3://acme-data/\(name)/v\(version)/"),
                "digest": digest(roll), "location": .string(pick(Self.locations)),
                "classification": .string(pick(Self.classifications)), "regimes": .array(someOf(Self.regimes, max: 2)),
                "categories": .array(someOf(Self.categories, max: 1)),
            ])
        case 12..<17:
            let ref = refOrUnknown(datasets, unknown: "ghost@1")
            let parts = ref.split(separator: "@")
            return emit("mlops.dataset.ingested", "dataset/\(parts[0])", [
                "name": .string(String(parts[0])), "version": .number(JSONNumber(Int(parts[1])!)),
                "source_uri": "kafka://raw/txns", "records": .number(JSONNumber(int(1...1_000_000))),
                "digest": digest(roll), "location": .string(pick(Self.locations)),
            ])
        case 17..<24:
            let name = "fs\(int(0...6))", version = int(1...3)
            let ref = "\(name)@\(version)"
            if !featuresets.contains(ref) { featuresets.append(ref) }
            var inputs: [JSONValue] = []
            for _ in 0..<int(1...3) { inputs.append(.string(refOrUnknown(datasets, unknown: "missing-ds@9"))) }
            return emit("mlops.featureset.published", "featureset/\(name)", [
                "name": .string(name), "version": .number(JSONNumber(version)), "inputs": .array(inputs),
                "location": .string(pick(Self.locations)),
            ])
        case 24..<34:
            let run = "run-\(maker.counter)"
            runs.append(run)
            var inputs: [JSONValue] = []
            for _ in 0..<int(1...3) {
                inputs.append(.string(chance(50) ? refOrUnknown(datasets, unknown: "x@1") : refOrUnknown(featuresets, unknown: "y@2")))
            }
            return emit("mlops.training.requested", "run/\(run)", [
                "run_id": .string(run), "model": .string("model\(int(0...4))"), "job": "train-logreg",
                "params": ["lr": .number(JSONNumber(0.1)), "epochs": .number(JSONNumber(int(1...50)))],
                "inputs": .array(inputs), "gpus": ["count": .number(JSONNumber(int(1...4))), "type": "nvidia-a100"],
                "region": .string(pick(Self.locations)),
            ])
        case 34..<40:
            let run = refOrUnknown(runs, unknown: "run-unknown")
            return emit("mlops.training.started", "run/\(run)", [
                "run_id": .string(run), "node": .string("gpu-node-\(int(1...5))"), "region": .string(pick(Self.locations)),
            ])
        case 40..<46:
            let run = refOrUnknown(runs, unknown: "run-unknown")
            let model = "model\(int(0...4))@\(int(1...9))"
            completedRuns.append((run, model))
            let parts = model.split(separator: "@")
            return emit("mlops.training.completed", "run/\(run)", [
                "run_id": .string(run),
                "outputs": [["model": .string(String(parts[0])), "version": .number(JSONNumber(Int(parts[1])!)),
                             "digest": digest(roll), "uri": .string("s3://models/\(model)")]],
                "metrics": ["auc": .number(JSONNumber(Double(int(50...99)) / 100))],
            ])
        case 46..<48:
            let run = refOrUnknown(runs, unknown: "run-unknown")
            return emit("mlops.training.failed", "run/\(run)", ["run_id": .string(run), "reason": "oom"])
        case 48..<54:
            let run = refOrUnknown(runs, unknown: "run-unknown")
            let id = "alloc-\(maker.counter)"
            allocations.append((id, run))
            return emit("mlops.gpu.allocated", "gpu/\(id)", [
                "allocation_id": .string(id), "run_id": .string(run), "node": .string("gpu-node-\(int(1...5))"),
                "region": .string(pick(Self.locations)), "gpu_type": "nvidia-a100", "count": .number(JSONNumber(int(1...8))),
            ])
        case 54..<59:
            let a = allocations.isEmpty || chance(5) ? ("alloc-none", "run-none") : allocations.remove(at: int(0...(allocations.count - 1)))
            return emit("mlops.gpu.released", "gpu/\(a.0)", ["allocation_id": .string(a.0), "run_id": .string(a.1)])
        case 59..<66:
            let (run, model) = completedRuns.isEmpty || chance(5) ? ("run-unknown", "orphan@1") : pick(completedRuns)
            if !models.contains(model) { models.append(model) }
            return emit("mlops.model.registered", "model/\(model.split(separator: "@")[0])", [
                "model": .string(model), "run_id": .string(run), "uri": .string("s3://models/\(model)"),
                "digest": digest(roll), "location": .string(pick(Self.locations)),
            ])
        case 66..<71:
            let model = refOrUnknown(models, unknown: "nomodel@1")
            let passed = chance(70)
            return emit(passed ? "mlops.validation.passed" : "mlops.validation.failed", "model/\(model.split(separator: "@")[0])", [
                "model": .string(model), "gate": "pre-prod",
                "checks": [["name": "auc", "kind": "metric", "metric": "auc", "value": .number(JSONNumber(0.9)), "op": ">=",
                            "threshold": .number(JSONNumber(0.8)), "passed": .bool(passed)]],
            ])
        case 71..<75:
            let model = refOrUnknown(models, unknown: "nomodel@1")
            let stages = ["none", "staging", "production", "archived", "champion"]
            return emit("mlops.model.promoted", "model/\(model.split(separator: "@")[0])", [
                "model": .string(model), "from": .string(pick(stages)), "to": .string(pick(stages)),
                "evidence": ids.isEmpty ? [] : [.string(pick(ids))],
            ])
        case 75..<80:
            let id = "dep-\(int(0...9))"
            if !deployments.contains(id) { deployments.append(id) }
            return emit("mlops.deployment.requested", "deployment/\(id)", [
                "deployment_id": .string(id), "model": .string(refOrUnknown(models, unknown: "nomodel@1")),
                "environment": .string(pick(["prod", "staging"])), "region": .string(pick(Self.locations)),
                "strategy": .string(pick(["canary", "blue-green", "rolling", "direct"])), "job": "deploy-local",
            ])
        case 80..<88:
            let id = refOrUnknown(deployments, unknown: "dep-unknown")
            let kind = pick(["started", "traffic_shifted", "traffic_shifted", "completed", "rolled_back", "failed"])
            var data: JSONObject = ["deployment_id": .string(id)]
            if kind == "traffic_shifted" { data["weight"] = .number(JSONNumber(pick([10, 50, 100]))) }
            if kind == "rolled_back" || kind == "failed" { data["reason"] = "health check failed" }
            return emit("mlops.deployment.\(kind)", "deployment/\(id)", data)
        case 88..<91:
            let model = refOrUnknown(models, unknown: "nomodel@1")
            return emit("mlops.drift.detected", "model/\(model.split(separator: "@")[0])", [
                "model": .string(model), "deployment_id": .string(refOrUnknown(deployments, unknown: "dep-unknown")),
                "metric": "psi", "value": .number(JSONNumber(0.4)), "threshold": .number(JSONNumber(0.2)),
            ])
        case 91..<96:
            if !grants.isEmpty, chance(40) {
                let g = grants.remove(at: int(0...(grants.count - 1)))
                return emit("mlops.access.revoked", "access/\(g.principal)", [
                    "principal": .string(g.principal), "resource": .string(g.resource), "role": .string(g.role),
                ])
            }
            let g = (principal: "user:u\(int(0...9))", resource: "dataset/ds\(int(0...14))", role: pick(["reader", "owner", "trainer"]))
            grants.append(g)
            return emit("mlops.access.granted", "access/\(g.principal)", [
                "principal": .string(g.principal), "resource": .string(g.resource), "role": .string(g.role),
            ])
        default:
            let id = "er-\(int(0...20))"
            return emit(chance(50) ? "mlops.erasure.requested" : "mlops.erasure.completed", "erasure/\(id)", [
                "erasure_id": .string(id), "data_subject_ref": "subj-7f3a", "datasets": .array([.string(refOrUnknown(datasets, unknown: "q@1"))]),
                "legal_basis": "gdpr-art17",
            ])
        }
    }
}
