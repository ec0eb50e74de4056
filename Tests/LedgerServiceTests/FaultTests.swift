import Foundation
import LedgerCore
import LedgerCrypto
import LedgerKafka
import LedgerService
import LedgerStore
import Logging
import Testing

/// "Nothing lost or doubled under faults": each fault against the embedded Kafka cluster and a real PostgreSQL, then
/// every valid event exactly once and `audit verify` OK. `ops/soak` runs the same faults at random for longer.
/// Random choices use `FaultRandom` (replay a run with MLLEDGER_FAULT_SEED=<seed from the failure message>).
@Suite("Faults: nothing lost or doubled", .serialized)
struct FaultTests {
    @Test("brokers set down and up again (each in turn, so the group coordinator too, then all three) while producing and ingesting")
    func brokersDownAndUp() throws {
        let f = try LedgerFixture()
        defer { f.close() }
        let key = try f.trustedProducer()
        let reader = LogReader(db: f.db)
        let stream = try EventStream(bootstrapServers: f.cluster.bootstrapServers, topic: f.topic, key: key)
        let stop = runInBackground(f.faultService())
        defer { stop() }
        stream.start()
        #expect(try reader.waitForProgress(beyond: 100, source: stream.source, seconds: 30), "no ingest before the faults")

        // A broker down for longer than the session timeout: when it is the group coordinator, the member is
        // expelled and has to rejoin (revocation, then assignment from the offsets stored in PostgreSQL).
        for broker: Int32 in 1...3 {
            try f.cluster.setBrokerDown(broker)
            Thread.sleep(forTimeInterval: 3.5)
            try f.cluster.setBrokerUp(broker)
            let now = try reader.count(source: stream.source)
            #expect(try reader.waitForProgress(beyond: now + 100, source: stream.source, seconds: 30),
                    "no progress after broker \(broker) came back: \(f.state)")
        }
        for broker: Int32 in 1...3 { try f.cluster.setBrokerDown(broker) }
        Thread.sleep(forTimeInterval: 2)
        for broker: Int32 in 1...3 { try f.cluster.setBrokerUp(broker) }
        let now = try reader.count(source: stream.source)
        #expect(try reader.waitForProgress(beyond: now + 100, source: stream.source, seconds: 30),
                "no progress after all brokers came back: \(f.state)")

        stream.stop()
        #expect(stream.errors.isEmpty, "\(stream.errors)")
        #expect(try reader.waitForCount(stream.count, source: stream.source, seconds: 60), "\(f.state)")
        Thread.sleep(forTimeInterval: 0.5)
        try reader.expectExactlyOnce(source: stream.source, ids: stream.ids, "\(stream.count) sent, \(stream.resent) resent")
    }

    @Test("injected request errors on Produce, Fetch, OffsetCommit and Heartbeat during ingest")
    func injectedRequestErrors() throws {
        var random = FaultRandom()
        let f = try LedgerFixture()
        defer { f.close() }
        let key = try f.trustedProducer()
        let reader = LogReader(db: f.db)
        let stream = try EventStream(bootstrapServers: f.cluster.bootstrapServers, topic: f.topic, key: key)
        let stop = runInBackground(f.faultService())
        defer { stop() }
        stream.start()
        #expect(try reader.waitForProgress(beyond: 100, source: stream.source, seconds: 30), "no ingest before the faults")

        let retriable: [Int16: [Int32]] = [
            KafkaAPIKey.produce: [KafkaErrorCode.notLeaderForPartition, KafkaErrorCode.requestTimedOut,
                                  KafkaErrorCode.notEnoughReplicas, KafkaErrorCode.leaderNotAvailable],
            KafkaAPIKey.fetch: [KafkaErrorCode.notLeaderForPartition, KafkaErrorCode.requestTimedOut,
                                KafkaErrorCode.leaderNotAvailable],
            KafkaAPIKey.offsetCommit: [KafkaErrorCode.requestTimedOut, KafkaErrorCode.notCoordinator,
                                       KafkaErrorCode.coordinatorNotAvailable],
        ]
        var pushed = 0
        for round in 0..<10 {
            for api in retriable.keys.sorted() {
                let codes = (0..<Int.random(in: 1...4, using: &random)).map { _ in retriable[api]!.randomElement(using: &random)! }
                f.cluster.pushRequestErrors(apiKey: api, errors: codes)
                pushed += codes.count
            }
            if round == 5 {
                // One forced rebalance: the member is told to rejoin while batches are in flight.
                f.cluster.pushRequestErrors(apiKey: KafkaAPIKey.heartbeat, errors: [KafkaErrorCode.rebalanceInProgress])
            }
            Thread.sleep(forTimeInterval: random.seconds(0.2...0.6))
        }
        let now = try reader.count(source: stream.source)
        #expect(try reader.waitForProgress(beyond: now + 100, source: stream.source, seconds: 30),
                "no progress after \(pushed) injected errors (seed \(random.seed)): \(f.state)")
        stream.stop()
        for api in [KafkaAPIKey.produce, KafkaAPIKey.fetch, KafkaAPIKey.offsetCommit, KafkaAPIKey.heartbeat] {
            f.cluster.clearRequestErrors(apiKey: api)
        }
        #expect(stream.errors.isEmpty, "\(stream.errors)")
        #expect(try reader.waitForCount(stream.count, source: stream.source, seconds: 60), "\(f.state)")
        Thread.sleep(forTimeInterval: 0.5)
        try reader.expectExactlyOnce(source: stream.source, ids: stream.ids,
                                     "seed \(random.seed), \(stream.count) sent, \(stream.resent) resent")
    }

    @Test("PostgreSQL restarted in the middle of a batch, and crashed at a random instant: the service resumes by itself")
    func postgresRestartMidBatch() throws {
        var random = FaultRandom()
        let ledger = try PrivateLedger()
        defer { ledger.close() }
        let key = try ledger.trustedProducer()
        let reader = ledger.reader
        let stream = try EventStream(bootstrapServers: ledger.cluster.bootstrapServers, topic: ledger.topic, key: key)
        let stop = runInBackground(ledger.service())
        defer { stop() }
        stream.start()
        #expect(try reader.waitForProgress(beyond: 100, source: stream.source, seconds: 30), "no ingest before the faults")

        // 1. In the middle of a batch: another session locks ledger.tree_nodes, so the next append transaction
        //    stops at its last COPY, after its entries, quarantine rows and consumer offsets were written. Then the
        //    server is restarted (fast: open transactions rolled back, connections dropped).
        let blocker = try PostgresConnection(url: ledger.url)
        try blocker.execute("BEGIN; LOCK TABLE ledger.tree_nodes IN EXCLUSIVE MODE")
        let blocked = try reader.waitUntil(seconds: 30) {
            try ledger.db.connection.query("""
                SELECT count(*)::bigint FROM pg_stat_activity
                WHERE wait_event_type = 'Lock' AND state = 'active' AND query LIKE 'COPY ledger.tree_nodes%'
                """).first?.int64(0) == 1
        }
        #expect(blocked, "no append transaction blocked in its tree-node COPY")
        let beforeRestart = try reader.count(source: stream.source)
        try ledger.postgres.restart(mode: .fast)
        blocker.close()
        #expect(try reader.waitForProgress(beyond: beforeRestart + 100, source: stream.source, seconds: 30),
                "the service did not resume after the restart")

        // 2. A crash (immediate shutdown, recovery on start) at a random instant, down for two seconds: the service
        //    backs off and reconnects.
        Thread.sleep(forTimeInterval: random.seconds(0.1...1.0))
        try ledger.postgres.restart(mode: .immediate, downFor: 2)
        let afterCrash = try reader.count(source: stream.source)
        #expect(try reader.waitForProgress(beyond: afterCrash + 100, source: stream.source, seconds: 30),
                "the service did not resume after the crash (seed \(random.seed))")

        stream.stop()
        #expect(stream.errors.isEmpty, "\(stream.errors)")
        #expect(try reader.waitForCount(stream.count, source: stream.source, seconds: 60))
        Thread.sleep(forTimeInterval: 0.5)
        try reader.expectExactlyOnce(source: stream.source, ids: stream.ids,
                                     "seed \(random.seed), \(stream.count) sent, \(stream.resent) resent")
    }

    @Test("the consumer group rebalances after PostgreSQL was restarted, and while it is down: ingest resumes")
    func postgresRestartAndRebalance() throws {
        let ledger = try PrivateLedger()
        defer { ledger.close() }
        let key = try ledger.trustedProducer()
        let reader = ledger.reader
        let stop = runInBackground(ledger.service())
        defer { stop() }
        var ids = Set<String>()
        /// Produces `count` more events and waits until the log holds all of them.
        func produceAndIngest(_ count: Int, _ phase: String) throws -> Bool {
            let stream = try EventStream(bootstrapServers: ledger.cluster.bootstrapServers, topic: ledger.topic, key: key,
                                         limit: count)
            stream.start()
            #expect(stream.waitUntilFinished(seconds: 60))
            #expect(stream.errors.isEmpty, "\(stream.errors)")
            ids.formUnion(stream.ids)
            let done = try reader.waitForCount(ids.count, source: stream.source, seconds: 30)
            #expect(done, "\(phase): \((try? reader.count(source: stream.source)) ?? -1) of \(ids.count) in the log")
            return done
        }
        try #require(try produceAndIngest(200, "before the faults"))

        // 1. PostgreSQL is restarted while the service is idle, and is back before anything happens; then a second
        //    member joins and leaves the group. The service's partitions are revoked and assigned again, and their
        //    start offsets are read from PostgreSQL over connections the restart broke.
        try ledger.postgres.restart(mode: .fast)
        try rebalance(ledger)
        try #require(try produceAndIngest(200, "rebalance after a restart"))

        // 2. PostgreSQL goes away, the group rebalances while it is down, then it comes back: the assignment must
        //    wait for it (retrying), not give up.
        let port = ledger.postgres.port
        ledger.postgres.stop(mode: .fast)
        try rebalance(ledger)
        Thread.sleep(forTimeInterval: 2)  // the reassignment is attempted while the server is down
        try ledger.postgres.start(port: port)
        try #require(try produceAndIngest(200, "rebalance while PostgreSQL was down"))

        Thread.sleep(forTimeInterval: 0.5)
        try reader.expectExactlyOnce(source: "ci://github.com/acme/faults", ids: ids, "\(ids.count) sent")
    }

    /// Makes the group rebalance twice: a second member joins (until it has partitions), then leaves.
    private func rebalance(_ ledger: PrivateLedger) throws {
        let intruder = try KafkaConsumer(bootstrapServers: ledger.cluster.bootstrapServers, groupID: "mlledger",
                                         topics: [ledger.topic], config: LedgerFixture.consumerConfig,
                                         startOffsets: { _ in [:] })
        let deadline = Date().addingTimeInterval(20)
        while intruder.assignment.isEmpty && Date() < deadline {
            _ = try intruder.poll(maxMessages: 100, timeout: .milliseconds(100))
        }
        #expect(!intruder.assignment.isEmpty, "the second member never got partitions")
        intruder.close()
    }

    @Test("mlledger serve SIGKILLed at 20 random instants of one stream, restarted each time")
    func sigkillTwentyTimes() throws {
        var random = FaultRandom()
        let f = try LedgerFixture()
        defer { f.close() }
        let key = try f.trustedProducer()
        let reader = LogReader(db: f.db)
        // About 80 events a second for as long as the kills go on (some 4,000).
        let stream = try EventStream(bootstrapServers: f.cluster.bootstrapServers, topic: f.topic, key: key,
                                     chunk: 40, pause: 0.5)
        let serve = ServeChild(arguments: ServeChild.arguments(brokers: f.cluster.bootstrapServers, topic: f.topic,
                                                               databaseURL: f.database.url, ledgerKey: f.ledgerKeyPath),
                               logPath: f.directory + "/serve.log")
        defer { serve.stop() }
        stream.start()
        try serve.start()
        // A restarted instance appends again after 5-8 s here: the mock cluster's group waits out the killed
        // member's session (3 s) and rebalances twice. Every fourth kill waits for that and lands while appending;
        // the others land anywhere in the first 1.2 s (starting, migrating, joining the group).
        var killedWhileAppending = 0
        for kill in 1...20 {
            let before = try reader.count(source: stream.source)
            if kill % 4 == 0 {
                _ = try reader.waitForProgress(beyond: before, source: stream.source, seconds: 20)
                Thread.sleep(forTimeInterval: random.seconds(0...0.4))
            } else {
                Thread.sleep(forTimeInterval: random.seconds(0.05...1.2))
            }
            let atKill = try reader.count(source: stream.source)
            #expect(serve.kill(), "serve had exited by itself before kill \(kill):\n\(serve.logTail())")
            if atKill > before { killedWhileAppending += 1 }
            try serve.start()
        }
        stream.stop()
        #expect(killedWhileAppending >= 4, "only \(killedWhileAppending) of 20 kills hit an instance that was appending")
        #expect(stream.errors.isEmpty, "\(stream.errors)")
        let all = try reader.waitForCount(stream.count, source: stream.source, seconds: 60)
        #expect(all, "\((try? reader.count(source: stream.source)) ?? -1) of \(stream.count) after the last restart:\n\(serve.logTail())")
        Thread.sleep(forTimeInterval: 1)
        serve.stop()
        try reader.expectExactlyOnce(source: stream.source, ids: stream.ids,
                                     "seed \(random.seed), \(stream.count) sent, \(killedWhileAppending) kills while appending")
    }

    @Test("producer retries that resend: every envelope sent twice, some three times, interleaved across partitions")
    func producerResends() throws {
        let f = try LedgerFixture()
        defer { f.close() }
        let key = try f.trustedProducer()
        let reader = LogReader(db: f.db)
        let source = "ci://github.com/acme/resends"
        let n = 600
        let events = (0..<n).map { i -> (id: String, subject: String, envelope: [UInt8]) in
            let id = EventIDs.uuidV7()
            let subject = "run/r\(i % 40)"
            return (id, subject, signedEvent(key, id: id, source: source, subject: subject))
        }
        // First copies in order; second copies a few places later under the same key (same partition, often the
        // same batch); third copies of every fifth event much later under another key (another partition, a later
        // batch), as a producer that timed out and retried through a different path would.
        typealias Message = (topic: String, key: [UInt8]?, value: [UInt8], headers: [KafkaHeader])
        var messages: [Message] = []
        var copies = 0
        for i in 0..<n {
            messages.append((f.topic, Array(events[i].subject.utf8), events[i].envelope, []))
            if i >= 7 {
                let j = i - 7
                messages.append((f.topic, Array(events[j].subject.utf8), events[j].envelope, []))
                copies += 1
            }
            if i >= 150 && i % 5 == 0 {
                let j = i - 150
                messages.append((f.topic, Array("retry/\(j)".utf8), events[j].envelope, []))
                copies += 1
            }
        }
        for j in (n - 7)..<n {
            messages.append((f.topic, Array("retry/\(j)".utf8), events[j].envelope, []))
            copies += 1
        }
        let producer = try KafkaProducer(bootstrapServers: f.cluster.bootstrapServers)
        defer { producer.close() }
        func send(_ part: ArraySlice<Message>) throws {
            for chunk in stride(from: part.startIndex, to: part.endIndex, by: 100) {
                let results = try producer.sendMany(Array(part[chunk..<min(chunk + 100, part.endIndex)]), timeout: .seconds(30))
                for r in results { _ = try r.get() }
            }
        }
        // A third before the service starts (read in large batches), the rest while it runs (smaller batches).
        let third = messages.count / 3
        try send(messages[..<third])
        let stop = runInBackground(f.faultService(batchSize: 100))
        defer { stop() }
        try send(messages[third...])

        #expect(try reader.waitForCount(n, source: source, seconds: 60), "\(f.state)")
        let redelivered = { try f.db.connection.query("SELECT coalesce(sum(count), 0)::bigint FROM ledger.redeliveries")
            .first?.int64(0) ?? -1 }
        #expect(try f.wait(seconds: 30) { try redelivered() >= Int64(copies) }, "redeliveries \((try? redelivered()) ?? -1) of \(copies)")
        Thread.sleep(forTimeInterval: 0.5)
        stop()
        #expect(try redelivered() == Int64(copies), "every extra copy counted once")
        let counted = try f.db.connection.query("""
            SELECT count(*)::bigint FROM ledger.redeliveries r JOIN ledger.entries e ON e.idx = r.idx WHERE e.source = $1
            """, [.text(source)]).first?.int64(0)
        #expect(counted == Int64(n), "each event has its redelivery count")
        #expect(try f.quarantineReasons() == [], "nothing quarantined")
        try reader.expectExactlyOnce(source: source, ids: Set(events.map(\.id)), "\(copies) extra copies")
    }
}

extension LedgerFixture {
    /// The fixture's ingest service with the fault tests' quick broker reconnects.
    func faultService(batchSize: Int = 200) -> IngestService {
        var quiet = logger
        quiet.logLevel = .error
        return IngestService(configuration: IngestConfiguration(
            bootstrapServers: cluster.bootstrapServers, topic: topic, groupID: "mlledger", databaseURL: database.url,
            batchSize: batchSize, consumerConfig: Self.consumerConfig.merging(fastReconnect) { $1 }),
                             identity: identity, logger: quiet)
    }
}

extension LogReader {
    /// Polls `condition` (reconnecting through a restart) until it holds; false on timeout.
    func waitUntil(seconds: Double, _ condition: () throws -> Bool) throws -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if try retrying(condition) { return true }
            Thread.sleep(forTimeInterval: 0.05)
        }
        return false
    }
}
