import Foundation
import LedgerCore
import LedgerCrypto
import LedgerKafka
import LedgerPolicy
import LedgerService
import LedgerWorkers
import Testing

@Suite("Policy decisions in the append transaction", .serialized)
struct PolicyDecisionTests {
    static let digest = JSONValue.string("sha256:" + String(repeating: "8", count: 64))

    static func training(_ run: String, inputs: [String], region: String, transfer: JSONObject? = nil)
        -> (String, String, JSONObject)
    {
        var data: JSONObject = ["run_id": .string(run), "model": "readmission", "job": "train-logreg", "params": [:],
                                "inputs": .array(inputs.map(JSONValue.string)), "gpus": ["count": 1, "type": "a100"],
                                "region": .string(region)]
        if let transfer { data["transfer"] = .object(transfer) }
        return ("mlops.training.requested", "run/" + run, data)
    }

    /// The story: EU personal data trained in the UAE with and without a transfer basis; UAE health data
    /// trained in the UAE and in Dammam; a model trained on UAE health data deployed to Frankfurt.
    static let story: [(String, String, JSONObject)] = [
        ("mlops.dataset.registered", "dataset/customer-txns", [
            "name": "customer-txns", "version": "3", "uri": "gs://acme-eu/txns/3/", "digest": digest,
            "location": "gcp:europe-west4", "classification": "personal", "regimes": ["eu-gdpr"],
        ]),
        training("r-gdpr-none", inputs: ["customer-txns@3"], region: "aws:me-central-1"),
        training("r-gdpr-scc", inputs: ["customer-txns@3"], region: "aws:me-central-1",
                 transfer: ["basis": "scc", "evidence": "SCC module 1, contract C-2026-014", "tia": "TIA-2026-014"]),
        ("mlops.dataset.registered", "dataset/patient-visits", [
            "name": "patient-visits", "version": "4", "uri": "abfss://health@lake/visits/4/", "digest": digest,
            "location": "azure:uaenorth", "classification": "sensitive", "regimes": ["ae-health"], "categories": ["health"],
        ]),
        training("r-h-uae", inputs: ["patient-visits@4"], region: "azure:uaenorth"),
        training("r-h-dammam", inputs: ["patient-visits@4"], region: "gcp:me-central2"),
        ("mlops.training.started", "run/r-h-uae", ["run_id": "r-h-uae", "node": "gpu-1", "region": "azure:uaenorth"]),
        ("mlops.training.completed", "run/r-h-uae", [
            "run_id": "r-h-uae", "metrics": ["auc": 0.91],
            "outputs": [["model": "readmission", "version": "1", "digest": digest, "uri": "abfss://models@lake/readmission/1"]],
        ]),
        ("mlops.model.registered", "model/readmission", [
            "model": "readmission@1", "run_id": "r-h-uae", "uri": "abfss://models@lake/readmission/1", "digest": digest,
            "location": "azure:uaenorth",
        ]),
        ("mlops.validation.passed", "model/readmission", [
            "model": "readmission@1", "gate": "pre-production",
            "checks": [["name": "auc-floor", "kind": "metric", "metric": "auc", "value": 0.91, "op": ">=",
                        "threshold": 0.75, "passed": true]],
        ]),
        ("mlops.deployment.requested", "deployment/readmission-eu", [
            "deployment_id": "readmission-eu", "model": "readmission@1", "environment": "prod",
            "region": "aws:eu-central-1", "strategy": "canary", "job": "deploy-local",
        ]),
        ("mlops.access.granted", "access/user:a", ["principal": "user:a", "resource": "dataset/patient-visits",
                                                   "role": "reader"]),
    ]

