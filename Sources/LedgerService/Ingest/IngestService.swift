import Dispatch
import Foundation
import LedgerCore
import LedgerCrypto
import LedgerKafka
import LedgerPolicy
import LedgerStore
import Logging

/// How `mlledger serve` consumes and where it writes.
public struct IngestConfiguration: Sendable {
    public var bootstrapServers: String
    public var topic: String
    public var groupID: String
    /// libpq URL; nil uses PG* environment variables.
    public var databaseURL: String?
    /// At most this many messages per append transaction.
    public var batchSize: Int
    /// Extra librdkafka consumer properties.
    public var consumerConfig: [String: String]
    /// librdkafka consumer properties the service sets unless `consumerConfig` overrides them. A broker holds a fetch
    /// for at most `fetch.wait.max.ms` when it has nothing new; 25 ms keeps produce-to-commit latency low. The local
    /// prefetch queue is capped at 16 MiB (librdkafka's default is 64): several seconds of input at the rates the
    /// append sustains, and the service's memory stays well under its 300 MB budget on a backlog.
    public static let consumerDefaults = ["fetch.wait.max.ms": "25", "queued.max.messages.kbytes": "16384"]

    /// Where quarantined records are produced (with the reason in a header); nil turns it off.
    public var deadLetterTopic: String?

    /// The residency policies events are decided with; nil means the shipped ones (`policies/`).
    public var policies: PolicySet?
    /// Whether placements are decided and the decisions appended (the service always does; tests of ingest
    /// mechanics that count entries exactly turn it off).
    public var decidesPolicies = true

    public init(bootstrapServers: String, topic: String = "mlops.events", groupID: String = "mlledger",
                databaseURL: String?, batchSize: Int = 1000, consumerConfig: [String: String] = [:],
                deadLetterTopic: String? = nil) {
        self.bootstrapServers = bootstrapServers
        self.topic = topic
        self.deadLetterTopic = deadLetterTopic
        self.groupID = groupID
        self.databaseURL = databaseURL
        self.batchSize = batchSize
        self.consumerConfig = consumerConfig
    }
}

/// Running totals, for progress output and tests.
public struct IngestStats: Sendable, Equatable {
    public var batches = 0
    public var appended = 0
    public var quarantined = 0
    public var redelivered = 0
    public var skipped = 0
    public var logSize: UInt64 = 0
}

/// The ingest pipeline (DESIGN.md, Data flow): consume a batch, verify every envelope on all cores, then in ONE
/// transaction append the accepted ones, quarantine the rest and store the consumer's next offsets.
/// `run()` blocks its thread until `stop()`; a database outage is waited out with backoff, never skipped.
public final class IngestService: @unchecked Sendable {
    public let configuration: IngestConfiguration
    public let identity: LedgerIdentity
    private let logger: Logger
    private let state = NSLock()
    private var stopped = false
    private var _stats = IngestStats()
    private var database: LedgerDatabase?
    private var keyRing = KeyRing()
    private var ringVersion: Int64 = -1
    private var ready = false
    private var notReadyReason = "starting"
    private let metrics = IngestMetrics()
    /// Signs C2SP checkpoints as the log grows (every N entries), right after the batch that crossed the mark.
    public var checkpointSigner: CheckpointSigner?

    public init(configuration: IngestConfiguration, identity: LedgerIdentity, logger: Logger) {
        self.configuration = configuration
        self.identity = identity
        self.logger = logger
    }

    public var stats: IngestStats {
        state.lock()
        defer { state.unlock() }
        return _stats
    }

    /// Whether the service is consuming and its database accepts appends; when not, why (for /readyz).
    public var readiness: (ready: Bool, reason: String) {
        state.lock()
        defer { state.unlock() }
        return (ready && !stopped, stopped ? "stopping" : notReadyReason)
    }

    private func setReady(_ value: Bool, _ reason: String = "") {
        state.lock()
        ready = value
        notReadyReason = reason
        state.unlock()
    }

    public func stop() {
        state.lock()
        stopped = true
        state.unlock()
    }

