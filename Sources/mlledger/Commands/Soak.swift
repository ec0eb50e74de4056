import ArgumentParser
import Foundation
import LedgerCore
import LedgerCrypto
import LedgerKafka
import LedgerService
import LedgerStore
import Logging

/// `ops/soak`: the fault tests' faults, at random, for longer than CI allows. A throwaway PostgreSQL and an embedded
/// Kafka cluster run in this process, `mlledger serve` runs as a child process (so that it can be SIGKILLed), a
/// steady stream of signed events (and a share of invalid ones) is produced, and faults are injected at random
/// intervals. At the end the ledger is left to catch up and the totals are counted from the log itself.
struct Soak: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "soak",
        abstract: "Run ingest under random faults for a while and count what was lost or doubled (ops/soak).",
        discussion: """
            Faults: SIGKILL and restart of the serve child, a broker (sometimes two) set down and up again, injected
            request errors on Produce/Fetch/OffsetCommit/Heartbeat, PostgreSQL restarted (fast or immediate, down for
            up to 5 s), and producer resends of envelopes already delivered. Prints sent (valid, distinct, delivery
            confirmed), appended, quarantined, lost (sent but not in the log) and doubled (a (source, id) or an
            envelope recorded more than once), and runs audit verify. Every --checkpoint-every seconds the faults pause
            until the log holds every event confirmed before the pause; one that takes longer than
            --checkpoint-timeout means the service is stuck. Exits 1 if anything was lost or doubled, a checkpoint was
            missed, or the audit failed. The state directory is kept when the run fails.
            """,
        shouldDisplay: false)

    @Option(help: "Minutes of fault injection (the drain at the end comes on top).")
    var minutes: Double = 10

    @Option(help: "Valid events produced per second.")
    var rate: Int = 200

    @Option(help: "Share of invalid messages (garbage, unknown key, bad signature, unknown type).")
    var invalidShare: Double = 0.03

    @Option(help: "Mean seconds between two faults.")
    var faultInterval: Double = 6

    @Option(help: "Seed of the random schedule (default: random; printed, to replay a run).")
    var seed: UInt64?

    @Option(help: "Most seconds to wait at the end for the ledger to catch up.")
    var drainTimeout: Double = 300

    @Option(help: "Seconds between checkpoints: faults pause until the log holds every event confirmed before.")
    var checkpointEvery: Double = 120

    @Option(help: "Most seconds a checkpoint may take; a longer one means the service is stuck, and fails the run.")
    var checkpointTimeout: Double = 60

    @Option(help: "--batch-size of the serve child.")
    var batchSize: Int = 500

    @Flag(help: "Print the totals as JSON.")
    var json = false

    @Flag(help: "Keep the state directory (PostgreSQL data, serve.log) even when the run passes.")
    var keep = false

    func validate() throws {
        guard minutes > 0 else { throw ValidationError("--minutes must be positive") }
        guard rate >= 1 && rate <= 20_000 else { throw ValidationError("--rate must be 1...20000") }
        guard invalidShare >= 0 && invalidShare <= 0.5 else { throw ValidationError("--invalid-share must be 0...0.5") }
        guard faultInterval >= 0.5 else { throw ValidationError("--fault-interval must be at least 0.5") }
        guard batchSize > 0 && batchSize <= 50_000 else { throw ValidationError("--batch-size must be 1...50000") }
        guard checkpointEvery >= 10 else { throw ValidationError("--checkpoint-every must be at least 10") }
        guard checkpointTimeout >= 10 else { throw ValidationError("--checkpoint-timeout must be at least 10") }
    }

    func run() throws {
        LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
        var logger = Logger(label: "mlledger.soak")
        logger.logLevel = .warning
        let seed = self.seed ?? UInt64.random(in: 0...UInt64.max)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mlledger-soak-\(getpid())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let say = SoakLog(start: Date())
        say("seed \(seed); state in \(dir); serve log \(dir)/serve.log")

        let pg = try EmbeddedPostgres(dataDirectory: dir + "/pg", database: "mlledger", logger: logger)
        let url = try pg.start()
        let cluster = try EmbeddedKafkaCluster(brokers: 3)
        let topic = "mlops.events"
        try cluster.createTopic(topic, partitions: 6)
        try cluster.createTopic(topic + ".dlq", partitions: 1)

        let db = try LedgerDatabase(url: url)
        try db.migrate()
        let ledgerKey = Ed25519PrivateKey.generate()
        try KeyFiles.writePrivateKey(ledgerKey, to: dir + "/ledger.key")
        let identity = LedgerIdentity(key: ledgerKey, origin: "soak.mlledger/\(getpid())")
        try identity.ensureGenesis(db)
        let producerKey = Ed25519PrivateKey.generate()
        try TrustAdmin(identity: identity).trust(producerKey.publicKey, name: "soak-producer", scope: TrustScope(), in: db)

        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let serve = SoakServe(executable: exe, arguments: [
            "serve", "--brokers", cluster.bootstrapServers, "--topic", topic, "--group", "mlledger-soak",
            "--database-url", url, "--ledger-key", dir + "/ledger.key", "--batch-size", String(batchSize),
            "--log-level", "notice", "--kafka-option", "session.timeout.ms=3000",
            "--kafka-option", "heartbeat.interval.ms=250", "--kafka-option", "reconnect.backoff.max.ms=1000",
        ], logPath: dir + "/serve.log", say: say)
        try serve.start()

        let traffic = try SoakTraffic(bootstrapServers: cluster.bootstrapServers, topic: topic, key: producerKey,
                                      rate: rate, invalidShare: invalidShare, seed: seed &+ 1)
        traffic.start()
        let monitor = SoakMonitor(url: url, traffic: traffic, say: say)
        monitor.start()

        let interrupted = SoakFlag()
        let signalSources = [SIGINT, SIGTERM].map { sig -> DispatchSourceSignal in
            signal(sig, SIG_IGN)
            let s = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            s.setEventHandler {
                say("signal \(sig): ending the fault phase early")
                interrupted.set()
            }
            s.resume()
            return s
        }
        defer { signalSources.forEach { $0.cancel() } }

        // The fault phase.
        var random = SoakRandom(seed: seed)
        var faults = SoakFaultCounts()
        let faultEnd = Date().addingTimeInterval(minutes * 60)
        var nextProgress = Date().addingTimeInterval(30)
        var nextCheckpoint = Date().addingTimeInterval(checkpointEvery)
        var checkpoints = SoakCheckpoints()
        let reader = SoakReader(db: db)
        while Date() < faultEnd && !interrupted.isSet {
            if Date() >= nextCheckpoint {
                checkpoint(&checkpoints, reader: reader, traffic: traffic, interrupted: interrupted, say: say)
                nextCheckpoint = Date().addingTimeInterval(checkpointEvery)
            }
            let pause = random.seconds(faultInterval * 0.3...faultInterval * 1.7)
            let wake = min(faultEnd, Date().addingTimeInterval(pause))
            while Date() < wake && !interrupted.isSet { Thread.sleep(forTimeInterval: 0.1) }
            if Date() >= nextProgress {
                say("sent \(traffic.sentCount) (+\(traffic.invalidCount) invalid), log \(reader.producerEntries() ?? -1), faults \(faults.total)")
                nextProgress = Date().addingTimeInterval(30)
            }
            guard Date() < faultEnd && !interrupted.isSet else { break }
            try inject(&random, &faults, serve: serve, cluster: cluster, pg: pg, traffic: traffic, say: say)
        }

        // Back to health, then let the ledger catch up.
        say("fault phase over (\(faults.total) faults); restoring and draining")
        for api in SoakFaults.requestErrorAPIs { cluster.clearRequestErrors(apiKey: api) }
        for b: Int32 in 1...3 { try? cluster.setBrokerUp(b) }
        traffic.stop()
        serve.ensureRunning()
        let sent = traffic.sentIDs
        let invalid = traffic.invalidCount
        let drainStart = Date()
        var lastChange = Date()
        var last: (Int, Int) = (-1, -1)
        while Date().timeIntervalSince(drainStart) < drainTimeout {
            serve.ensureRunning()
            let now = (reader.producerEntries() ?? -1, reader.quarantined() ?? -1)
            if now != last { lastChange = Date() }
            last = now
            let caughtUp = now.0 >= sent.count && now.1 >= invalid
            if caughtUp && Date().timeIntervalSince(lastChange) >= 3 { break }
            if !caughtUp && Date().timeIntervalSince(lastChange) >= 120 {
                say("no progress for 120 s (log \(now.0) of \(sent.count) sent); giving up the drain")
                break
            }
            Thread.sleep(forTimeInterval: 0.5)
        }
        say("drained in \(Int(Date().timeIntervalSince(drainStart))) s")
        monitor.stop()
        serve.stop()

        // Count from the log.
        var totals = try SoakTotals.count(db: db, sent: sent, invalidSent: invalid, traffic: traffic, faults: faults,
                                          serve: serve, seed: seed, minutes: minutes, say: say)
        totals.longestStall = monitor.longestStall
        totals.checkpoints = checkpoints
        db.connection.close()
        cluster.close()
        pg.stop()
        let ok = totals.ok
        if ok && !keep {
            try? FileManager.default.removeItem(atPath: dir)
        } else {
            say("state kept in \(dir)")
        }
        if json {
            Output.json(totals.json)
        } else {
            for line in totals.lines { Output.print(line) }
        }
        if !ok { throw ExitCode(1) }
    }

    /// A pause in the faults: the log must come to hold every event confirmed before it within `checkpointTimeout`.
    /// Recovering from any one fault takes seconds; a service that does not catch up is stuck, which the totals
    /// alone would not show if a later fault (a SIGKILL) happened to unstick it.
    private func checkpoint(_ checkpoints: inout SoakCheckpoints, reader: SoakReader, traffic: SoakTraffic,
                            interrupted: SoakFlag, say: SoakLog) {
        let target = traffic.sentCount
        let started = Date()
        var logged = reader.producerEntries() ?? -1
        while logged < target && Date().timeIntervalSince(started) < checkpointTimeout && !interrupted.isSet {
            Thread.sleep(forTimeInterval: 0.25)
            logged = reader.producerEntries() ?? logged
        }
        let took = Date().timeIntervalSince(started)
        checkpoints.slowest = max(checkpoints.slowest, took)
        if logged >= target {
            checkpoints.passed += 1
            say("checkpoint: the log holds all \(target) events confirmed so far (\(String(format: "%.1f", took)) s)")
        } else if !interrupted.isSet {
            checkpoints.missed += 1
            say("checkpoint MISSED: the log holds \(logged) of \(target) events after \(Int(took)) s without faults; the service is stuck (see serve.log)")
        }
    }

    /// Picks a fault at random and injects it (blocking for its duration).
    private func inject(_ random: inout SoakRandom, _ faults: inout SoakFaultCounts, serve: SoakServe,
                        cluster: EmbeddedKafkaCluster, pg: EmbeddedPostgres, traffic: SoakTraffic, say: SoakLog) throws {
        let roll = random.unit()
        switch roll {
        case ..<0.30:
            faults.sigkill += 1
            let after = random.seconds(0...2)
            say("fault: SIGKILL serve, restart after \(String(format: "%.1f", after))s")
            serve.killAndRestart(after: after)
        case ..<0.50:
            faults.brokerDown += 1
            var brokers: [Int32] = [Int32.random(in: 1...3, using: &random)]
            if random.unit() < 0.2 { brokers.append(brokers[0] % 3 + 1) }
            let down = random.seconds(1...8)
            say("fault: broker(s) \(brokers) down for \(String(format: "%.1f", down))s")
            for b in brokers { try cluster.setBrokerDown(b) }
            Thread.sleep(forTimeInterval: down)
            for b in brokers { try cluster.setBrokerUp(b) }
        case ..<0.70:
            faults.requestErrors += 1
            let api = SoakFaults.requestErrorAPIs.randomElement(using: &random)!
            let choices = SoakFaults.retriable[api]!
            let codes = (0..<Int.random(in: 1...8, using: &random)).map { _ in choices.randomElement(using: &random)! }
            say("fault: \(codes.count) request error(s) on API \(api): \(codes)")
            cluster.pushRequestErrors(apiKey: api, errors: codes)
        case ..<0.85:
            faults.postgresRestart += 1
            let mode: EmbeddedPostgres.ShutdownMode = random.unit() < 0.5 ? .fast : .immediate
            let down = random.seconds(0...5)
            say("fault: PostgreSQL restart (\(mode.rawValue)), down for \(String(format: "%.1f", down))s")
            try pg.restart(mode: mode, downFor: down)
        default:
            faults.resend += 1
            let n = Int.random(in: 1...200, using: &random)
            let resent = traffic.resend(count: n, using: &random)
            say("fault: producer resent \(resent) envelope(s) already delivered")
        }
    }
}

