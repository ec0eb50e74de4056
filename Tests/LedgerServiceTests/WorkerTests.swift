import Foundation
import LedgerCore
import LedgerCrypto
import LedgerKafka
import LedgerPolicy
import LedgerService
import LedgerStore
import LedgerWorkers
import Testing

/// The embedded workers through the whole pipeline: requests from Kafka, decided, turned into jobs, run by the
/// shipped templates, and reported by signed events that come back through ingest.
@Suite("Embedded workers", .serialized)
struct WorkerTests {
    static let a100 = "nvidia-a100-80gb"
    /// One A100 in the UAE, eight in the Netherlands.
    static let cluster = ClusterInventory(nodes: [
        GPUNode(id: "uae-1", location: "azure:uaenorth", gpuType: a100, gpuCount: 1),
        GPUNode(id: "eu-1", location: "gcp:europe-west4", gpuType: a100, gpuCount: 8),
    ])
    static let digest = JSONValue.string("sha256:" + String(repeating: "5", count: 64))

    /// A ledger deciding policies, a producer, and workers running the shipped templates.
    final class Bench {
        let f: LedgerFixture
        let producer: KafkaProducer
        let key: Ed25519PrivateKey
        let stopIngest: @Sendable () -> Void
        var pool: WorkerPool?

        init(workers: Int = 2, lease: Duration = .seconds(30)) throws {
            f = try LedgerFixture(partitions: 1)
            key = try f.trustedProducer()
            producer = try KafkaProducer(bootstrapServers: f.cluster.bootstrapServers)
            stopIngest = f.start(f.service(decisions: true))
            if workers > 0 { pool = try startWorkers(workers, lease: lease) }
        }

        var servingRoot: String { f.directory + "/serving" }

        func startWorkers(_ count: Int, lease: Duration) throws -> WorkerPool {
            let workerKey = Ed25519PrivateKey.generate()
            try WorkerPool.ensureTrusted(workerKey.publicKey, identity: f.identity, in: f.db)
            for dir in [f.directory + "/jobs", servingRoot] {
                try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            }
            let config = WorkerConfiguration(
                count: count, databaseURL: f.database.url, bootstrapServers: f.cluster.bootstrapServers,
                topic: f.topic, templates: try TemplateLoader.loadDirectory(repositoryRoot + "/ops/jobs"),
                cluster: WorkerTests.cluster, policies: try PolicySet.shipped(),
                scriptsDirectory: repositoryRoot + "/ops/jobs/bin", jobsRoot: f.directory + "/jobs",
                servingRoot: servingRoot, key: workerKey, name: "test-worker", lease: lease,
                poll: .milliseconds(100))
            let pool = WorkerPool(configuration: config, logger: f.logger)
            pool.start()
            return pool
        }


        func send(_ type: String, _ subject: String, _ data: JSONObject) throws {
            _ = try producer.send(topic: f.topic, key: Array(subject.utf8),
                                  value: signedEvent(key, type: type, subject: subject, data: data))
        }

        /// Waits for an entry of `type` about `subject`; its data.
        @discardableResult
        func waitForEntry(_ type: String, _ subject: String, seconds: Double = 90) throws -> JSONObject? {
            var found: JSONObject?
            _ = try f.wait(seconds: seconds) {
                found = try entries(type, subject).last
                return found != nil
            }
            return found
        }

        func entries(_ type: String, _ subject: String? = nil) throws -> [JSONObject] {
            try f.db.connection.query("""
                SELECT envelope FROM ledger.entries WHERE type = $1 AND ($2::text IS NULL OR subject = $2) ORDER BY idx
                """, [.text(type), .text(subject)]).map {
                try CloudEvent.parse(DSSEEnvelope.parse($0.bytes(0)!).payload).data
            }
        }

        func job(_ subject: String) throws -> Job? { try JobQueue.list(subject: subject, on: f.db.connection).first }

        func close() {
            pool?.stop()
            stopIngest()
            producer.close()
            f.close()
        }

        func registerData(_ name: String, location: String, classification: String = "confidential",
                          regimes: [String] = [], categories: [String] = []) throws {
            try send("mlops.dataset.registered", "dataset/\(name)", [
                "name": .string(name), "version": "1", "uri": .string("s3://data/\(name)/1"), "digest": digest,
                "location": .string(location), "classification": .string(classification),
                "regimes": .array(regimes.map(JSONValue.string)), "categories": .array(categories.map(JSONValue.string)),
            ])
            #expect(try waitForEntry("ledger.policy.decision", "dataset/\(name)") != nil)
        }