    private var isStopped: Bool {
        state.lock()
        defer { state.unlock() }
        return stopped
    }

    /// Connects (retrying), migrates, checks the genesis, then consumes until `stop()`.
    ///
    /// Three stages overlap (DESIGN.md, Data flow): this thread polls Kafka, a verifier thread checks each batch
    /// on all cores, and a writer thread appends it in one transaction. At most two batches wait between stages.
    /// A revocation waits until every batch in flight has committed, so a partition's next owner starts after them.
    public func run() throws {
        let db = try connectWithRetry()
        guard !isStopped else { return }
        let decider = configuration.decidesPolicies
            ? PolicyDecider(policies: try configuration.policies ?? PolicySet.shipped(), identity: identity) : nil
        try LedgerSetup.prepare(db, decider: decider) { [logger] name, done, total in
            if done == total { logger.info("projection \(name) built through \(total) entries") }
        }
        try identity.ensureGenesis(db)
        try decider?.activate(in: db)
        try reloadKeyRing(db)
        database = db
        // The consumer side reads offsets on its own connection, never inside the writer's transaction.
        let offsetsDB = try connectWithRetry()
        defer { offsetsDB.connection.close() }
        let config = configuration
        let pipeline = IngestPipeline()
        let consumer = try KafkaConsumer(
            bootstrapServers: config.bootstrapServers, groupID: config.groupID, topics: [config.topic],
            config: IngestConfiguration.consumerDefaults.merging(config.consumerConfig) { $1 },
            startOffsets: { [logger] partitions in
                // Throwing makes the consumer retry the assignment with backoff; reconnect first, so that a
                // PostgreSQL restart is recovered from rather than retried on a dead connection.
                let stored: [TopicPartition: Int64]
                do {
                    stored = try offsetsDB.storedOffsets(group: config.groupID, topic: config.topic)
                } catch {
                    logger.warning("reading stored offsets failed, will retry: \(error)")
                    if !offsetsDB.connection.isHealthy || (error as? PostgresError)?.isConnectionFailure == true {
                        try? offsetsDB.connection.reconnect()
                    }
                    throw error
                }
                var out: [KafkaTopicPartition: Int64?] = [:]
                for p in partitions {
                    out[p] = stored[TopicPartition(topic: p.topic, partition: p.partition)]
                }
                logger.info("assigned partitions", metadata: [
                    "partitions": "\(partitions.map { "\($0.topic)[\($0.partition)]@\((out[$0] ?? nil).map(String.init) ?? "start")" }.sorted())",
                ])
                return out
            },
            onRevoke: { [logger] partitions in
                logger.info("partitions revoked; waiting for batches in flight", metadata: ["count": "\(partitions.count)"])
                pipeline.waitUntilIdle()
            })
        let outOfRange = PartitionList()
        consumer.onError = { [logger] error in
            if error.code == KafkaErrorCode.autoOffsetReset, let tp = error.topicPartition {
                outOfRange.add(tp)
            } else {
                logger.warning("kafka: \(error)")
            }
        }
        defer { consumer.close() }
        let deadLetters = try config.deadLetterTopic.map {
            DeadLetterOutbox(topic: $0, producer: try KafkaProducer(bootstrapServers: config.bootstrapServers), logger: logger)
        }
        defer { deadLetters?.close() }
        deadLetters?.drain(db)

        let verifierThread = Thread { [self] in
            while let batch = pipeline.toVerify.pop() {
                let (ring, version) = currentRing()
                let started = DispatchTime.now().uptimeNanoseconds
                let verdicts = verify(batch, ring: ring)
                let elapsed = DispatchTime.now().uptimeNanoseconds - started
                metrics.verifyLatency.recordNanoseconds(Int64(elapsed))
                metrics.verifyRate.record(Double(batch.count) / max(Double(elapsed) / 1e9, 1e-9))
                pipeline.toWrite.push(VerifiedBatch(messages: batch, verdicts: verdicts, ringVersion: version))
            }
            pipeline.toWrite.close()
        }
        verifierThread.name = "mlledger-verify"
        let writerDone = DispatchSemaphore(value: 0)
        let writerThread = Thread { [self] in
            while var batch = pipeline.toWrite.pop() {
                let quarantinedBefore = stats.quarantined
                if let next = appendWithRetry(&batch, db) {
                    pipeline.committed(next)
                    checkpointSigner?.signIfDue(db, logSize: stats.logSize, logger: logger)
                    if stats.quarantined > quarantinedBefore { deadLetters?.drain(db) }
                } else {
                    pipeline.abandoned()
                }
            }
            writerDone.signal()
        }
        writerThread.name = "mlledger-append"
        verifierThread.start()
        writerThread.start()
        defer {
            pipeline.shutdown()
            writerDone.wait()
        }

        logger.info("consuming", metadata: ["topic": "\(config.topic)", "group": "\(config.groupID)"])
        setReady(true)
        var positions: [KafkaTopicPartition: Int64] = [:]
        while !isStopped {
            let messages = try consumer.poll(maxMessages: config.batchSize, timeout: .milliseconds(100),
                                             linger: .milliseconds(2))
            let done = pipeline.takeCommittedOffsets()
            if !done.isEmpty {
                let next = Dictionary(uniqueKeysWithValues: done.map {
                    (KafkaTopicPartition(topic: $0.key.topic, partition: $0.key.partition), $0.value)
                })
                consumer.commit(next)
                positions.merge(next) { max($0, $1) }
            }
            let highs = consumer.highWatermarks()
            metrics.consumerLag.record(highs.reduce(Int64(0)) { $0 + max(0, $1.value - (positions[$1.key] ?? $1.value)) })
            for tp in outOfRange.take() {
                pipeline.waitUntilIdle()
                do {
                    try restartFromBeginning(tp, consumer, offsetsDB)
                } catch {
                    logger.warning("cannot restart \(tp) from its beginning yet, will retry: \(error)")
                    try? offsetsDB.connection.reconnect()
                    outOfRange.add(tp)
                }
            }
            guard !messages.isEmpty else { continue }
            pipeline.submit(messages.map { m in
                IncomingMessage(value: m.value, key: m.key, headers: m.headers.map { ($0.name, $0.value) },
                                coordinates: KafkaCoordinates(topic: m.topic, partition: m.partition, offset: m.offset))
            })
        }
    }