/// The faults' request-error catalogue: retriable codes per API.
enum SoakFaults {
    static let requestErrorAPIs: [Int16] = [KafkaAPIKey.produce, KafkaAPIKey.fetch, KafkaAPIKey.offsetCommit,
                                            KafkaAPIKey.heartbeat]
    static let retriable: [Int16: [Int32]] = [
        KafkaAPIKey.produce: [KafkaErrorCode.notLeaderForPartition, KafkaErrorCode.requestTimedOut,
                              KafkaErrorCode.notEnoughReplicas, KafkaErrorCode.leaderNotAvailable],
        KafkaAPIKey.fetch: [KafkaErrorCode.notLeaderForPartition, KafkaErrorCode.requestTimedOut,
                            KafkaErrorCode.leaderNotAvailable],
        KafkaAPIKey.offsetCommit: [KafkaErrorCode.requestTimedOut, KafkaErrorCode.notCoordinator,
                                   KafkaErrorCode.coordinatorNotAvailable],
        KafkaAPIKey.heartbeat: [KafkaErrorCode.rebalanceInProgress, KafkaErrorCode.notCoordinator],
    ]
}

struct SoakCheckpoints {
    var passed = 0
    var missed = 0
    /// Seconds the slowest checkpoint took to catch up.
    var slowest: Double = 0
}

