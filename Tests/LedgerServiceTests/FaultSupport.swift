import Foundation
import LedgerTestSupport
import LedgerCore
import LedgerCrypto
import LedgerKafka
import LedgerService
import LedgerStore
import Logging
import Testing

// Helpers of FaultTests: a producer stream that retries until delivered, exactly-once checks, `mlledger serve` as a
// child process, and a private PostgreSQL that a test may restart.

/// A seeded random number generator (SplitMix64), so that a failing fault schedule can be replayed: the seed comes
/// from `MLLEDGER_FAULT_SEED` when set, else from the system generator, and is part of every failure message.
struct FaultRandom: RandomNumberGenerator {
    private var generator: SeededRandom
    var seed: UInt64 { generator.seed }

    init() {
        let text = ProcessInfo.processInfo.environment["MLLEDGER_FAULT_SEED"]
        generator = SeededRandom(seed: text.flatMap { UInt64($0) } ?? UInt64.random(in: 0...UInt64.max))
    }

    mutating func next() -> UInt64 { generator.next() }

    /// A duration in seconds, uniformly in `range`.
    mutating func seconds(_ range: ClosedRange<Double>) -> Double { Double.random(in: range, using: &self) }
}

/// Librdkafka client settings for fault tests: reconnect to a broker that came back within a second (the default
/// backoff grows to 10 s, which only makes the tests slower).
let fastReconnect = ["reconnect.backoff.max.ms": "1000"]

/// A thread producing a stream of freshly signed events (distinct ids, one source) in chunks, like a producer that
/// retries: whatever a chunk's delivery reports say failed is sent again, until delivered or `retryLimit` passed.
/// `ids` are the events whose delivery was confirmed — what the ledger must hold exactly once.
final class EventStream: @unchecked Sendable {
    let source: String
    let producer: KafkaProducer
    private let topic: String
    private let key: Ed25519PrivateKey
    private let chunk: Int
    private let pause: TimeInterval
    private let limit: Int?
    private let retryLimit: TimeInterval
    private let lock = NSLock()
    private var delivered: [String] = []
    private var failures: [String] = []
    private var resends = 0
    private var stopRequested = false
    private let finished = DispatchSemaphore(value: 0)
    private var started = false

    /// - Parameters:
    ///   - chunk: events per `sendMany`.
    ///   - pause: sleep between chunks.
    ///   - limit: stop after this many events (nil: until `stop()`).
    init(bootstrapServers: String, topic: String, key: Ed25519PrivateKey, source: String = "ci://github.com/acme/faults",
         chunk: Int = 30, pause: TimeInterval = 0.1, limit: Int? = nil, retryLimit: TimeInterval = 120) throws {
        self.producer = try KafkaProducer(bootstrapServers: bootstrapServers, config: fastReconnect)
        self.topic = topic
        self.key = key
        self.source = source
        self.chunk = chunk
        self.pause = pause
        self.limit = limit
        self.retryLimit = retryLimit
    }

    deinit {
        producer.close()
    }

    func start() {
        started = true
        let t = Thread { [self] in
            produce()
            finished.signal()
        }
        t.name = "fault-test-producer"
        t.start()
    }

    /// Stops generating new events, waits until the current chunk is delivered (or given up), closes the producer.
    func stop() {
        lock.withLock { stopRequested = true }
        waitUntilFinished()
    }

    /// Waits for a limited stream to send everything; false on timeout.
    @discardableResult
    func waitUntilFinished(seconds: Double = 300) -> Bool {
        guard started else { return true }
        guard finished.wait(timeout: .now() + seconds) == .success else { return false }
        finished.signal()  // later waits return at once
        return true
    }

    /// Ids of the events delivered so far.
    var ids: Set<String> { lock.withLock { Set(delivered) } }
    var count: Int { lock.withLock { delivered.count } }
    /// Events whose delivery failed and were sent again.
    var resent: Int { lock.withLock { resends } }
    /// Deliveries given up on (each one fails the test: its event may or may not be in Kafka).
    var errors: [String] { lock.withLock { failures } }