    /// The key ring and the trust version it reflects, for the verifier stage.
    private func currentRing() -> (KeyRing, Int64) {
        state.lock()
        defer { state.unlock() }
        return (keyRing, ringVersion)
    }

    /// The stored offset of `tp` is outside the partition's log: the topic was recreated (or, with the embedded
    /// cluster, the cluster is new), or retention removed messages before they were consumed. The stored position
    /// no longer names a message, so it is dropped and the partition is read from its first message; anything
    /// already in the log is recognised by (source, id) and recorded once.
    private func restartFromBeginning(_ tp: KafkaTopicPartition, _ consumer: KafkaConsumer, _ db: LedgerDatabase) throws {
        let stored = try db.storedOffsets(group: configuration.groupID, topic: tp.topic)[
            TopicPartition(topic: tp.topic, partition: tp.partition)]
        let position = stored.map(String.init) ?? "none"
        logger.warning("""
            stored offset \(position) of \(tp) is outside the partition's log (topic recreated, new cluster, or \
            retention ran ahead of the ledger); reading the partition from its start
            """)
        try db.connection.query(
            "DELETE FROM ledger.consumer_offsets WHERE group_id = $1 AND topic = $2 AND partition = $3",
            [.text(configuration.groupID), .text(tp.topic), .int32(tp.partition)])
        try consumer.seek(tp, to: KafkaTopicPartition.beginningOffset)
    }

    private func connectWithRetry() throws -> LedgerDatabase {
        var delay = 0.2
        while true {
            let failure: PostgresError
            do {
                return try LedgerDatabase(url: configuration.databaseURL)
            } catch {
                failure = error
            }
            guard failure.isConnectionFailure, !isStopped else { throw failure }
            logger.warning("database unavailable, retrying in \(delay)s: \(failure.message)")
            Thread.sleep(forTimeInterval: delay)
            delay = min(delay * 2, 5)
        }
    }