struct SoakFaultCounts {
    var sigkill = 0
    var brokerDown = 0
    var requestErrors = 0
    var postgresRestart = 0
    var resend = 0
    var total: Int { sigkill + brokerDown + requestErrors + postgresRestart + resend }
}

/// SplitMix64: the soak's schedule is reproducible from its seed.
struct SoakRandom: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    mutating func unit() -> Double { Double.random(in: 0..<1, using: &self) }
    mutating func seconds(_ range: ClosedRange<Double>) -> Double { Double.random(in: range, using: &self) }
}

/// Progress lines on stderr, stamped with the time since the start.
struct SoakLog: Sendable {
    let start: Date
    func callAsFunction(_ line: String) {
        let t = Int(Date().timeIntervalSince(start))
        Output.note(String(format: "[soak %02d:%02d] ", t / 60, t % 60) + line)
    }
}

final class SoakFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    func set() { lock.withLock { value = true } }
    var isSet: Bool { lock.withLock { value } }
}

/// Counting queries on the soak's database (nil while it is restarting).
struct SoakReader {
    let db: LedgerDatabase

    private func scalar(_ sql: String) -> Int? {
        for attempt in 0..<2 {
            do {
                return Int(try db.connection.query(sql).first?.int64(0) ?? 0)
            } catch {
                if attempt == 0 { try? db.connection.reconnect() }
            }
        }
        return nil
    }