        func requestTraining(_ run: String, model: String, input: String, region: String, validate: Bool = false,
                             params: JSONObject = [:], version: String? = nil) throws {
            var data: JSONObject = [
                "run_id": .string(run), "model": .string(model), "job": "train-logreg", "params": .object(params),
                "inputs": [.string(input + "@1")], "gpus": ["count": 1, "type": .string(a100)],
                "region": .string(region),
            ]
            if let version { data["version"] = .string(version) }
            if validate { data["validate"] = ["job": "validate-threshold"] }
            try send("mlops.training.requested", "run/\(run)", data)
        }

        func requestDeployment(_ id: String, model: String, params: JSONObject = [:], onDrift: String? = nil) throws {
            var data: JSONObject = [
                "deployment_id": .string(id), "model": .string(model), "environment": "production",
                "region": "azure:uaenorth", "strategy": "canary", "job": "deploy-local", "params": .object(params),
            ]
            if let onDrift { data["on_drift"] = .string(onDrift) }
            try send("mlops.deployment.requested", "deployment/\(id)", data)
        }

        /// Trains `model@version` on card-txns and waits for its passed gate.
        func validatedModel(_ run: String, version: String) throws {
            try requestTraining(run, model: "fraud", input: "card-txns", region: "azure:uaenorth", validate: true,
                                version: version)
            _ = try f.wait(seconds: 90) {
                try entries("mlops.validation.passed", "model/fraud").contains { $0["model"] == .string("fraud@" + version) }
            }
        }

        /// fraud@1 trained on card-txns and validated by a worker, which then stops: no worker runs after this.
        func validatedModelWithoutWorkers() throws {
            pool = try startWorkers(1, lease: .seconds(3))
            try registerData("card-txns", location: "azure:uaenorth")
            try validatedModel("r1", version: "1")
            pool?.stop()
            pool = nil
        }

        func routing(_ deployment: String) throws -> JSONValue {
            try JSONParser.parse(Array(try Data(contentsOf: URL(fileURLWithPath:
                servingRoot + "/\(deployment)/routing.json"))))
        }
    }

    @Test("a canary whose health check fails at 50 % rolls back and records why")
    func canaryRollsBack() throws {
        let b = try Bench()
        defer { b.close() }
        try b.registerData("card-txns", location: "azure:uaenorth")
        try b.requestTraining("r1", model: "fraud", input: "card-txns", region: "azure:uaenorth", validate: true,
                              version: "1")
        let state = String(describing: try b.job("run/r1"))
        let completed = try #require(try b.waitForEntry("mlops.training.completed", "run/r1"), "\(state)")
        let model = try #require(completed["outputs"]?.arrayValue?.first)
        #expect(model["model"] == "fraud" && model["version"] == "1")
        let registered = try #require(try b.waitForEntry("mlops.model.registered", "model/fraud"))
        #expect(registered["digest"] == model["digest"], "the digest the worker computed is the one in the log")
        #expect(try b.waitForEntry("mlops.validation.passed", "model/fraud")?["model"] == "fraud@1")
        let run = try #require(try b.job("run/r1"))
        #expect(run.state == .succeeded && run.node == "uae-1")
        #expect(run.logDigest?.hasPrefix("sha256:") == true)
        #expect(completed["log_digest"] == run.logDigest.map(JSONValue.string), "the log names the job's output")

        try b.requestDeployment("fraud-prod", model: "fraud@1", params: ["drill_fail_at_weight": 50])
        let rolledBack = try #require(try b.waitForEntry("mlops.deployment.rolled_back", "deployment/fraud-prod"))
        #expect(rolledBack["at_weight"] == 50)
        let reason = rolledBack["reason"]?.stringValue ?? ""
        #expect(reason.contains("drill-fault"), "\(rolledBack)")
        let shifted = try b.entries("mlops.deployment.traffic_shifted", "deployment/fraud-prod")
        #expect(shifted.compactMap { $0["weight"]?.numberValue?.int64Value } == [10, 50])
        #expect(try b.entries("mlops.deployment.completed", "deployment/fraud-prod").isEmpty)
        let deployment = try #require(try b.job("deployment/fraud-prod"))
        #expect(deployment.state == .rolledBack && deployment.reason?.contains("drill-fault") == true)
        // `query deployments` and `query runs` show the jobs' states.
        for (view, key, id, state) in [("deployments", "deployment_id", "fraud-prod", "rolled_back"),
                                       ("runs", "run_id", "r1", "succeeded")] {
            let out = try runProcess(mlledgerBinary, ["query", view, "--format", "json", "--database-url",
                                                      b.f.database.url])
            let row = try JSONParser.parse(out.stdout).arrayValue?.first { $0[key] == .string(id) }
            #expect(row?["job_state"] == .string(state), "\(view): \(out.stdout.prefix(400)) \(out.stderr)")
        }

        // The routing table went back to no traffic on the new model.
        let routes = try b.routing("fraud-prod")["routes"]?.arrayValue ?? []
        #expect(!routes.contains { $0["model"] == "fraud@1" && ($0["weight"]?.numberValue?.int64Value ?? 0) > 0 })

        // A model version with no passed gate is denied by the decision, so no job ever runs it.
        try b.requestTraining("r2", model: "fraud", input: "card-txns", region: "azure:uaenorth", version: "2")
        _ = try b.f.wait(seconds: 60) { try b.entries("mlops.model.registered", "model/fraud").count == 2 }
        try b.requestDeployment("fraud-unvalidated", model: "fraud@2")
        let refused = try #require(try b.waitForEntry("ledger.policy.decision", "deployment/fraud-unvalidated"))
        #expect(refused["effect"] == "deny")
        #expect(refused["rules"]?.arrayValue?.compactMap { $0["id"]?.stringValue } == ["deployment-without-validation"])
        #expect(try b.job("deployment/fraud-unvalidated") == nil)

        #expect(try AuditVerifier().verify(b.f.db).ok)
    }

