import Foundation
import LedgerCore
import LedgerCrypto
import LedgerKafka
import LedgerService
import LedgerStore
import LedgerTestSupport
import Logging
import Testing

/// A fresh database, an embedded Kafka cluster with the events topic, and a ledger identity: what one
/// integration test needs, torn down by `close()`.
final class LedgerFixture: @unchecked Sendable {
    let database: TestDatabaseHandle
    let cluster: EmbeddedKafkaCluster
    let topic: String
    let identity: LedgerIdentity
    let db: LedgerDatabase
    let directory: String
    var logger: Logger

    init(partitions: Int32 = 6) throws {
        database = try TestDatabase.create()
        cluster = try EmbeddedKafkaCluster(brokers: 3)
        topic = "mlops.events"
        try cluster.createTopic(topic, partitions: partitions, replicationFactor: 1)
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("mlledger-test-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let key = Ed25519PrivateKey.generate()
        try KeyFiles.writePrivateKey(key, to: directory + "/ledger.key")
        identity = LedgerIdentity(key: key, origin: "test.mlledger/\(database.name)")
        db = try LedgerDatabase(url: database.url)
        try LedgerSetup.prepare(db)
        try identity.ensureGenesis(db)
        logger = Logger(label: "test")
        logger.logLevel = .warning
    }

    var ledgerKeyPath: String { directory + "/ledger.key" }

    /// The mock cluster's coordinator waits a session timeout before rebalancing: keep it short in tests.
    static let consumerConfig = ["session.timeout.ms": "3000", "heartbeat.interval.ms": "250"]

    func close() {
        db.connection.close()
        cluster.close()
        database.drop()
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Trusts a new producer key for everything under mlops.*.
    func trustedProducer(name: String = "producer", sources: [String] = ["*"]) throws -> Ed25519PrivateKey {
        let key = Ed25519PrivateKey.generate()
        try TrustAdmin(identity: identity).trust(key.publicKey, name: name,
                                                 scope: TrustScope(sources: sources.map(Glob.init)), in: db)
        return key
    }

    /// An ingest service on the fixture's cluster and database. Policy decisions are off unless asked for: tests
    /// of ingest mechanics count entries exactly (PolicyDecisionTests covers decisions).
    func service(group: String = "mlledger", batchSize: Int = 500, decisions: Bool = false) -> IngestService {
        var configuration = IngestConfiguration(bootstrapServers: cluster.bootstrapServers, topic: topic, groupID: group,
                                                databaseURL: database.url, batchSize: batchSize,
                                                consumerConfig: Self.consumerConfig)
        configuration.decidesPolicies = decisions
        return IngestService(configuration: configuration, identity: identity, logger: logger)
    }

    /// Runs the service on its own thread; returns a function that stops it and waits.
    func start(_ service: IngestService) -> @Sendable () -> Void {
        let done = DispatchSemaphore(value: 0)
        let box = ErrorSink()
        let t = Thread {
            do { try service.run() } catch { box.error = error }
            done.signal()
        }
        t.start()
        return {
            service.stop()
            done.wait()
            if let e = box.error { Issue.record("service failed: \(e)") }
        }
    }

    func size() throws -> UInt64 { try db.head().size }

    /// The log size and quarantine reasons, for failure messages.
    var state: String { "log size \((try? size()) ?? 0), quarantined \((try? quarantineReasons()) ?? [])" }

    func quarantineReasons() throws -> [String] {
        try db.connection.query("SELECT reason FROM ledger.quarantine ORDER BY id").map { $0.string(0)! }
    }

    /// Waits until `condition` holds, polling; false on timeout.
    func wait(seconds: Double = 30, _ condition: () throws -> Bool) rethrows -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if try condition() { return true }
            Thread.sleep(forTimeInterval: 0.05)
        }
        return try condition()
    }
}

final class ErrorSink: @unchecked Sendable {
    var error: Error?
}

/// A signed catalog event.
func signedEvent(_ key: Ed25519PrivateKey, id: String = EventIDs.uuidV7(), source: String = "ci://github.com/acme/fraud",
                 type: String = "mlops.training.started", subject: String = "run/r1",
                 data: JSONObject = ["run_id": "r1", "node": "gpu-1", "region": "azure:uaenorth"]) -> [UInt8] {
    let attrs = CloudEvent.make(id: id, source: source, type: type, subject: subject,
                                time: EventTime.format(micros: LedgerIdentity.nowMicros()), data: data)
    return EnvelopeSigner(key: key).envelope(for: attrs).envelope
}

/// The package's root directory: the tests read its shipped files (policies, job templates, docs, scripts).
let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().path

/// The built mlledger executable (ops/test sets MLLEDGER_BIN; else the debug build beside the package).
var mlledgerBinary: String {
    if let b = ProcessInfo.processInfo.environment["MLLEDGER_BIN"], !b.isEmpty { return b }
    return repositoryRoot + "/.build/debug/mlledger"
}

/// Runs a command to completion.
@discardableResult
func runProcess(_ path: String, _ args: [String], environment: [String: String] = [:], stdin: [UInt8]? = nil)
    throws -> (status: Int32, stdout: String, stderr: String)
{
    let p = Process()
    p.executableURL = URL(fileURLWithPath: path)
    p.arguments = args
    var env = ProcessInfo.processInfo.environment
    for (k, v) in environment { env[k] = v }
    p.environment = env
    let out = Pipe(), err = Pipe(), input = Pipe()
    p.standardOutput = out
    p.standardError = err
    p.standardInput = input
    try p.run()
    if let stdin { input.fileHandleForWriting.write(Data(stdin)) }
    try input.fileHandleForWriting.close()
    let errData = ReadAll(err.fileHandleForReading)
    let o = out.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: errData.wait(), as: UTF8.self))
}

/// Drains a pipe on another thread so that a chatty child cannot block on a full pipe.
final class ReadAll: @unchecked Sendable {
    private var data = Data()
    private let done = DispatchSemaphore(value: 0)
    init(_ handle: FileHandle) {
        Thread {
            self.data = handle.readDataToEndOfFile()
            self.done.signal()
        }.start()
    }
    func wait() -> Data {
        done.wait()
        return data
    }
}