    func producerEntries() -> Int? { scalar("SELECT count(*)::bigint FROM ledger.entries WHERE type LIKE 'mlops.%'") }
    func quarantined() -> Int? { scalar("SELECT count(*)::bigint FROM ledger.quarantine") }
}

/// Watches liveness on a connection of its own: once a second, whether the log grew while confirmed events were
/// waiting. A fault delays ingest for seconds (a broker down for up to 8 s, PostgreSQL for up to 5 s, a group
/// rebalance, a restart); a much longer stall is a service that was stuck until some later fault (a SIGKILL)
/// happened to unstick it, which the totals alone would not show. Reported; the checkpoints are what fails a run.
final class SoakMonitor: @unchecked Sendable {
    private let url: String
    private let traffic: SoakTraffic
    private let say: SoakLog
    private let lock = NSLock()
    private var longest: Double = 0
    private let stopped = SoakFlag()
    private let finished = DispatchSemaphore(value: 0)

    init(url: String, traffic: SoakTraffic, say: SoakLog) {
        self.url = url
        self.traffic = traffic
        self.say = say
    }

    var longestStall: Double { lock.withLock { longest } }

    func start() {
        let t = Thread { [self] in
            watch()
            finished.signal()
        }
        t.name = "soak-monitor"
        t.start()
    }

    func stop() {
        stopped.set()
        finished.wait()
    }