    @Test("drift on a deployed model triggers what its deployment declared: roll back, or retrain")
    func driftActions() throws {
        let b = try Bench()
        defer { b.close() }
        try b.registerData("card-txns", location: "azure:uaenorth")
        try b.validatedModel("r1", version: "1")
        try b.validatedModel("r2", version: "2")
        func rollout(_ deployment: String, _ model: String, onDrift: String) throws {
            let before = try b.entries("mlops.deployment.completed", "deployment/\(deployment)").count
            try b.requestDeployment(deployment, model: model, onDrift: onDrift)
            _ = try b.f.wait(seconds: 60) {
                try b.entries("mlops.deployment.completed", "deployment/\(deployment)").count == before + 1
            }
        }
        func drift(_ deployment: String) throws {
            try b.send("mlops.drift.detected", "model/fraud", [
                "model": "fraud@2", "deployment_id": .string(deployment), "metric": "psi", "value": 0.31,
                "threshold": 0.2,
            ])
        }

        // Roll back: fraud@1, then fraud@2 live; drift on fraud@2 puts fraud@1 back.
        try rollout("fraud-prod", "fraud@1", onDrift: "rollback")
        try rollout("fraud-prod", "fraud@2", onDrift: "rollback")
        try drift("fraud-prod")
        let rolledBack = try #require(try b.waitForEntry("mlops.deployment.rolled_back", "deployment/fraud-prod"))
        let reason = rolledBack["reason"]?.stringValue ?? ""
        #expect(reason.contains("drift on fraud@2: psi 0.31") && reason.hasSuffix("traffic returned to fraud@1"),
                "\(reason)")
        let routes = try b.routing("fraud-prod")["routes"]?.arrayValue ?? []
        #expect(routes.count == 1 && routes.first?["model"] == "fraud@1" && routes.first?["weight"] == 100, "\(routes)")

        // Retrain: drift on a deployment that asked for it requests a run like fraud@2's, decided and run.
        try rollout("fraud-shadow", "fraud@2", onDrift: "retrain")
        try drift("fraud-shadow")
        var retrain: JSONObject?
        _ = try b.f.wait(seconds: 90) {
            retrain = try b.entries("mlops.training.requested").first { $0["run_id"]?.stringValue?.hasPrefix("retrain-") == true }
            return retrain != nil
        }
        let run = try #require(retrain?["run_id"]?.stringValue)
        #expect(retrain?["inputs"] == ["card-txns@1"] && retrain?["model"] == "fraud")
        #expect(retrain?["cause"]?["reason"]?.stringValue?.contains("psi") == true)
        #expect(try b.waitForEntry("ledger.policy.decision", "run/\(run)")?["effect"] == "allow")
        #expect(try b.waitForEntry("mlops.training.completed", "run/\(run)") != nil)