    private func produce() {
        var n = 0
        while !lock.withLock({ stopRequested }) {
            let size = limit.map { min(chunk, $0 - n) } ?? chunk
            if size <= 0 { break }
            var pending: [(id: String, message: (topic: String, key: [UInt8]?, value: [UInt8], headers: [KafkaHeader]))] =
                (0..<size).map { i in
                    let id = EventIDs.uuidV7()
                    let subject = "run/r\((n + i) % 50)"
                    return (id, (topic, Array(subject.utf8), signedEvent(key, id: id, source: source, subject: subject), []))
                }
            n += size
            let deadline = Date().addingTimeInterval(retryLimit)
            while !pending.isEmpty {
                var failed: [(id: String, message: (topic: String, key: [UInt8]?, value: [UInt8], headers: [KafkaHeader]))] = []
                var lastError = ""
                do {
                    let results = try producer.sendMany(pending.map(\.message), timeout: .seconds(30))
                    for (p, r) in zip(pending, results) {
                        switch r {
                        case .success: lock.withLock { delivered.append(p.id) }
                        case .failure(let e):
                            failed.append(p)
                            lastError = "\(e)"
                        }
                    }
                } catch {
                    failed = pending
                    lastError = "\(error)"
                }
                if !failed.isEmpty {
                    guard Date() < deadline else {
                        lock.withLock { failures.append("\(failed.count) event(s) undelivered after \(retryLimit)s: \(lastError)") }
                        break
                    }
                    lock.withLock { resends += failed.count }
                    Thread.sleep(forTimeInterval: 0.2)
                }
                pending = failed
            }
            if pause > 0 { Thread.sleep(forTimeInterval: pause) }
        }
    }
}

/// Reads of what a stream left in a ledger database, tolerant of a database that is being restarted: a query that
/// fails for a lost connection reconnects and is retried.
struct LogReader {
    let db: LedgerDatabase

    /// Runs `body`, reconnecting and retrying (for up to a minute) while the connection is lost.
    func retrying<T>(_ body: () throws -> T) throws -> T {
        let deadline = Date().addingTimeInterval(60)
        while true {
            do {
                return try body()
            } catch let e as PostgresError where e.isConnectionFailure && Date() < deadline {
                Thread.sleep(forTimeInterval: 0.2)
                try? db.connection.reconnect()
            }
        }
    }

    /// Producer entries from `source`.
    func count(source: String) throws -> Int {
        try retrying {
            Int(try db.connection.query("SELECT count(*)::bigint FROM ledger.entries WHERE source = $1", [.text(source)])
                .first?.int64(0) ?? 0)
        }
    }

    /// Waits until `source` has at least `expected` entries; false on timeout.
    func waitForCount(_ expected: Int, source: String, seconds: Double) throws -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if try count(source: source) >= expected { return true }
            Thread.sleep(forTimeInterval: 0.1)
        }
        return try count(source: source) >= expected
    }

    /// Waits until `source` has more than `than` entries (the pipeline is making progress); false on timeout.
    func waitForProgress(beyond than: Int, source: String, seconds: Double) throws -> Bool {
        try waitForCount(than + 1, source: source, seconds: seconds)
    }

    /// Exactly once: the (source, id) pairs of `source`'s entries are exactly `ids`, each once, no envelope is
    /// recorded twice (under any id), and `audit verify` accepts the whole log.
    func expectExactlyOnce(source: String, ids: Set<String>, _ context: @autoclosure () -> String,
                           sourceLocation: SourceLocation = #_sourceLocation) throws {
        let rows = try retrying {
            try db.connection.query("SELECT event_id FROM ledger.entries WHERE source = $1", [.text(source)])
                .map { $0.string(0)! }
        }
        let logged = Set(rows)
        let missing = ids.subtracting(logged)
        let extra = logged.subtracting(ids)
        #expect(rows.count == ids.count, "\(rows.count) entries for \(ids.count) events sent; \(context())",
                sourceLocation: sourceLocation)
        #expect(missing.count == 0, "sent but not in the log, e.g. \(missing.sorted().prefix(3)); \(context())",
                sourceLocation: sourceLocation)
        #expect(extra.count == 0, "in the log but never confirmed sent, e.g. \(extra.sorted().prefix(3)); \(context())",
                sourceLocation: sourceLocation)
        let sameEnvelope = try retrying {
            try db.connection.query("SELECT (count(*) - count(DISTINCT leaf_hash))::bigint FROM ledger.entries")
                .first?.int64(0) ?? -1
        }
        #expect(sameEnvelope == 0, "\(sameEnvelope) envelope(s) appended twice; \(context())", sourceLocation: sourceLocation)
        let report = try retrying { try AuditVerifier().verify(db) }
        #expect(report.ok, "audit verify: \(report.failures.prefix(3)); \(context())", sourceLocation: sourceLocation)
        #expect(try report.entries == retrying { try db.head().size }, sourceLocation: sourceLocation)
    }
}

/// Runs an in-process ingest service on its own thread; the returned function stops it and waits. A service that
/// ended with an error records an issue.
func runInBackground(_ service: IngestService) -> @Sendable () -> Void {
    let done = DispatchSemaphore(value: 0)
    let box = ErrorSink()
    let t = Thread {
        do { try service.run() } catch { box.error = error }
        done.signal()
    }
    t.name = "fault-test-ingest"
    t.start()
    let once = OnceFlag()
    return {
        guard once.claim() else { return }
        service.stop()
        done.wait()
        if let e = box.error { Issue.record("service failed: \(e)") }
    }
}