    private func watch() {
        let db = try? LedgerDatabase(url: url)
        defer { db?.connection.close() }
        let reader = db.map(SoakReader.init)
        var logged = -1
        var stallStart: Date?
        var reported = false
        while !stopped.isSet {
            Thread.sleep(forTimeInterval: 1)
            let waiting = traffic.sentCount
            if let now = reader?.producerEntries(), now != logged {
                logged = now
                stallStart = nil
                reported = false
            }
            guard logged >= 0, waiting > logged else {
                stallStart = nil
                continue
            }
            let since = stallStart ?? Date()
            stallStart = since
            let stall = Date().timeIntervalSince(since)
            lock.withLock { longest = max(longest, stall) }
            if stall >= 60 && !reported {
                say("no progress for 60 s with \(waiting - logged) event(s) waiting (see serve.log)")
                reported = true
            }
        }
    }
}

/// The `mlledger serve` child: started, SIGKILLed and restarted by the fault thread; restarted by `ensureRunning`
/// (with the exit counted) when it exits by itself, e.g. when it starts while PostgreSQL is down.
final class SoakServe: @unchecked Sendable {
    private let executable: String
    private let arguments: [String]
    private let logPath: String
    private let say: SoakLog
    private let lock = NSLock()
    private var process: Process?
    private(set) var starts = 0
    private(set) var unexpectedExits = 0
    private let supervisor = SoakFlag()

    init(executable: String, arguments: [String], logPath: String, say: SoakLog) {
        self.executable = executable
        self.arguments = arguments
        self.logPath = logPath
        self.say = say
    }

    /// Starts the child and a supervisor that restarts it whenever it exited by itself.
    func start() throws {
        try lock.withLock { try launch() }
        let t = Thread { [self] in
            while !supervisor.isSet {
                Thread.sleep(forTimeInterval: 0.5)
                if !supervisor.isSet { ensureRunning() }
            }
        }
        t.name = "soak-supervisor"
        t.start()
    }

    private func launch() throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = arguments
        p.standardInput = FileHandle.nullDevice
        p.standardOutput = FileHandle.nullDevice
        let fd = open(logPath, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        guard fd >= 0 else { throw CLIError("cannot open \(logPath): \(String(cString: strerror(errno)))") }
        let log = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
        p.standardError = log
        try p.run()
        try? log.close()
        process = p
        starts += 1
    }

    /// Restarts the child if it is not running (counting an unexpected exit).
    func ensureRunning() {
        lock.withLock {
            if let p = process, p.isRunning { return }
            if let p = process {
                p.waitUntilExit()
                unexpectedExits += 1
                say("serve exited by itself (status \(p.terminationStatus)); restarting")
            }
            process = nil
            Thread.sleep(forTimeInterval: 1)
            do { try launch() } catch { say("cannot restart serve: \(error)") }
        }
    }

    func killAndRestart(after delay: TimeInterval) {
        lock.withLock {
            if let p = process {
                kill(p.processIdentifier, SIGKILL)
                p.waitUntilExit()
                process = nil
            }
            Thread.sleep(forTimeInterval: delay)
            do { try launch() } catch { say("cannot restart serve: \(error)") }
        }
    }

    /// Stops the supervisor and the child (SIGTERM, SIGKILL after 30 s).
    func stop() {
        supervisor.set()
        lock.withLock {
            guard let p = process else { return }
            p.terminate()
            let deadline = Date().addingTimeInterval(30)
            while p.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
            if p.isRunning { kill(p.processIdentifier, SIGKILL) }
            p.waitUntilExit()
            process = nil
        }
    }
}

/// The producer: a steady stream of signed catalog events at `rate` per second, plus a share of invalid messages,
/// on its own thread. A valid event counts as sent once a delivery report confirms it; one whose delivery failed is
/// sent again until confirmed (a producer's retry). Invalid messages are sent once and counted when confirmed.
final class SoakTraffic: @unchecked Sendable {
    typealias Message = (topic: String, key: [UInt8]?, value: [UInt8], headers: [KafkaHeader])

    private let bootstrapServers: String
    private let topic: String
    private let signer: EnvelopeSigner
    private let stranger = EnvelopeSigner(key: Ed25519PrivateKey.generate())
    private let rate: Int
    private let invalidShare: Double
    private var random: SoakRandom
    private var producer: KafkaProducer
    private let lock = NSLock()
    // Guarded by lock:
    private var sent: [String] = []
    private var recent: [Message] = []  // a ring of delivered valid envelopes, for resends
    private var recentNext = 0
    private var invalid = 0
    private var invalidUncertain = 0
    private var retries = 0
    private var resends = 0
    private var producersCreated = 1
    private var stopRequested = false
    private let finished = DispatchSemaphore(value: 0)