        // A deployment that declared nothing only records its drift.
        try rollout("fraud-plain", "fraud@1", onDrift: "none")
        try drift("fraud-plain")
        Thread.sleep(forTimeInterval: 2)
        #expect(try b.entries("mlops.deployment.rolled_back", "deployment/fraud-plain").isEmpty)
        #expect(try JobQueue.list(subject: "deployment/fraud-plain", on: b.f.db.connection).count == 1)
    }

    @Test("a lost worker's non-idempotent deployment is marked worker_lost and never runs twice")
    func lostWorker() throws {
        let b = try Bench(workers: 0)
        defer { b.close() }
        try b.validatedModelWithoutWorkers()

        // A worker claims the deployment, starts it, and dies: it never renews its lease.
        try b.requestDeployment("fraud-prod", model: "fraud@1")
        #expect(try b.f.wait { try b.job("deployment/fraud-prod") != nil })
        guard case .run(let claimed)? = try JobQueue.claim(worker: "killed-worker", lease: .seconds(2),
                                                          on: b.f.db.connection)
        else { Issue.record("no job to claim"); return }
        try JobQueue.start(claimed.id, worker: "killed-worker", idempotent: false, node: nil, gpus: 0, gpuType: nil,
                           on: b.f.db.connection)

        // Another worker finds the lease expired: the job fails as worker_lost instead of running again.
        b.pool = try b.startWorkers(1, lease: .seconds(3))
        let failed = try #require(try b.waitForEntry("mlops.deployment.failed", "deployment/fraud-prod"))
        #expect(failed["reason"] == .string(JobQueue.workerLost))
        let job = try #require(try b.job("deployment/fraud-prod"))
        #expect(job.state == .failed && job.reason == JobQueue.workerLost && job.attempts == 1)
        Thread.sleep(forTimeInterval: 4)  // past another lease: nobody picks it up again
        #expect(try b.entries("mlops.deployment.started", "deployment/fraud-prod").isEmpty)
        #expect(!FileManager.default.fileExists(atPath: b.servingRoot + "/fraud-prod"))
        #expect(try b.job("deployment/fraud-prod")?.attempts == 1)
    }

    @Test("an idempotent training taken over from a lost worker runs again; the lost attempt's GPUs are released")
    func lostTrainingRunsAgain() throws {
        let b = try Bench(workers: 0)
        defer { b.close() }
        try b.registerData("card-txns", location: "azure:uaenorth")
        try b.requestTraining("r1", model: "fraud", input: "card-txns", region: "azure:uaenorth", version: "1")
        #expect(try b.f.wait { try b.job("run/r1") != nil })
        let c = b.f.db.connection
        guard case .run(let claimed)? = try JobQueue.claim(worker: "killed-worker", lease: .seconds(2), on: c)
        else { Issue.record("no job to claim"); return }
        try JobQueue.start(claimed.id, worker: "killed-worker", idempotent: true, node: "uae-1", gpus: 1,
                           gpuType: Self.a100, on: c)

        b.pool = try b.startWorkers(1, lease: .seconds(3))
        #expect(try b.waitForEntry("mlops.training.completed", "run/r1") != nil)
        #expect(try b.f.wait { try b.entries("mlops.gpu.released").count == 2 })
        let released = try b.entries("mlops.gpu.released").compactMap { $0["allocation_id"]?.stringValue }
        #expect(released == ["\(claimed.id).1", "\(claimed.id).2"], "\(released)")
        let job = try #require(try b.job("run/r1"))
        #expect(job.state == .succeeded && job.attempts == 2)
    }

    @Test("a worker process killed mid-rollout: its non-idempotent deployment ends worker_lost, never run twice")
    func killedWorkerProcess() throws {
        let b = try Bench(workers: 0)
        defer { b.close() }
        try b.validatedModelWithoutWorkers()

        // `mlledger serve --workers 1` in its own process takes the rollout. Traffic stays 10 s at each weight, so
        // the rollout is still running when its first weight reaches the log, even when a consumer-group rebalance
        // (the child's consumer joins the group) holds ingest up for a while.
        let dir = b.f.directory
        try Data("""
            nodes:
              - {id: uae-1, location: azure:uaenorth, gpu_type: nvidia-a100-80gb, gpu_count: 1}
            """.utf8).write(to: URL(fileURLWithPath: dir + "/cluster.yaml"))
        let serve = Process()
        serve.executableURL = URL(fileURLWithPath: mlledgerBinary)
        serve.arguments = [
            "serve", "--brokers", b.f.cluster.bootstrapServers, "--database-url", b.f.database.url,
            "--ledger-key", b.f.ledgerKeyPath, "--workers", "1", "--lease", "3", "--jobs", repositoryRoot + "/ops/jobs",
            "--cluster", dir + "/cluster.yaml", "--worker-key", dir + "/killed-worker.key", "--jobs-root", dir + "/jobs",
            "--serving-root", b.servingRoot, "--log-level", "error", "--checkpoint-interval", "0",
            "--kafka-option", "session.timeout.ms=3000", "--kafka-option", "heartbeat.interval.ms=250",
        ]
        serve.standardOutput = FileHandle.nullDevice
        serve.standardError = FileHandle.nullDevice
        try serve.run()
        try b.requestDeployment("fraud-prod", model: "fraud@1", params: ["weights": "10,50,100", "bake_seconds": 10])
        // Each weight is in the log as soon as traffic reaches it, while the rollout still runs.
        let running = try b.f.wait(seconds: 90) {
            guard let job = try b.job("deployment/fraud-prod"), job.state == .running, job.attempts == 1 else { return false }
            return try !b.entries("mlops.deployment.traffic_shifted", "deployment/fraud-prod").isEmpty
        }
        kill(serve.processIdentifier, SIGKILL)
        serve.waitUntilExit()
        let atKill = try b.job("deployment/fraud-prod")
        #expect(running && atKill?.state == .running,
                "killed mid-rollout: job \(atKill?.state.rawValue ?? "absent"), attempts \(atKill?.attempts ?? 0)")

        // A worker elsewhere finds the lease expired: failed as worker_lost, not started again.
        b.pool = try b.startWorkers(1, lease: .seconds(3))
        let failed = try #require(try b.waitForEntry("mlops.deployment.failed", "deployment/fraud-prod"))
        #expect(failed["reason"] == .string(JobQueue.workerLost))
        Thread.sleep(forTimeInterval: 4)
        let job = try #require(try b.job("deployment/fraud-prod"))
        #expect(job.state == .failed && job.reason == JobQueue.workerLost && job.attempts == 1)
        #expect(try b.entries("mlops.deployment.started", "deployment/fraud-prod").count == 1)
        #expect(try b.entries("mlops.deployment.completed", "deployment/fraud-prod").isEmpty)
    }

    @Test("GPU placement keeps UAE health data on UAE nodes and queues when they are busy")
    func placementQueuesInsteadOfMovingRegulatedData() throws {
        let b = try Bench(workers: 2)
        defer { b.close() }
        try b.registerData("patient-visits", location: "azure:uaenorth", classification: "sensitive",
                           regimes: ["ae-health"], categories: ["health"])
        // Two runs for the UAE's single A100 (the EU node has eight free), and one that asks for the EU.
        let slow: JSONObject = ["samples": 20000, "epochs": 60]
        try b.requestTraining("h1", model: "readmission", input: "patient-visits", region: "azure:uaenorth", params: slow)
        try b.requestTraining("h2", model: "readmission", input: "patient-visits", region: "azure:uaenorth", params: slow)
        try b.requestTraining("h-eu", model: "readmission", input: "patient-visits", region: "gcp:europe-west4")
        for run in ["h1", "h2"] { #expect(try b.waitForEntry("mlops.training.completed", "run/\(run)", seconds: 180) != nil) }
        #expect(try b.f.wait { try b.entries("mlops.gpu.released").count == 2 })

        let allocations = try b.entries("mlops.gpu.allocated")
        #expect(allocations.count == 2)
        #expect(allocations.allSatisfy { $0["node"] == "uae-1" && $0["region"] == "azure:uaenorth" }, "\(allocations)")
        // The second run was placed only after the first released the GPU.
        let order = try b.f.db.connection.query("""
            SELECT type, subject FROM ledger.entries WHERE type IN ('mlops.gpu.allocated', 'mlops.gpu.released')
            ORDER BY idx
            """).map { $0.string(0)! }
        #expect(order == ["mlops.gpu.allocated", "mlops.gpu.released", "mlops.gpu.allocated", "mlops.gpu.released"])
        let decision = try #require(try b.waitForEntry("ledger.policy.decision", "run/h-eu"))
        #expect(decision["effect"] == "deny")
        #expect(try b.job("run/h-eu") == nil, "a denied request never becomes a job")
    }
}