    private func reloadKeyRing(_ db: LedgerDatabase) throws {
        let ring = try TrustAdmin.keyRing(from: db)
        let version = try db.head().trustVersion
        state.lock()
        keyRing = ring
        ringVersion = version
        state.unlock()
    }

    /// Appends one batch, retrying through database failures until it commits. Returns the next offsets, or nil
    /// when stopped before the batch committed (nothing of it was recorded; Kafka will redeliver it).
    private func appendWithRetry(_ batch: inout VerifiedBatch, _ db: LedgerDatabase) -> [TopicPartition: Int64]? {
        var delay = 0.1
        while true {
            do {
                let started = DispatchTime.now().uptimeNanoseconds
                let next = try append(&batch, db)
                metrics.appendLatency.recordNanoseconds(Int64(DispatchTime.now().uptimeNanoseconds - started))
                if delay > 0.1 { setReady(true) }
                return next
            } catch {
                db.resetCache()
                if isStopped { return nil }
                metrics.appendRetries.increment()
                setReady(false, "appending to PostgreSQL fails: \(error)")
                let transient = (error as? PostgresError)?.isConnectionFailure ?? false
                logger.error("append failed, retrying in \(delay)s: \(error)")
                Thread.sleep(forTimeInterval: delay)
                delay = min(delay * 2, 5)
                if transient || !db.connection.isHealthy {
                    do { try db.connection.reconnect() } catch { logger.warning("reconnect failed: \(error)") }
                }
            }
        }
    }

    /// Verifies every message on all cores.
    func verify(_ batch: [IncomingMessage], ring: KeyRing) -> [MessageVerifier.Verdict] {
        let verifier = MessageVerifier(keyRing: ring)
        return ParallelMap.map(batch) { verifier.check($0) }
    }

    private func append(_ batch: inout VerifiedBatch, _ db: LedgerDatabase) throws -> [TopicPartition: Int64] {
        let group = configuration.groupID
        var next: [TopicPartition: Int64] = [:]
        for m in batch.messages {
            guard let c = m.coordinates else { continue }
            let tp = TopicPartition(topic: c.topic, partition: c.partition)
            next[tp] = max(next[tp] ?? 0, c.offset + 1)
        }
        var reasons: [QuarantineReason] = []
        let outcome = try db.withAppendTransaction { tx -> IngestStats in
            if tx.head.trustVersion != batch.ringVersion {
                // Trust changed since this batch was verified: verify it again under the current ring.
                try reloadKeyRing(db)
                let (ring, version) = currentRing()
                batch.verdicts = verify(batch.messages, ring: ring)
                batch.ringVersion = version
            }
            let keyRing = currentRing().0
            let stored = try tx.storedOffsets(group: group, partitions: Array(next.keys))
            var counts = IngestStats()
            var accepted: [VerifiedEvent] = []
            var quarantined: [QuarantineEntry] = []
            for v in batch.verdicts {
                let coordinates: KafkaCoordinates?
                switch v {
                case .verified(let e): coordinates = e.message.coordinates
                case .quarantined(let q): coordinates = q.kafka
                }
                if let c = coordinates, let s = stored[TopicPartition(topic: c.topic, partition: c.partition)], c.offset < s {
                    counts.skipped += 1  // already consumed by an earlier transaction
                    continue
                }
                switch v {
                case .verified(let e): accepted.append(e)
                case .quarantined(let q): quarantined.append(q)
                }
            }
            let existing = try tx.existing(accepted.map { ($0.event.source, $0.event.id) })
            var inBatch: [String: ExistingEntry] = [:]
            var redelivered: [UInt64] = []
            var entries: [NewEntry] = []
            for e in accepted {
                let key = AppendTransaction.dedupeKey(source: e.event.source, id: e.event.id)
                if let prior = existing[key] ?? inBatch[key] {
                    if prior.leafHash == e.leafHash {
                        redelivered.append(prior.idx)
                    } else {
                        quarantined.append(Self.quarantine(e, .conflictingDuplicate,
                                                           "(source, id) already recorded at index \(prior.idx) with different bytes"))
                    }
                    continue
                }
                let idx = tx.nextIndex + UInt64(entries.count)
                if let reason = keyRing.authorize(keyIDs: e.signerKeyIDs, event: e.event, at: idx) {
                    quarantined.append(Self.quarantine(e, reason, "keyid \(e.signerKeyIDs.joined(separator: ","))"))
                    continue
                }
                inBatch[key] = ExistingEntry(idx: idx, leafHash: e.leafHash)
                entries.append(e.newEntry)
            }
            tx.append(entries)
            reasons = quarantined.map(\.reason)
            try tx.quarantine(quarantined)
            try tx.countRedeliveries(redelivered)
            try tx.storeOffsets(group: group, next)
            counts.appended = entries.count
            counts.quarantined = quarantined.count
            counts.redelivered = redelivered.count
            counts.logSize = tx.nextIndex
            return counts
        }
        state.lock()
        _stats.batches += 1
        _stats.appended += outcome.appended
        _stats.quarantined += outcome.quarantined
        _stats.redelivered += outcome.redelivered
        _stats.skipped += outcome.skipped
        _stats.logSize = outcome.logSize
        state.unlock()
        metrics.batches.increment()
        metrics.batchSize.record(batch.messages.count)
        metrics.appended.increment(by: outcome.appended)
        metrics.redelivered.increment(by: outcome.redelivered)
        metrics.logSize.record(Int64(outcome.logSize))
        for r in reasons { metrics.quarantined(r) }
        if outcome.quarantined > 0 {
            logger.notice("batch quarantined \(outcome.quarantined) message(s)", metadata: ["appended": "\(outcome.appended)"])
        }
        return next
    }