    static let recentCapacity = 20_000

    init(bootstrapServers: String, topic: String, key: Ed25519PrivateKey, rate: Int, invalidShare: Double,
         seed: UInt64) throws {
        self.bootstrapServers = bootstrapServers
        self.topic = topic
        self.signer = EnvelopeSigner(key: key)
        self.rate = rate
        self.invalidShare = invalidShare
        self.random = SoakRandom(seed: seed)
        self.producer = try Self.makeProducer(bootstrapServers)
    }

    private static func makeProducer(_ bootstrapServers: String) throws -> KafkaProducer {
        try KafkaProducer(bootstrapServers: bootstrapServers, config: ["reconnect.backoff.max.ms": "1000"])
    }

    var sentCount: Int { lock.withLock { sent.count } }
    var sentIDs: [String] { lock.withLock { sent } }
    var invalidCount: Int { lock.withLock { invalid } }
    var invalidUncertainCount: Int { lock.withLock { invalidUncertain } }
    var retried: Int { lock.withLock { retries } }
    var resent: Int { lock.withLock { resends } }
    var producers: Int { lock.withLock { producersCreated } }

    func start() {
        let t = Thread { [self] in
            loop()
            finished.signal()
        }
        t.name = "soak-traffic"
        t.start()
    }

    /// Stops producing new events; returns when the last ones are confirmed (or after 2 minutes of retrying).
    func stop() {
        lock.withLock { stopRequested = true }
        finished.wait()
        currentProducer().close()
    }

    private func currentProducer() -> KafkaProducer { lock.withLock { producer } }

    private func loop() {
        let tick = 0.1
        var pending: [(id: String?, message: Message)] = []
        var carry = 0.0
        var n = 0
        var stopDeadline: Date?
        while true {
            let stopping = lock.withLock { stopRequested }
            if stopping {
                if pending.isEmpty { return }
                if stopDeadline == nil { stopDeadline = Date().addingTimeInterval(120) }
                if Date() > stopDeadline! { return }
            }
            let tickStart = Date()
            if !stopping {
                carry += Double(rate) * tick
                let count = Int(carry)
                carry -= Double(count)
                for _ in 0..<count {
                    if random.unit() < invalidShare { pending.append((nil, invalidMessage(n))) }
                    pending.append(validMessage(n))
                    n += 1
                }
            }
            if !pending.isEmpty { pending = send(pending) }
            let spent = Date().timeIntervalSince(tickStart)
            if spent < tick { Thread.sleep(forTimeInterval: tick - spent) }
        }
    }

    /// Sends and returns what must be sent again.
    private func send(_ batch: [(id: String?, message: Message)]) -> [(id: String?, message: Message)] {
        let p = currentProducer()
        let results: [Result<KafkaDeliveryReport, KafkaError>]
        do {
            results = try p.sendMany(batch.map(\.message), timeout: .seconds(30))
        } catch {
            // Closed or fatal: a new producer resends everything of this batch.
            if let fresh = try? Self.makeProducer(bootstrapServers) {
                lock.withLock {
                    producer = fresh
                    producersCreated += 1
                    retries += batch.count
                }
                p.close(flushTimeout: .zero)
            }
            Thread.sleep(forTimeInterval: 0.5)
            return batch
        }
        var again: [(id: String?, message: Message)] = []
        lock.withLock {
            for (item, result) in zip(batch, results) {
                switch (item.id, result) {
                case (let id?, .success):
                    sent.append(id)
                    if recent.count < Self.recentCapacity {
                        recent.append(item.message)
                    } else {
                        recent[recentNext] = item.message
                        recentNext = (recentNext + 1) % Self.recentCapacity
                    }
                case (.some, .failure):
                    again.append(item)
                    retries += 1
                case (nil, .success):
                    invalid += 1
                case (nil, .failure):
                    invalidUncertain += 1
                }
            }
        }
        if !again.isEmpty { Thread.sleep(forTimeInterval: 0.2) }
        return again
    }