    @Test("placements are decided against what they carry, through lineage; each decision is a signed entry")
    func decisionsThroughThePipeline() throws {
        let f = try LedgerFixture(partitions: 1)
        defer { f.close() }
        let key = try f.trustedProducer()
        let producer = try KafkaProducer(bootstrapServers: f.cluster.bootstrapServers)
        defer { producer.close() }
        let base = try f.size()
        for (type, subject, data) in Self.story {
            _ = try producer.send(topic: f.topic, key: Array(subject.utf8),
                                  value: signedEvent(key, type: type, subject: subject, data: data))
        }
        let stop = f.start(f.service(decisions: true))
        // The policy activation, 12 events, and a decision for each of the 9 placements.
        let done = try f.wait { try f.size() == base + 22 }
        stop()
        #expect(done, "\(f.state)")

        let rows = try f.db.connection.query("""
            SELECT idx, type, subject, envelope, leaf_hash FROM ledger.entries WHERE idx >= $1 ORDER BY idx
            """, [.int64(Int64(base))])
        var eventAt: [String: (idx: Int64, leaf: [UInt8])] = [:]
        var decisions: [JSONObject] = []
        var activations: [JSONObject] = []
        for r in rows {
            let env = try DSSEEnvelope.parse(r.bytes(3)!)
            let event = try CloudEvent.parse(env.payload)
            switch r.string(1) {
            case PolicyDecider.decisionType?:
                #expect(event.source == f.identity.source)
                #expect(env.signatures.map(\.keyID) == [f.identity.key.publicKey.keyID])
                decisions.append(event.data)
            case PolicyDecider.activatedType?:
                activations.append(event.data)
            default:
                eventAt[event.subject + " " + event.type] = (r.int64(0)!, r.bytes(4)!)
            }
        }
        let revision = try PolicySet.shipped().revision
        #expect(activations.count == 1 && activations.first?["policy_revision"] == .string(revision))
        func decision(_ subject: String, _ type: String) -> JSONObject? {
            guard let at = eventAt[subject + " " + type] else { return nil }
            let d = decisions.first { $0["entry_idx"]?.numberValue?.int64Value == at.idx }
            #expect(d?["entry_leaf_hash"] == .string(Hex.encode(at.leaf)), "\(subject): the decision names the entry's hash")
            return d
        }
        func rules(_ d: JSONObject?) -> [String] { d?["rules"]?.arrayValue?.compactMap { $0["id"]?.stringValue } ?? [] }

        #expect(decisions.count == 9)
        #expect(decisions.allSatisfy { $0["policy_revision"] == .string(revision) })

        let noBasis = decision("run/r-gdpr-none", "mlops.training.requested")
        #expect(noBasis?["effect"] == "deny")
        #expect(rules(noBasis) == ["gdpr-transfer-without-basis"])
        let citation = noBasis?["rules"]?.arrayValue?.first?["citation"]
        #expect(citation?["article"]?.stringValue?.contains("Art. 44") == true, "\(String(describing: citation))")
        #expect(citation?["article"]?.stringValue?.contains("46") == true)
        #expect(decision("run/r-gdpr-scc", "mlops.training.requested")?["effect"] == "allow")

        #expect(decision("run/r-h-uae", "mlops.training.requested")?["effect"] == "allow")
        let dammam = decision("run/r-h-dammam", "mlops.training.requested")
        #expect(dammam?["effect"] == "deny")
        #expect(rules(dammam) == ["health-data-outside-uae"])
        #expect(dammam?["target"]?["location"]?["country"] == "SA", "Dammam is in Saudi Arabia")
        #expect(decision("run/r-h-uae", "mlops.training.started")?["effect"] == "allow")
        #expect(decision("model/readmission", "mlops.model.registered")?["effect"] == "allow")

        // Denied through inheritance: the deployment names only its model; the lineage explains the regime.
        let eu = decision("deployment/readmission-eu", "mlops.deployment.requested")
        #expect(eu?["effect"] == "deny")
        #expect(rules(eu) == ["health-data-outside-uae"])
        let lineage = eu?["rules"]?.arrayValue?.first?["lineage"]?.arrayValue?.compactMap(\.stringValue) ?? []
        #expect(lineage.first == "model/readmission@1" && lineage.last == "dataset/patient-visits@4",
                "the lineage path: \(lineage)")
        #expect(eu?["violation"] == false)

        #expect(decision("dataset/customer-txns", "mlops.dataset.registered")?["effect"] == "allow")
        #expect(eventAt["access/user:a mlops.access.granted"] != nil)
        #expect(!decisions.contains { $0["event_type"] == "mlops.access.granted" })

        // Allowed requests became jobs in the transaction that decided them; denied ones never did.
        let jobs = try JobQueue.list(on: f.db.connection)
        #expect(Set(jobs.map(\.subject)) == ["run/r-gdpr-scc", "run/r-h-uae"], "\(jobs.map(\.subject))")
        #expect(jobs.allSatisfy { $0.state == .queued && $0.template == "train-logreg" && $0.kind == .training })
        let scc = try #require(jobs.first { $0.subject == "run/r-gdpr-scc" })
        #expect(scc.requestIdx == UInt64(eventAt["run/r-gdpr-scc mlops.training.requested"]?.idx ?? -1))
        #expect(scc.data["transfer"]?["basis"] == "scc")

        // `policy explain` decides a new request against the ledger's state, and shows the lineage path.
        let request = f.directory + "/deploy-eu.json"
        try Data(signedPayload(type: "mlops.deployment.requested", subject: "deployment/readmission-eu2", data: [
            "deployment_id": "readmission-eu2", "model": "readmission@1", "environment": "prod",
            "region": "aws:eu-central-1", "strategy": "canary", "job": "deploy-local",
        ])).write(to: URL(fileURLWithPath: request))
        let explained = try runProcess(mlledgerBinary, ["policy", "explain", "--event", request,
                                                        "--dir", repositoryRoot + "/policies", "--database-url", f.database.url])
        #expect(explained.status == 0, "\(explained.stderr)")
        #expect(explained.stdout.hasPrefix("DENY"), "\(explained.stdout)")
        #expect(explained.stdout.contains("health-data-outside-uae"))
        #expect(explained.stdout.contains("inherited via model/readmission@1 → run/r-h-uae → dataset/patient-visits@4"),
                "\(explained.stdout)")

        let report = try AuditVerifier().verify(f.db)
        #expect(report.ok, "\(report.failures.prefix(3))")
    }

    /// The CloudEvent JSON of a request, as a producer would sign it.
    func signedPayload(type: String, subject: String, data: JSONObject) -> [UInt8] {
        JSONValue.object(CloudEvent.make(id: EventIDs.uuidV7(), source: "ci://github.com/acme/health", type: type,
                                         subject: subject, time: EventTime.format(micros: LedgerIdentity.nowMicros()),
                                         data: data)).serialized()
    }
}