    static func quarantine(_ e: VerifiedEvent, _ reason: QuarantineReason, _ detail: String) -> QuarantineEntry {
        QuarantineEntry(reason: reason, detail: detail, raw: e.message.value, event: e.event, kafka: e.message.coordinates,
                        kafkaKey: e.message.key,
                        kafkaHeaders: e.message.headers.map { ($0.name, $0.value.map { String(decoding: $0, as: UTF8.self) }) })
    }
}

/// Partitions reported from librdkafka's callbacks, handled by the polling loop after `poll` returns.
final class PartitionList: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [KafkaTopicPartition] = []

    func add(_ tp: KafkaTopicPartition) {
        lock.lock()
        if !items.contains(tp) { items.append(tp) }
        lock.unlock()
    }

    func take() -> [KafkaTopicPartition] {
        lock.lock()
        defer { lock.unlock() }
        let out = items
        items = []
        return out
    }
}

/// Maps an array on all cores (Dispatch's concurrentPerform), preserving order. By default the input is cut into
/// one contiguous chunk per core; a smaller `chunk` lets idle cores pick up work when items cost unevenly.
public enum ParallelMap {
    public static func map<T, R>(_ input: [T], chunk: Int? = nil, _ transform: @Sendable (T) -> R) -> [R] {
        let n = input.count
        guard n > 1 else { return input.map(transform) }
        let size = max(1, chunk ?? (n + ProcessInfo.processInfo.activeProcessorCount - 1) / ProcessInfo.processInfo.activeProcessorCount)
        let chunks = (n + size - 1) / size
        return [R](unsafeUninitializedCapacity: n) { buffer, count in
            let base = UnsafeSendable(buffer.baseAddress!)
            input.withUnsafeBufferPointer { inBuf in
                let src = UnsafeSendable(inBuf.baseAddress!)
                DispatchQueue.concurrentPerform(iterations: chunks) { c in
                    let lo = c * size
                    let hi = min(lo + size, n)
                    for i in lo..<hi { (base.value + i).initialize(to: transform(src.value[i])) }
                }
            }
            count = n
        }
    }
}

/// A raw pointer handed to concurrentPerform workers that each touch disjoint elements.
struct UnsafeSendable<P>: @unchecked Sendable {
    let value: P
    init(_ value: P) { self.value = value }
}
