import Foundation
import Testing
@testable import LedgerKafka

/// End-to-end tests against librdkafka's in-process mock cluster (real Kafka protocol on loopback).
/// Every blocking call runs on a dedicated thread via `onThread`; assertions run back in the test task.
@Suite(.serialized, .timeLimit(.minutes(3)))  // a hang guard; group rebalances slow down when the whole suite shares 2 cores
struct LedgerKafkaTests {

    @Test func producesAndConsumesKeyedMessagesWithHeaders() async throws {
        let cluster = try EmbeddedKafkaCluster(brokers: 3)
        defer { cluster.close() }
        try cluster.createTopic("orders", partitions: 6, replicationFactor: 3)
        let bootstrap = cluster.bootstrapServers
        let count = 300

        let (reports, single, messages, assignment) = try await onThread {
            let producer = try KafkaProducer(bootstrapServers: bootstrap)
            defer { producer.close() }
            let batch = (0..<count).map { i in
                (topic: "orders", key: Optional(bytes("key-\(i % 24)")), value: bytes("value-\(i)"),
                 headers: [KafkaHeader(name: "seq", string: "\(i)"), KafkaHeader(name: "null", value: nil),
                           KafkaHeader(name: "empty", value: [])])
            }
            let reports = try producer.sendMany(batch, timeout: .seconds(15))
            let single = try producer.send(topic: "orders", key: nil, value: bytes("explicit"), partition: 5)

            let consumer = try KafkaConsumer(
                bootstrapServers: bootstrap, groupID: "g-orders", topics: ["orders"], config: fastGroupConfig,
                startOffsets: { Dictionary(uniqueKeysWithValues: $0.map { ($0, nil) }) })
            defer { consumer.close() }
            let messages = try collect(consumer, count: count + 1, within: .seconds(15))
            return (reports, single, messages, consumer.assignment)
        }

        // Delivery reports: all succeeded, and each key always went to the same partition.
        let delivered = try reports.map { try $0.get() }
        #expect(delivered.count == count)
        var partitionsByKey: [String: Set<Int32>] = [:]
        for (i, report) in delivered.enumerated() { partitionsByKey["key-\(i % 24)", default: []].insert(report.partition) }
        #expect(partitionsByKey.values.allSatisfy { $0.count == 1 })
        #expect(Set(delivered.map(\.partition)) == Set(0..<6), "24 keys should spread over all 6 partitions")
        #expect(single.partition == 5)
        #expect(assignment == Set((0..<6).map { KafkaTopicPartition(topic: "orders", partition: $0) }))

        // Consumed: everything, exactly once, with keys/headers intact and at the reported partition/offset.
        #expect(messages.count == count + 1)
        var lastOffset: [Int32: Int64] = [:]
        for message in messages {
            #expect(message.offset > lastOffset[message.partition, default: -1], "offsets increase per partition")
            lastOffset[message.partition] = message.offset
            #expect(message.timestamp != nil)
            if text(message.value) == "explicit" {
                #expect(message.key == nil && message.headers.isEmpty)
                #expect(message.partition == 5 && message.offset == single.offset)
                continue
            }
            let i = try #require(text(message.value).flatMap { Int($0.dropFirst("value-".count)) })
            #expect(text(message.key) == "key-\(i % 24)")
            #expect(message.headers == [KafkaHeader(name: "seq", string: "\(i)"), KafkaHeader(name: "null", value: nil),
                                        KafkaHeader(name: "empty", value: [])])
            #expect(message.partition == delivered[i].partition && message.offset == delivered[i].offset)
        }
        #expect(Set(messages.map { text($0.value)! }).count == count + 1)
    }

    @Test func honoursStartOffsetsRetriesWhenTheyFailAndSeeks() async throws {
        let cluster = try EmbeddedKafkaCluster(brokers: 3)
        defer { cluster.close() }
        try cluster.createTopic("ledger", partitions: 3)
        let bootstrap = cluster.bootstrapServers
        let p0 = KafkaTopicPartition(topic: "ledger", partition: 0)
        let p1 = KafkaTopicPartition(topic: "ledger", partition: 1)
        let p2 = KafkaTopicPartition(topic: "ledger", partition: 2)

        let firstRevoked = Locked<[[KafkaTopicPartition]]>([])
        let askedFor = Locked<[[KafkaTopicPartition]]>([])
        let errors = ErrorLog()
        let firstErrors = ErrorLog()
        struct DatabaseDown: Error {}

        let (firstRun, secondRun, afterSeek) = try await onThread {
            let producer = try KafkaProducer(bootstrapServers: bootstrap)
            defer { producer.close() }
            for i in 0..<10 { _ = try producer.send(topic: "ledger", key: nil, value: bytes("p1-\(i)"), partition: 1) }
            for i in 0..<4 { _ = try producer.send(topic: "ledger", key: nil, value: bytes("p0-\(i)"), partition: 0) }

            // First member reads everything from the beginning, then leaves the group.
            let first = try KafkaConsumer(
                bootstrapServers: bootstrap, groupID: "g-ledger", topics: ["ledger"], config: fastGroupConfig,
                startOffsets: { Dictionary(uniqueKeysWithValues: $0.map { ($0, nil) }) },
                onRevoke: { revoked in firstRevoked.withLock { $0.append(revoked) } })
            first.onError = firstErrors.handler
            let firstRun = try collect(first, count: 14, within: .seconds(10))
            first.commit([p1: 10, p0: 4])  // informational
            _ = try first.poll(maxMessages: 10, timeout: .milliseconds(200))
            first.close()
            first.close()  // idempotent

            // Second member: the "database" is down once, then says p1 starts at 5, p0 at the beginning, p2 absent.
            let second = try KafkaConsumer(
                bootstrapServers: bootstrap, groupID: "g-ledger", topics: ["ledger"], config: fastGroupConfig,
                startOffsets: { partitions in
                    let attempt = askedFor.withLock { $0.append(partitions); return $0.count }
                    if attempt == 1 { throw DatabaseDown() }
                    return [p1: 5, p0: nil]
                })
            second.onError = errors.handler
            defer { second.close() }
            let secondRun = try collect(second, count: 9, within: .seconds(15))

            // Re-read part of partition 1 after a (simulated) failed database transaction.
            try second.seek(p1, to: 7)
            let afterSeek = try collect(second, count: 3, within: .seconds(5))
            return (firstRun, secondRun, afterSeek)
        }

        #expect(firstRun.count == 14)
        #expect(firstErrors.all.isEmpty, "\(firstErrors.all)")
        #expect(firstRevoked.get == [[p0, p1, p2]], "close() reports the final revocation")

        let asked = askedFor.get
        #expect(asked.count == 2, "startOffsets retried once after throwing")
        #expect(asked.allSatisfy { Set($0) == [p0, p1, p2] })
        #expect(errors.all.contains { $0.code == KafkaErrorCode.application && $0.name == "_APPLICATION" })

        #expect(secondRun.filter { $0.partition == 1 }.map(\.offset) == [5, 6, 7, 8, 9])
        #expect(secondRun.filter { $0.partition == 1 }.map { text($0.value)! } == ["p1-5", "p1-6", "p1-7", "p1-8", "p1-9"])
        #expect(secondRun.filter { $0.partition == 0 }.map(\.offset) == [0, 1, 2, 3])
        #expect(afterSeek.map(\.offset) == [7, 8, 9] && afterSeek.allSatisfy { $0.partition == 1 })
    }

    @Test func twoConsumersInOneGroupSplitThePartitionsAndTakeOverOnClose() async throws {
        let cluster = try EmbeddedKafkaCluster(brokers: 3)
        defer { cluster.close() }
        try cluster.createTopic("split", partitions: 4)
        let bootstrap = cluster.bootstrapServers
        let all = Set((0..<4).map { KafkaTopicPartition(topic: "split", partition: $0) })

        let revokedA = Locked<[[KafkaTopicPartition]]>([])
        let revokedB = Locked<[[KafkaTopicPartition]]>([])
        func makeConsumer(_ revoked: Locked<[[KafkaTopicPartition]]>) throws -> KafkaConsumer {
            try KafkaConsumer(bootstrapServers: bootstrap, groupID: "g-split", topics: ["split"], config: fastGroupConfig,
                              startOffsets: { Dictionary(uniqueKeysWithValues: $0.map { ($0, nil) }) },
                              onRevoke: { partitions in revoked.withLock { $0.append(partitions) } })
        }
        let a = try makeConsumer(revokedA)
        let b = try makeConsumer(revokedB)
        let stopA = Locked(false)
        /// Polls until stopped, closed by another thread (poll throws _DESTROY), or 90 s; returns how it ended.
        /// The deadline only guards against a hang: it must outlast the waits below (15 s for the split, 10 s for
        /// the takeover) on a loaded machine.
        func runPoller(_ consumer: KafkaConsumer, stop: Locked<Bool>) async throws -> String {
            try await onThread {
                let deadline = ContinuousClock.now + .seconds(90)
                while !stop.get && ContinuousClock.now < deadline {
                    do {
                        _ = try consumer.poll(maxMessages: 100, timeout: .milliseconds(100))
                    } catch let error as KafkaError where error.code == KafkaErrorCode.destroyed {
                        return "closed"
                    }
                }
                return stop.get ? "stopped" : "deadline"
            }
        }
        func waitFor(_ seconds: Int, _ condition: () -> Bool) async throws -> Bool {
            let deadline = ContinuousClock.now + .seconds(seconds)
            while ContinuousClock.now < deadline {
                if condition() { return true }
                try await Task.sleep(for: .milliseconds(100))
            }
            return condition()
        }
        async let pollA = runPoller(a, stop: stopA)
        async let pollB = runPoller(b, stop: Locked(false))

        // Both members get half of the partitions.
        let split = try await waitFor(15) {
            let (assignedA, assignedB) = (a.assignment, b.assignment)
            return !assignedA.isEmpty && !assignedB.isEmpty && assignedA.isDisjoint(with: assignedB)
                && assignedA.union(assignedB) == all
        }
        let (splitA, splitB) = (a.assignment, b.assignment)

        // Closing B while its poller thread is inside poll(): the poll returns, B leaves, A takes everything.
        try await onThread { b.close() }
        let endB = try await pollB
        let takenOver = try await waitFor(10) { a.assignment == all }
        stopA.withLock { $0 = true }
        let endA = try await pollA
        try await onThread { a.close() }

        #expect(split, "assignments: \(splitA.sorted()) / \(splitB.sorted())")
        #expect(splitA.count == 2 && splitB.count == 2)
        #expect(endB == "closed" && endA == "stopped")
        #expect(takenOver)
        #expect(revokedB.get == [splitB.sorted()], "B's final revocation is reported by close()")
        #expect(revokedA.get.count >= 2, "A was revoked when B joined and when B left: \(revokedA.get)")
        #expect(revokedA.get.last == all.sorted(), "A's close() revoked everything")
    }

    @Test func reportsOutOfRangeStartOffsets() async throws {
        let cluster = try EmbeddedKafkaCluster(brokers: 1)
        defer { cluster.close() }
        try cluster.createTopic("short", partitions: 1)
        let bootstrap = cluster.bootstrapServers
        let errors = ErrorLog()
        let p0 = KafkaTopicPartition(topic: "short", partition: 0)

        let messages = try await onThread {
            let producer = try KafkaProducer(bootstrapServers: bootstrap)
            for i in 0..<3 { _ = try producer.send(topic: "short", key: nil, value: bytes("m\(i)")) }
            producer.close()
            let consumer = try KafkaConsumer(bootstrapServers: bootstrap, groupID: "g-short", topics: ["short"],
                                             config: fastGroupConfig, startOffsets: { _ in [p0: 100] })
            consumer.onError = errors.handler
            defer { consumer.close() }
            return try pollUntil(consumer, within: .seconds(10)) {
                errors.all.contains { $0.code == KafkaErrorCode.autoOffsetReset }
            }
        }
        #expect(messages.isEmpty)
        let reset = errors.all.first { $0.code == KafkaErrorCode.autoOffsetReset }
        #expect(reset?.name == "_AUTO_OFFSET_RESET" && reset?.topicPartition == p0, "\(errors.all)")
    }

    @Test func concurrentSendsFromManyThreads() async throws {
        let cluster = try EmbeddedKafkaCluster(brokers: 3)
        defer { cluster.close() }
        try cluster.createTopic("busy", partitions: 3)
        let producer = try KafkaProducer(bootstrapServers: cluster.bootstrapServers)
        let reports = try await withThrowingTaskGroup(of: [KafkaDeliveryReport].self) { group in
            for t in 0..<8 {
                group.addTask {
                    try await onThread("sender-\(t)") {
                        try (0..<25).map { i in
                            try producer.send(topic: "busy", key: bytes("t\(t)"), value: bytes("\(t)-\(i)"))
                        }
                    }
                }
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }
        try await onThread {
            try producer.flush(timeout: .seconds(5))
            producer.close()
        }
        #expect(reports.count == 200)
        #expect(Set(reports.map { "\($0.partition)/\($0.offset)" }).count == 200, "every message has its own offset")
    }

    @Test func deliversEverythingAcrossABrokerOutage() async throws {
        let cluster = try EmbeddedKafkaCluster(brokers: 3)
        defer { cluster.close() }
        try cluster.createTopic("resilient", partitions: 6)
        let bootstrap = cluster.bootstrapServers
        let count = 200
        let producerErrors = ErrorLog()

        // A consumer that keeps polling throughout.
        let consumer = try KafkaConsumer(
            bootstrapServers: bootstrap, groupID: "g-resilient", topics: ["resilient"], config: fastGroupConfig,
            startOffsets: { Dictionary(uniqueKeysWithValues: $0.map { ($0, nil) }) })
        async let consumed = onThread { try collect(consumer, count: count, within: .seconds(20)) }

        let producer = try KafkaProducer(bootstrapServers: bootstrap)
        producer.onError = producerErrors.handler
        _ = try await onThread { try producer.send(topic: "resilient", key: nil, value: bytes("warm-up"), partition: 0) }

        try cluster.setBrokerDown(2)
        let started = ContinuousClock.now
        async let produced = onThread {
            try producer.sendMany((0..<count - 1).map { i in
                (topic: "resilient", key: Optional(bytes("k\(i)")), value: bytes("m\(i)"), headers: [KafkaHeader]())
            }, timeout: .seconds(15))
        }
        try await Task.sleep(for: .seconds(2))
        try cluster.setBrokerUp(2)

        let results = try await produced
        let producedIn = ContinuousClock.now - started
        let messages = try await consumed
        try await onThread {
            producer.close()
            consumer.close()
        }

        #expect(results.allSatisfy { (try? $0.get()) != nil }, "\(results.compactMap { try? $0.get() }.count) delivered")
        #expect(producedIn >= .seconds(2), "some partitions could only be written after the broker came back")
        let values = messages.map { text($0.value)! }
        #expect(values.count == count, "received \(values.count)")
        #expect(Set(values).count == values.count, "no duplicates")
    }

    @Test func idempotentProducerRetriesNotLeaderErrorsAndDeliversExactlyOnce() async throws {
        let cluster = try EmbeddedKafkaCluster(brokers: 3)
        defer { cluster.close() }
        try cluster.createTopic("retried", partitions: 3)
        let bootstrap = cluster.bootstrapServers
        let count = 50

        let retryLog = Locked<[String]>([])
        let (results, messages) = try await onThread {
            let producer = try KafkaProducer(bootstrapServers: bootstrap, config: ["debug": "msg"])
            producer.onLog = { entry in
                if entry.message.contains("encountered error: Broker: Not leader for partition")
                    || entry.message.contains("encountered error: Broker: Request timed out") {
                    retryLog.withLock { $0.append(entry.message) }
                }
            }
            defer { producer.close() }
            _ = try producer.send(topic: "retried", key: nil, value: bytes("m-warm-up"))  // metadata + producer id
            cluster.pushRequestErrors(apiKey: KafkaAPIKey.produce,
                                      errors: [KafkaErrorCode.notLeaderForPartition, KafkaErrorCode.notLeaderForPartition,
                                               KafkaErrorCode.notLeaderForPartition, KafkaErrorCode.requestTimedOut])
            let results = try producer.sendMany((0..<count).map { i in
                (topic: "retried", key: Optional(bytes("k\(i)")), value: bytes("m\(i)"), headers: [KafkaHeader]())
            }, timeout: .seconds(15))

            let consumer = try KafkaConsumer(
                bootstrapServers: bootstrap, groupID: "g-retried", topics: ["retried"], config: fastGroupConfig,
                startOffsets: { Dictionary(uniqueKeysWithValues: $0.map { ($0, nil) }) })
            defer { consumer.close() }
            var messages = try collect(consumer, count: count + 1, within: .seconds(15))
            messages += try consumer.poll(maxMessages: 100, timeout: .milliseconds(500))  // anything extra?
            return (results, messages)
        }
        #expect(results.allSatisfy { (try? $0.get()) != nil })
        #expect(retryLog.get.count == 4, "the injected errors were seen and retried: \(retryLog.get)")
        let values = messages.map { text($0.value)! }.filter { $0 != "m-warm-up" }
        #expect(values.count == count)
        #expect(Set(values) == Set((0..<count).map { "m\($0)" }))
    }

    @Test func failedSendsThrowLibrdkafkaErrors() async throws {
        let cluster = try EmbeddedKafkaCluster(brokers: 1)
        defer { cluster.close() }
        try cluster.createTopic("strict", partitions: 2)
        try cluster.createTopic("other", partitions: 1)
        let bootstrap = cluster.bootstrapServers

        let (tooLarge, unknownPartition, rejected, afterwards, closed) = try await onThread {
            let producer = try KafkaProducer(bootstrapServers: bootstrap, config: ["message.max.bytes": "1000"])
            func capture(_ body: () throws -> KafkaDeliveryReport) -> KafkaError? {
                do { _ = try body(); return nil } catch let error as KafkaError { return error } catch { return nil }
            }
            let tooLarge = capture { try producer.send(topic: "strict", key: nil, value: [UInt8](repeating: 7, count: 5000)) }
            _ = try producer.send(topic: "strict", key: nil, value: bytes("fits"))
            let unknownPartition = capture {
                try producer.send(topic: "strict", key: nil, value: bytes("x"), partition: 9, timeout: .seconds(10))
            }
            cluster.pushRequestErrors(apiKey: KafkaAPIKey.produce, errors: [KafkaErrorCode.topicAuthorizationFailed])
            let rejected = capture { try producer.send(topic: "strict", key: nil, value: bytes("denied"), timeout: .seconds(10)) }
            // librdkafka 2.0.2 marks the topic as errored after TOPIC_AUTHORIZATION_FAILED (until the next metadata
            // refresh), so the next send to it fails fast at enqueue; other topics are unaffected.
            let poisoned = capture { try producer.send(topic: "strict", key: nil, value: bytes("again"), timeout: .seconds(10)) }
            let afterwards = try producer.send(topic: "other", key: nil, value: bytes("allowed"), timeout: .seconds(10))
            producer.close()
            producer.close()
            let closed = capture { try producer.send(topic: "strict", key: nil, value: bytes("late")) }
            return (tooLarge, unknownPartition, (rejected, poisoned), afterwards, closed)
        }

        #expect(tooLarge?.name == "MSG_SIZE_TOO_LARGE" && tooLarge?.code == KafkaErrorCode.messageSizeTooLarge)
        #expect(tooLarge?.description.contains("enqueue message for topic 'strict'") == true, "\(String(describing: tooLarge))")
        #expect(unknownPartition?.name == "_UNKNOWN_PARTITION", "\(String(describing: unknownPartition))")
        #expect(rejected.0?.name == "TOPIC_AUTHORIZATION_FAILED" && rejected.0?.isRetriable == false,
                "\(String(describing: rejected.0))")
        #expect(rejected.0?.operation.hasPrefix("deliver message to topic 'strict'") == true)
        #expect(rejected.1?.name == "TOPIC_AUTHORIZATION_FAILED" && rejected.1?.operation.hasPrefix("enqueue") == true)
        #expect(afterwards.topic == "other" && afterwards.offset == 0)
        #expect(closed?.code == KafkaErrorCode.destroyed)
        #expect(throws: KafkaError.self) { try KafkaProducer(bootstrapServers: bootstrap, config: ["no.such.property": "1"]) }
    }

    @Test func receivesWhatKcatProduces() async throws {
        let cluster = try EmbeddedKafkaCluster(brokers: 3)
        defer { cluster.close() }
        try cluster.createTopic("interop", partitions: 3)
        let bootstrap = cluster.bootstrapServers

        let (status, stderr, messages) = try await onThread {
            let kcat = Process()
            kcat.executableURL = URL(fileURLWithPath: "/usr/bin/kcat")
            kcat.arguments = ["-b", bootstrap, "-t", "interop", "-P", "-k", "key", "-H", "h=v", "-H", "trace=abc"]
            let input = Pipe()
            let errorOutput = Pipe()
            kcat.standardInput = input
            kcat.standardError = errorOutput
            try kcat.run()
            input.fileHandleForWriting.write(Data("hello\nworld\n".utf8))
            try input.fileHandleForWriting.close()
            kcat.waitUntilExit()
            let stderr = String(decoding: errorOutput.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)

            let consumer = try KafkaConsumer(
                bootstrapServers: bootstrap, groupID: "g-interop", topics: ["interop"], config: fastGroupConfig,
                startOffsets: { Dictionary(uniqueKeysWithValues: $0.map { ($0, nil) }) })
            defer { consumer.close() }
            return (kcat.terminationStatus, stderr, try collect(consumer, count: 2, within: .seconds(10)))
        }
        #expect(status == 0, "kcat: \(stderr)")
        #expect(messages.map { text($0.value)! } == ["hello", "world"])
        #expect(messages.allSatisfy { text($0.key) == "key" && $0.partition == messages[0].partition })
        #expect(messages.allSatisfy {
            $0.headers == [KafkaHeader(name: "h", string: "v"), KafkaHeader(name: "trace", string: "abc")]
        })
    }
}
