import Foundation
import LedgerCore
import LedgerStore
import LedgerTestSupport
import Testing
@testable import LedgerProjections

@Suite("Lineage on a realistic story", .serialized)
struct LineageStoryTests {
    static let digest = JSONValue.string("sha256:" + String(repeating: "a", count: 64))

    /// Two data sets, a feature set built from one, a run trained on the feature set and the other data set, the
    /// model version it produced, its validation gate, and its deployment; with unrelated traffic in between.
    static func story(_ maker: inout EntryMaker) -> [(label: String, entry: NewEntry)] {
        var out: [(String, NewEntry)] = []
        func add(_ label: String, _ type: String, _ subject: String, _ data: JSONObject) {
            out.append((label, maker.entry(type: type, subject: subject, data: data).entry))
        }
        add("txns", "mlops.dataset.registered", "dataset/customer-txns", [
            "name": "customer-txns", "version": "3", "uri": "s3://acme/txns/3/", "digest": digest,
            "location": "azure:uaenorth", "classification": "personal", "regimes": ["ae-pdpl"]])
        add("merchants", "mlops.dataset.registered", "dataset/merchant-risk", [
            "name": "merchant-risk", "version": "5", "uri": "s3://acme/merchants/5/", "digest": digest,
            "location": "azure:uaenorth", "classification": "confidential", "regimes": ["ae-cbuae"]])
        add("noise", "mlops.dataset.registered", "dataset/web-logs", [
            "name": "web-logs", "version": "1", "uri": "s3://acme/logs/1/", "digest": digest,
            "location": "aws:me-central-1", "classification": "internal", "regimes": []])
        add("features", "mlops.featureset.published", "featureset/txn-velocity", [
            "name": "txn-velocity", "version": "12", "inputs": ["customer-txns@3"], "location": "azure:uaenorth"])
        add("request", "mlops.training.requested", "run/r1", [
            "run_id": "r1", "model": "fraud-detector", "job": "train-logreg", "params": [:],
            "inputs": ["txn-velocity@12", "merchant-risk@5"], "gpus": ["count": 1, "type": "a100"],
            "region": "azure:uaenorth"])
        add("started", "mlops.training.started", "run/r1", ["run_id": "r1", "node": "gpu-1", "region": "azure:uaenorth"])
        add("completed", "mlops.training.completed", "run/r1", [
            "run_id": "r1", "metrics": ["auc": 0.97],
            "outputs": [["model": "fraud-detector", "version": "7", "digest": digest, "uri": "s3://models/fd/7"]]])
        add("registered", "mlops.model.registered", "model/fraud-detector", [
            "model": "fraud-detector@7", "run_id": "r1", "uri": "s3://models/fd/7", "digest": digest,
            "location": "azure:uaenorth"])
        add("validated", "mlops.validation.passed", "model/fraud-detector", [
            "model": "fraud-detector@7", "gate": "pre-prod",
            "checks": [["name": "auc", "kind": "metric", "metric": "auc", "value": 0.97, "op": ">=", "threshold": 0.9,
                        "passed": true]]])
        add("deploy", "mlops.deployment.requested", "deployment/fraud-prod", [
            "deployment_id": "fraud-prod", "model": "fraud-detector@7", "environment": "prod",
            "region": "azure:uaenorth", "strategy": "canary", "job": "deploy-local"])
        add("done", "mlops.deployment.completed", "deployment/fraud-prod", ["deployment_id": "fraud-prod"])
        return out
    }

    @Test("for a deployment, the full upstream chain reaches every data set, each step with its log index")
    func deploymentUpstream() throws {
        try TestDatabase.withDatabase { handle in
            let db = try projectedDatabase(handle)
            defer { db.connection.close() }
            var maker = EntryMaker()
            let story = Self.story(&maker)
            var idx: [String: Int64] = [:]
            _ = try db.withAppendTransaction { tx in
                for (label, entry) in story { idx[label] = Int64(tx.append([entry])[0]) }
            }
            struct Edge: Hashable { var from: String, to: String, relation: String, idx: Int64 }
            let rows = try db.connection.query(
                "SELECT from_id, to_id, relation, idx FROM lineage.upstream('deployment/fraud-prod', NULL)")
            let edges = rows.map { Edge(from: $0.string(0)!, to: $0.string(1)!, relation: $0.string(2)!, idx: $0.int64(3)!) }
            func step(_ from: String, _ to: String) -> Edge? { edges.first { $0.from == from && $0.to == to } }

            let nodes = Set(edges.flatMap { [$0.from, $0.to] })
            #expect(nodes.contains("dataset/customer-txns@3"), "\(nodes.sorted())")
            #expect(nodes.contains("dataset/merchant-risk@5"))
            #expect(!nodes.contains("dataset/web-logs@1"), "an unrelated data set is not upstream")
            // Each step carries the index of the entry that recorded it, which `audit prove --idx` proves.
            #expect(step("model/fraud-detector@7", "deployment/fraud-prod")?.idx == idx["deploy"])
            #expect([idx["completed"], idx["registered"]].contains(step("run/r1", "model/fraud-detector@7")?.idx))
            #expect(step("featureset/txn-velocity@12", "run/r1")?.idx == idx["request"])
            #expect(step("dataset/merchant-risk@5", "run/r1")?.idx == idx["request"])
            #expect(step("dataset/customer-txns@3", "featureset/txn-velocity@12")?.idx == idx["features"])
            let known = Set(idx.values)
            #expect(edges.allSatisfy { known.contains($0.idx) }, "every edge names an entry of the story")

            // Downstream from a data set reaches the deployment.
            let down = try db.connection.query(
                "SELECT to_id FROM lineage.downstream('dataset/customer-txns@3', NULL)").map { $0.string(0)! }
            #expect(down.contains("deployment/fraud-prod"), "\(down)")

            // Residency: the deployment carries the regimes of both data sets, each with the path that explains it.
            let carried = try db.connection.query("""
                SELECT path[array_length(path, 1)], regimes, path FROM residency.sources(ARRAY['deployment/fraud-prod'])
                """).map { ($0.string(0)!, $0.stringArray(1) ?? [], $0.stringArray(2) ?? []) }
            let txns = carried.first { $0.0 == "dataset/customer-txns@3" }
            #expect(txns?.1 == ["ae-pdpl"], "\(carried)")
            #expect(txns?.2.first == "deployment/fraud-prod" && txns?.2.contains("run/r1") == true, "\(carried)")
            #expect(carried.first { $0.0 == "dataset/merchant-risk@5" }?.1 == ["ae-cbuae"])
        }
    }
}
