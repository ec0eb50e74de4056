import Foundation
import LedgerCore
import LedgerService
import Testing

@Suite("OpenLineage export")
struct OpenLineageTests {
    /// A training and deployment story as producers send it.
    static let story: [(String, String, JSONObject, String?)] = [
        ("mlops.dataset.registered", "dataset/customer-txns", [
            "name": "customer-txns", "version": 3, "uri": "s3://acme-data/customer-txns/v3/", "digest": "sha256:00",
            "location": "azure:uaenorth", "classification": "personal", "regimes": ["ae-pdpl"],
        ], nil),
        ("mlops.featureset.published", "featureset/txn-velocity", [
            "name": "txn-velocity", "version": 12, "inputs": ["customer-txns@3"], "location": "azure:uaenorth",
        ], nil),
        ("mlops.training.requested", "run/r1", [
            "run_id": "0196a3f2-7c1e-7b3a-9f10-4c2d8e5a1b07", "model": "fraud-detector", "job": "train-logreg",
            "params": [:], "inputs": ["txn-velocity@12", "customer-txns@3"], "gpus": ["count": 1, "type": "a100"],
            "region": "azure:uaenorth",
        ], nil),
        ("mlops.training.started", "run/r1", ["run_id": "0196a3f2-7c1e-7b3a-9f10-4c2d8e5a1b07", "node": "n1",
                                              "region": "azure:uaenorth"], nil),
        ("mlops.training.completed", "run/r1", [
            "run_id": "0196a3f2-7c1e-7b3a-9f10-4c2d8e5a1b07",
            "outputs": [["model": "fraud-detector", "version": 7, "digest": "sha256:11", "uri": "s3://models/fraud-detector/7"]],
            "metrics": ["auc": 0.97],
        ], nil),
        ("mlops.deployment.requested", "deployment/fraud-prod", [
            "deployment_id": "fraud-prod", "model": "fraud-detector@7", "environment": "prod", "region": "azure:uaenorth",
            "strategy": "canary", "job": "deploy-local",
        ], nil),
        ("mlops.deployment.started", "deployment/fraud-prod", ["deployment_id": "fraud-prod"], nil),
        ("mlops.deployment.traffic_shifted", "deployment/fraud-prod", ["deployment_id": "fraud-prod", "weight": 10], nil),
        ("mlops.deployment.completed", "deployment/fraud-prod", ["deployment_id": "fraud-prod"], nil),
        ("mlops.training.failed", "run/r2", ["run_id": "run-2", "reason": "oom"], nil),
    ]

    static func export() throws -> [JSONObject] {
        var exporter = OpenLineageExporter(origin: "ledger.example/test")
        var out: [JSONObject] = []
        for (i, (type, subject, data, _)) in story.enumerated() {
            let attrs = CloudEvent.make(id: "e\(i)", source: "ci://acme", type: type, subject: subject,
                                        time: "2026-05-01T08:00:\(String(format: "%02d", i))+04:00", data: data,
                                        extensions: [("tenant", "fraud")])
            out += exporter.consume(idx: UInt64(i + 1), event: try CloudEvent(attributes: attrs))
        }
        return out
    }

    @Test("training runs and deployments become START/RUNNING/COMPLETE/FAIL RunEvents with their datasets")
    func mapping() throws {
        let events = try Self.export()
        #expect(events.map { $0["eventType"]?.stringValue ?? "" } == ["START", "COMPLETE", "START", "RUNNING", "COMPLETE", "FAIL"])
        for e in events {
            #expect(e["schemaURL"] == .string(OpenLineageExporter.schemaURL))
            #expect(e["producer"] == "mlledger://ledger.example/test")
            let runID = e["run"]?["runId"]?.stringValue ?? ""
            #expect(runID.count == 36 && runID.split(separator: "-").map(\.count) == [8, 4, 4, 4, 12], "\(runID)")
        }
        let start = events[0], complete = events[1]
        #expect(start["run"]?["runId"] == "0196a3f2-7c1e-7b3a-9f10-4c2d8e5a1b07")
        #expect(start["eventTime"] == "2026-05-01T08:00:03+04:00")
        #expect(start["job"] == .object(["namespace": "mlledger/fraud", "name": "train.fraud-detector"]))
        let inputs = start["inputs"]?.arrayValue ?? []
        #expect(inputs.map { "\($0["namespace"]?.stringValue ?? "") \($0["name"]?.stringValue ?? "")" } ==
                ["mlledger featureset/txn-velocity@12", "s3://acme-data customer-txns/v3"])
        #expect(inputs[1]["facets"]?["version"]?["datasetVersion"] == "3")
        #expect(complete["outputs"]?.arrayValue?.first?["namespace"] == "s3://models")
        #expect(complete["outputs"]?.arrayValue?.first?["name"] == "fraud-detector/7")
        #expect(complete["run"]?["facets"]?["mlledger"]?["idx"] == .number(JSONNumber(5)))
        // A deployment is one run: its START, RUNNING and COMPLETE share a run id; the model version is its input.
        let deployment = events[2...4].map { $0["run"]?["runId"] }
        #expect(Set(deployment.map { $0?.stringValue ?? "" }).count == 1)
        #expect(events[2]["inputs"]?.arrayValue?.first?["name"] == "fraud-detector/7")
        #expect(events[4]["outputs"]?.arrayValue?.first?["name"] == "deployment/fraud-prod")
        // A run id that is not a UUID gets a stable name-based one.
        #expect(events[5]["run"]?["runId"] == .string(OpenLineageExporter.uuid(for: "run-2")))
        #expect(OpenLineageExporter.uuid(for: "run-2") == OpenLineageExporter.uuid(for: "run-2"))
        #expect(OpenLineageExporter.uuid(for: "run-2") != OpenLineageExporter.uuid(for: "run-3"))
    }
}