    /// Sends `count` random envelopes that were already delivered once more, half of them under another key (so to
    /// another partition). Returns how many were confirmed.
    func resend(count: Int, using random: inout SoakRandom) -> Int {
        let picks: [Message] = lock.withLock {
            guard !recent.isEmpty else { return [] }
            return (0..<count).map { _ in recent[Int.random(in: 0..<recent.count, using: &random)] }
        }
        let messages = picks.enumerated().map { i, m -> Message in
            i % 2 == 0 ? m : (m.topic, Array("resend/\(i)".utf8), m.value, m.headers)
        }
        guard let results = try? currentProducer().sendMany(messages, timeout: .seconds(30)) else { return 0 }
        let delivered = results.filter { if case .success = $0 { return true } else { return false } }.count
        lock.withLock { resends += delivered }
        return delivered
    }

    private func validMessage(_ n: Int) -> (id: String?, message: Message) {
        let steps = DemoStory.steps(run: "s\(n / 7)")
        let step = steps[n % steps.count]
        let id = EventIDs.uuidV7()
        let envelope = DemoStory.envelope(step, id: id, time: EventTime.format(micros: LedgerIdentity.nowMicros()),
                                          signer: signer)
        return (id, (topic, Array(step.subject.utf8), envelope, []))
    }

    private func invalidMessage(_ n: Int) -> Message {
        let value: [UInt8]
        switch n % 4 {
        case 0:
            value = Array("soak: not an envelope #\(n)".utf8)
        case 1:
            value = DemoStory.envelope(DemoStory.steps(run: "x\(n)")[2], id: EventIDs.uuidV7(),
                                       time: EventTime.format(micros: LedgerIdentity.nowMicros()), signer: stranger)
        case 2:
            // A valid envelope whose payload changed after signing.
            let original = validMessage(n).message.value
            if var envelope = try? DSSEEnvelope.parse(original) {
                envelope.payload[envelope.payload.count - 5] ^= 0x01
                value = envelope.serialized()
            } else {
                value = Array("soak: unparsable #\(n)".utf8)
            }
        default:
            let attributes = CloudEvent.make(id: EventIDs.uuidV7(), source: "ci://soak/invalid", type: "mlops.coffee.brewed",
                                             subject: "pot/\(n)", time: EventTime.format(micros: LedgerIdentity.nowMicros()),
                                             data: ["cups": 2])
            value = signer.envelope(for: attributes).envelope
        }
        return (topic, Array("invalid/\(n)".utf8), value, [])
    }
}

/// What the soak counts at the end, from the log itself.
struct SoakTotals {
    var seed: UInt64
    var minutes: Double
    var sent: Int
    var invalidSent: Int
    var invalidUncertain: Int
    var appended: Int
    var quarantined: Int
    var quarantineReasons: [(String, Int)]
    var lost: Int
    var doubled: Int
    var unexpected: Int
    var redelivered: Int
    var resent: Int
    var producerRetries: Int
    var faults: SoakFaultCounts
    var serveStarts: Int
    var serveUnexpectedExits: Int
    var logSize: UInt64
    var auditOK: Bool
    var auditFailures: [String]
    /// The longest time the log did not grow while confirmed events were waiting, in seconds.
    var longestStall: Double = 0
    var checkpoints = SoakCheckpoints()

    var ok: Bool { lost == 0 && doubled == 0 && auditOK && checkpoints.missed == 0 }

    static func count(db: LedgerDatabase, sent: [String], invalidSent: Int, traffic: SoakTraffic,
                      faults: SoakFaultCounts, serve: SoakServe, seed: UInt64, minutes: Double, say: SoakLog) throws -> SoakTotals {
        try? db.connection.reconnect()
        let c = db.connection
        let logged = try c.query("SELECT event_id FROM ledger.entries WHERE type LIKE 'mlops.%'").map { $0.string(0)! }
        let loggedSet = Set(logged)
        let sentSet = Set(sent)
        let doubles = try c.query("""
            SELECT (count(*) - count(DISTINCT (source, event_id)))::bigint, (count(*) - count(DISTINCT leaf_hash))::bigint
            FROM ledger.entries WHERE type LIKE 'mlops.%'
            """).first
        let reasons = try c.query("SELECT reason, count(*)::bigint FROM ledger.quarantine GROUP BY reason ORDER BY reason")
            .map { ($0.string(0)!, Int($0.int64(1)!)) }
        let redelivered = try c.query("SELECT coalesce(sum(count), 0)::bigint FROM ledger.redeliveries").first?.int64(0) ?? 0
        say("running audit verify")
        let report = try AuditVerifier().verify(db)
        return SoakTotals(
            seed: seed, minutes: minutes, sent: sentSet.count, invalidSent: invalidSent,
            invalidUncertain: traffic.invalidUncertainCount, appended: logged.count,
            quarantined: reasons.reduce(0) { $0 + $1.1 }, quarantineReasons: reasons,
            lost: sentSet.subtracting(loggedSet).count,
            doubled: Int(doubles?.int64(0) ?? 0) + Int(doubles?.int64(1) ?? 0),
            unexpected: loggedSet.subtracting(sentSet).count, redelivered: Int(redelivered), resent: traffic.resent,
            producerRetries: traffic.retried, faults: faults, serveStarts: serve.starts,
            serveUnexpectedExits: serve.unexpectedExits, logSize: report.entries, auditOK: report.ok,
            auditFailures: report.failures.prefix(5).map { "\($0.idx.map(String.init) ?? "-"): \($0.reason)" })
    }

