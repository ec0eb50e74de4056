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
            try ServiceRunner.run(service, logger: logger, options: ingest, onReady: {
                if demo {
                    try runDemo(info: info, identity: identity, db: db, stateDir: stateDir)
                    if exitAfterDemo { kill(getpid(), SIGTERM) }
                }
            }, onStop: {})
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
        let run = String(EventIDs.uuidV7().suffix(8))
        let signer = EnvelopeSigner(key: key)
        let producer = try KafkaProducer(bootstrapServers: info.kafkaBootstrap)
        defer { producer.close() }
        let steps = DemoStory.steps(run: run)
        for step in steps {
            let id = EventIDs.uuidV7()
            let envelope = DemoStory.envelope(step, id: id, time: EventTime.format(micros: LedgerIdentity.nowMicros()),
                                              signer: signer)
            let r = try producer.send(topic: info.topic, key: Array(step.subject.utf8), value: envelope,
                                      headers: [KafkaHeader(name: "content-type", value: Array("application/dsse+json".utf8))])
            Output.print("demo: sent \(step.type) \(step.subject) -> partition \(r.partition) offset \(r.offset)")
        }
        let deadline = Date().addingTimeInterval(60)
        var size = before
        while size < before + UInt64(steps.count), Date() < deadline {
            Thread.sleep(forTimeInterval: 0.2)
            let now = try db.head().size
            if now != size { Output.print("demo: log size \(now)") }
            size = now
        }
        guard size >= before + UInt64(steps.count) else {
            throw CLIError("demo: the log did not grow to \(before + UInt64(steps.count)) entries within 60s (size \(size))")
        }
        let rows = try db.connection.query("""
            SELECT idx, type, subject, encode(leaf_hash, 'hex') FROM ledger.entries WHERE idx >= $1 ORDER BY idx
            """, [.int64(Int64(before))])
        Output.table(["IDX", "TYPE", "SUBJECT", "LEAF HASH"], rows.map { r in
            [String(r.int64(0) ?? 0), r.string(1) ?? "", r.string(2) ?? "", String((r.string(3) ?? "").prefix(16)) + "…"]
        })
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
}
