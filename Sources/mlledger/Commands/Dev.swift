import ArgumentParser
import Foundation
import LedgerCore
import LedgerCrypto
import LedgerKafka
import LedgerService
import LedgerStore
import Logging

struct Dev: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the ledger on the embedded default: a private PostgreSQL and an in-process Kafka cluster.",
        discussion: """
            Starts PostgreSQL from the system packages (initdb into <state-dir>/pg on first start, reused after; as
            the postgres user when run as root) and librdkafka's built-in Kafka cluster (3 brokers, the events topic
            with 6 partitions, real Kafka protocol on loopback ports), then runs the ingest service until SIGINT or
            SIGTERM and shuts both down. Writes <state-dir>/dev.json with kafka_bootstrap, postgres_url, topic and
            pid, which the other commands read. With --demo it also trusts a demo producer key and emits a short
            MLOps story, then verifies the log.
            """)

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var ledger: LedgerKeyOptions
    @OptionGroup var ingest: IngestOptions
    @OptionGroup var workers: WorkerOptions

    @Option(name: .long, help: "Events topic to create.")
    var topic: String = "mlops.events"

    @Option(name: .long, help: "Partitions of the events topic.")
    var partitions: Int32 = 6

    @Flag(help: "Trust a demo producer key and emit a short MLOps story, then verify the log.")
    var demo = false

    @Flag(help: "Exit after the demo instead of serving until a signal.")
    var exitAfterDemo = false

    func validate() throws {
        guard partitions >= 1 && partitions <= 64 else { throw ValidationError("--partitions must be 1...64") }
        if exitAfterDemo && !demo { throw ValidationError("--exit-after-demo needs --demo") }
    }

    func run() throws {
        let logger = ingest.logger("mlledger.dev")
        let stateDir = connection.stateDirectory
        if let running = DevInfo.read(stateDirectory: stateDir), running.pid != getpid() {
            throw CLIError("another `mlledger dev` (pid \(running.pid)) is using \(stateDir); stop it first")
        }
        let env = DevEnvironment(stateDirectory: stateDir, topic: topic, partitions: partitions, logger: logger)
        let info: DevInfo
        do {
            info = try env.start()
        } catch {
            env.stop()
            throw CLIError("could not start the embedded default: \(error)")
        }
        do {
            let db = try LedgerDatabase(url: info.postgresURL)
            try LedgerSetup.prepare(db, progress: Output.projectionProgress)
            try db.forgetConsumerOffsets()
            let identity = try ledger.identity(connection, db: db)
            try identity.ensureGenesis(db)
            let config = IngestConfiguration(bootstrapServers: info.kafkaBootstrap, topic: info.topic,
                                             groupID: ingest.resolvedGroup, databaseURL: info.postgresURL,
                                             batchSize: ingest.batchSize,
                                             consumerConfig: ingest.consumerConfig(defaults: DevEnvironment.consumerDefaults),
                                             deadLetterTopic: ingest.deadLetterTopic(info.topic))
            let service = IngestService(configuration: config, identity: identity, logger: logger)
            Output.note("""
                mlledger dev is running.
                  Kafka bootstrap: \(info.kafkaBootstrap) (topic \(info.topic), \(partitions) partitions, 3 brokers)
                  PostgreSQL:      \(info.postgresURL)
                  written to \(DevInfo.path(stateDirectory: stateDir)); other mlledger commands find both there.
                  Stop with Ctrl-C.
                """)
            var pool: WorkerPool?
            try ServiceRunner.run(service, logger: logger, options: ingest, onReady: {
                pool = try workers.startPool(
                    count: demo ? max(workers.workers, 2) : workers.workers, stateDirectory: stateDir,
                    databaseURL: info.postgresURL, bootstrapServers: info.kafkaBootstrap, topic: info.topic,
                    identity: identity, db: db, logger: logger)
                if demo {
                    try runDemo(info: info, identity: identity, db: db, stateDir: stateDir)
                    if exitAfterDemo { kill(getpid(), SIGTERM) }
                }
            }, onStop: { pool?.stop() })
            db.connection.close()
        } catch {
            env.stop()
            throw error
        }
        env.stop()
        Output.note("stopped; state kept in \(stateDir)")
    }

    private func runDemo(info: DevInfo, identity: LedgerIdentity, db: LedgerDatabase, stateDir: String) throws {
        let keyPath = stateDir + "/\(DemoStory.producerName).key"
        let (key, _) = try KeyFiles.loadOrCreatePrivateKey(at: keyPath)
        let current = try db.trustedKeys().first { $0.name == DemoStory.producerName && $0.revokedIdx == nil }
        if current == nil {
            let scope = TrustScope(sources: DemoStory.sources.map(Glob.init), types: [Glob("mlops.*")])
            let idx = try TrustAdmin(identity: identity).trust(key.publicKey, name: DemoStory.producerName, scope: scope, in: db)
            Output.print("demo: trusted \(DemoStory.producerName) (key id \(key.publicKey.keyID.prefix(16))…) at index \(idx)")
        }
        let before = try db.head().size
        let tag = String(EventIDs.uuidV7().suffix(8))
        let signer = EnvelopeSigner(key: key)
        let producer = try KafkaProducer(bootstrapServers: info.kafkaBootstrap)
        defer { producer.close() }
        func send(_ step: DemoStory.Step) throws {
            let envelope = DemoStory.envelope(step, id: EventIDs.uuidV7(),
                                              time: EventTime.format(micros: LedgerIdentity.nowMicros()), signer: signer)
            let r = try producer.send(topic: info.topic, key: Array(step.subject.utf8), value: envelope,
                                      headers: [KafkaHeader(name: "content-type", value: Array("application/dsse+json".utf8))])
            Output.print("demo: sent \(step.type) \(step.subject) -> partition \(r.partition) offset \(r.offset)")
        }
        // Registrations first: a request is decided with what the log knows when it is appended.
        let steps = WorkedDemo.requests(tag: tag)
        let registrations = steps.filter { $0.type == "mlops.dataset.registered" }
        for step in registrations { try send(step) }
        _ = try waitFor("registration of the demo's data sets", db: db, seconds: 60) { c in
            try c.query("SELECT count(*) FROM residency.entities WHERE id = ANY($1) AND last_idx >= $2", [
                .textArray(registrations.map { $0.subject + "@" + ($0.data["version"]?.stringValue ?? "") }),
                .int64(Int64(before)),
            ]).first?.int64(0) == Int64(registrations.count) ? "" : nil
        }
        for step in steps where step.type != "mlops.dataset.registered" { try send(step) }
        let (allowed, denied) = WorkedDemo.runIDs(tag)

        Output.print("demo: the workers train \(WorkedDemo.model) for run/\(allowed) and run its validation gate…")
        let version = try waitFor("a validated model version from run/\(allowed)", db: db) { c in
            try c.query("""
                SELECT m.version FROM registry.model_versions m
                JOIN registry.validations v ON v.name = m.name AND v.version = m.version AND v.passed
                WHERE m.run_id = $1 AND m.registered_idx IS NOT NULL LIMIT 1
                """, [.text(allowed)]).first?.string(0)
        }
        try send(WorkedDemo.deploymentRequest(modelVersion: version))
        Output.print("demo: the workers roll \(WorkedDemo.model)@\(version) out to deployment/\(WorkedDemo.deployment) (canary)…")
        let outcome = try waitFor("the end of the rollout", db: db) { c in
            try c.query("""
                SELECT type FROM ledger.entries WHERE subject = $1 AND idx >= $2
                  AND type IN ('mlops.deployment.completed', 'mlops.deployment.rolled_back', 'mlops.deployment.failed')
                LIMIT 1
                """, [.text("deployment/" + WorkedDemo.deployment), .int64(Int64(before))]).first?.string(0)
        }
        Thread.sleep(forTimeInterval: 0.5)  // the decisions and projections of the last events commit with them

        let rows = try db.connection.query("""
            SELECT idx, type, subject, encode(leaf_hash, 'hex') FROM ledger.entries WHERE idx >= $1 ORDER BY idx
            """, [.int64(Int64(before))])
        Output.table(["IDX", "TYPE", "SUBJECT", "LEAF HASH"], rows.map { r in
            [String(r.int64(0) ?? 0), r.string(1) ?? "", r.string(2) ?? "", String((r.string(3) ?? "").prefix(16)) + "…"]
        })
        Output.print("demo: jobs (mlledger query runs / query deployments):")
        let jobs = try db.connection.query("""
            SELECT id, subject, state, coalesce(node, ''), coalesce(reason, ''), coalesce(result #>> '{models,0,digest}', '')
            FROM ledger.jobs WHERE request_idx >= $1 ORDER BY request_idx
            """, [.int64(Int64(before))])
        Output.table(["JOB", "SUBJECT", "STATE", "NODE", "REASON", "MODEL DIGEST"], jobs.map { r in
            (0..<6).map { r.string($0) ?? "" }
        })
        try showDenial(of: "run/" + denied, db: db)
        Output.print("demo: the rollout ended with \(outcome)")
        let deployment = "deployment/fraud-prod"
        Output.print("demo: what \(deployment) was built from (mlledger query lineage \(deployment) --upstream):")
        let edges = try Query.Lineage.edges(db, from: deployment, downstream: false, depth: 32)
        for line in Query.Lineage.tree(root: deployment, edges: edges, upstream: true) { Output.print("  " + line) }
        let report = try AuditVerifier().verify(db)
        if report.ok {
            Output.print("demo: audit verify OK: \(report.entries) entries, root \(Hex.encode(report.root))")
            let signed = try CheckpointSigner(identity: identity).sign(db)
            Output.print("demo: signed checkpoint (C2SP signed note), verifiable with the ledger's key alone:")
            Output.print(signed.note, terminator: "")
        } else {
            throw CLIError("demo: audit verify FAILED: \(report.failures[0].reason)")
        }
    }

    /// Polls `probe` every 200 ms for up to `seconds`.
    private func waitFor(_ what: String, db: LedgerDatabase, seconds: Double = 180,
                         _ probe: (PostgresConnection) throws -> String?) throws -> String {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if let value = try probe(db.connection) { return value }
            Thread.sleep(forTimeInterval: 0.2)
        }
        throw CLIError("demo: no \(what) within \(Int(seconds)) s; see the service's log above")
    }

    /// Prints the recorded decision about a denied request, and that no job exists for it.
    private func showDenial(of subject: String, db: LedgerDatabase) throws {
        guard let envelope = try db.connection.query("""
            SELECT envelope FROM ledger.entries WHERE type = 'ledger.policy.decision' AND subject = $1
            ORDER BY idx DESC LIMIT 1
            """, [.text(subject)]).first?.bytes(0),
            let event = try? CloudEvent.parse(DSSEEnvelope.parse(envelope).payload)
        else { return }
        let rules = event.data["rules"]?.arrayValue ?? []
        let jobs = try db.connection.query("SELECT count(*) FROM ledger.jobs WHERE subject = $1", [.text(subject)])
            .first?.int64(0) ?? 0
        Output.print("demo: \(subject) (EU personal data to aws:me-central-1, no transfer basis): "
            + "\(event.data["effect"]?.stringValue ?? "?"), \(jobs) job(s) created")
        for r in rules {
            Output.print("  \(r["id"]?.stringValue ?? "") [\(r["citation"]?["article"]?.stringValue ?? "")]: "
                + (r["message"]?.stringValue ?? ""))
        }
    }
}