    var lines: [String] {
        var out = [
            "soak: \(String(format: "%g", minutes)) min of faults, seed \(seed)",
            "  sent         \(sent) valid (distinct, delivery confirmed), \(invalidSent) invalid"
                + (invalidUncertain > 0 ? " (+\(invalidUncertain) of uncertain delivery)" : ""),
            "  appended     \(appended)",
            "  quarantined  \(quarantined)" + (quarantineReasons.isEmpty ? "" : " ("
                + quarantineReasons.map { "\($0.0) \($0.1)" }.joined(separator: ", ") + ")"),
            "  lost         \(lost)",
            "  doubled      \(doubled)",
            "  unexpected   \(unexpected) (in the log, never confirmed sent)",
            "  redelivered  \(redelivered) (resent \(resent) on purpose, \(producerRetries) producer retries)",
            "  faults       \(faults.total): SIGKILL \(faults.sigkill), broker down \(faults.brokerDown), request errors "
                + "\(faults.requestErrors), PostgreSQL restart \(faults.postgresRestart), resend \(faults.resend)",
            "  serve        \(serveStarts) starts, \(serveUnexpectedExits) exited by themselves",
            "  checkpoints  \(checkpoints.passed) caught up (slowest \(String(format: "%.1f", checkpoints.slowest)) s), "
                + "\(checkpoints.missed) missed" + (checkpoints.missed > 0 ? " (the service was stuck)" : ""),
            "  longest stall \(String(format: "%.0f", longestStall)) s without progress while events waited",
            "  audit verify " + (auditOK ? "OK (\(logSize) entries)" : "FAILED: \(auditFailures.joined(separator: "; "))"),
        ]
        out.append(ok ? "PASS: nothing lost or doubled" : "FAIL")
        return out
    }

    var json: JSONValue {
        func n(_ v: Int) -> JSONValue { .number(JSONNumber(v)) }
        return .object(JSONObject([
            "ok": .bool(ok),
            "seed": .string(String(seed)),
            "minutes": .number(JSONNumber(minutes)),
            "sent": n(sent),
            "invalid_sent": n(invalidSent),
            "invalid_uncertain": n(invalidUncertain),
            "appended": n(appended),
            "quarantined": n(quarantined),
            "quarantine_reasons": .object(JSONObject(quarantineReasons.map { JSONObject.Member(key: $0.0, value: n($0.1)) })),
            "lost": n(lost),
            "doubled": n(doubled),
            "unexpected": n(unexpected),
            "redelivered": n(redelivered),
            "resent": n(resent),
            "producer_retries": n(producerRetries),
            "faults": .object(JSONObject([
                "total": n(faults.total), "sigkill": n(faults.sigkill), "broker_down": n(faults.brokerDown),
                "request_errors": n(faults.requestErrors), "postgres_restart": n(faults.postgresRestart),
                "resend": n(faults.resend),
            ])),
            "serve_starts": n(serveStarts),
            "serve_unexpected_exits": n(serveUnexpectedExits),
            "checkpoints": .object(JSONObject([
                "passed": n(checkpoints.passed), "missed": n(checkpoints.missed),
                "slowest_s": .number(JSONNumber((checkpoints.slowest * 10).rounded() / 10)),
            ])),
            "longest_stall_s": .number(JSONNumber((longestStall * 10).rounded() / 10)),
            "audit_ok": .bool(auditOK),
            "audit_failures": .array(auditFailures.map(JSONValue.string)),
            "log_size": .number(JSONNumber(Int64(logSize))),
        ]))
    }
}