/// True for the first caller of `claim()` only.
final class OnceFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var claimed = false
    func claim() -> Bool {
        lock.withLock {
            defer { claimed = true }
            return !claimed
        }
    }
}

/// `mlledger serve` as a child process that a test kills and restarts; its stderr goes to `logPath` (appended
/// across restarts) so that a failure can show what the service said.
final class ServeChild {
    let arguments: [String]
    let logPath: String
    private var process: Process?
    private(set) var starts = 0

    /// The `serve` arguments for a cluster and database, with the short group timeouts the mock cluster needs.
    static func arguments(brokers: String, topic: String, databaseURL: String, ledgerKey: String,
                          batchSize: Int = 200) -> [String] {
        ["serve", "--brokers", brokers, "--topic", topic, "--database-url", databaseURL, "--ledger-key", ledgerKey,
         "--batch-size", String(batchSize), "--log-level", "notice",
         "--kafka-option", "session.timeout.ms=3000", "--kafka-option", "heartbeat.interval.ms=250",
         "--kafka-option", "reconnect.backoff.max.ms=1000"]
    }

    init(arguments: [String], logPath: String) {
        self.arguments = arguments
        self.logPath = logPath
    }

    func start() throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: mlledgerBinary)
        p.arguments = arguments
        p.standardInput = FileHandle.nullDevice
        p.standardOutput = FileHandle.nullDevice
        let fd = open(logPath, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        guard fd >= 0 else { throw TestFailure("cannot open \(logPath): \(String(cString: strerror(errno)))") }
        let log = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
        p.standardError = log
        try p.run()
        try? log.close()
        process = p
        starts += 1
    }

    var isRunning: Bool { process?.isRunning ?? false }

    /// SIGKILL, and wait until it is gone. Returns false if it had already exited by itself.
    @discardableResult
    func kill() -> Bool {
        guard let p = process else { return false }
        let wasRunning = p.isRunning
        Foundation.kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        process = nil
        return wasRunning && p.terminationReason == .uncaughtSignal
    }

    /// SIGTERM (a clean stop), SIGKILL if it has not exited within 20 s.
    func stop() {
        guard let p = process else { return }
        p.terminate()
        let deadline = Date().addingTimeInterval(20)
        while p.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        if p.isRunning { Foundation.kill(p.processIdentifier, SIGKILL) }
        p.waitUntilExit()
        process = nil
    }

    /// The last lines the service logged, for failure messages.
    func logTail(lines: Int = 20) -> String {
        let text = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").suffix(lines).joined(separator: "\n")
    }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// A ledger on a PostgreSQL server of its own (EmbeddedPostgres in a temporary directory, as the postgres user when
/// root), for tests that restart the server: the shared test server must not be restarted under other suites.
/// Also carries an embedded Kafka cluster with the events topic.
final class PrivateLedger: @unchecked Sendable {
    let directory: String
    let postgres: EmbeddedPostgres
    let url: String
    let db: LedgerDatabase
    let identity: LedgerIdentity
    let cluster: EmbeddedKafkaCluster
    let topic = "mlops.events"
    var logger: Logger

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("mlledger-fault-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        logger = Logger(label: "fault-test")
        logger.logLevel = .error
        postgres = try EmbeddedPostgres(dataDirectory: directory + "/pg", database: "mlledger", logger: logger)
        do {
            url = try postgres.start()
            db = try LedgerDatabase(url: url)
            try db.migrate()
            let key = Ed25519PrivateKey.generate()
            try KeyFiles.writePrivateKey(key, to: directory + "/ledger.key")
            identity = LedgerIdentity(key: key, origin: "test.mlledger/faults")
            try identity.ensureGenesis(db)
            cluster = try EmbeddedKafkaCluster(brokers: 3)
            try cluster.createTopic(topic, partitions: 6, replicationFactor: 1)
        } catch {
            postgres.stop()
            try? FileManager.default.removeItem(atPath: directory)
            throw error
        }
    }

    var reader: LogReader { LogReader(db: db) }

    func trustedProducer(name: String = "producer") throws -> Ed25519PrivateKey {
        let key = Ed25519PrivateKey.generate()
        try TrustAdmin(identity: identity).trust(key.publicKey, name: name, scope: TrustScope(sources: [Glob("*")]), in: db)
        return key
    }

    func service(group: String = "mlledger", batchSize: Int = 200) -> IngestService {
        IngestService(configuration: IngestConfiguration(
            bootstrapServers: cluster.bootstrapServers, topic: topic, groupID: group, databaseURL: url,
            batchSize: batchSize, consumerConfig: LedgerFixture.consumerConfig.merging(fastReconnect) { $1 }),
                      identity: identity, logger: logger)
    }

    func close() {
        db.connection.close()
        cluster.close()
        postgres.stop(mode: .immediate)
        try? FileManager.default.removeItem(atPath: directory)
    }
}
