import Foundation
@testable import LedgerKafka

/// Runs blocking Kafka calls on a dedicated thread (never on the Swift concurrency pool) and awaits the result.
func onThread<T: Sendable>(_ name: String = "kafka-test", _ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread {
            do { continuation.resume(returning: try body()) } catch { continuation.resume(throwing: error) }
        }
        thread.name = name
        thread.start()
    }
}

/// A lock-protected value shared between test threads and callbacks.
final class Locked<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value
    init(_ value: Value) { self.value = value }
    func withLock<R>(_ body: (inout Value) throws -> R) rethrows -> R {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
    var get: Value { withLock { $0 } }
}

/// Consumer settings that make the mock cluster's group protocol fast (see EmbeddedKafkaCluster's notes).
let fastGroupConfig = [
    "session.timeout.ms": "3000",
    "heartbeat.interval.ms": "250",
]

/// Polls (on the calling thread, which must be a dedicated one) until `count` messages arrived or `within` elapsed.
func collect(_ consumer: KafkaConsumer, count: Int, within: Duration) throws -> [KafkaMessage] {
    var all: [KafkaMessage] = []
    let deadline = ContinuousClock.now + within
    while all.count < count && ContinuousClock.now < deadline {
        all += try consumer.poll(maxMessages: 500, timeout: .milliseconds(200))
    }
    return all
}

/// Polls until `condition` holds or `within` elapsed; returns the messages seen meanwhile.
func pollUntil(_ consumer: KafkaConsumer, within: Duration, _ condition: () -> Bool) throws -> [KafkaMessage] {
    var all: [KafkaMessage] = []
    let deadline = ContinuousClock.now + within
    while !condition() && ContinuousClock.now < deadline {
        all += try consumer.poll(maxMessages: 500, timeout: .milliseconds(100))
    }
    return all
}

func bytes(_ string: String) -> [UInt8] { Array(string.utf8) }
func text(_ bytes: [UInt8]?) -> String? { bytes.map { String(decoding: $0, as: UTF8.self) } }

/// Collects errors reported through `onError`.
final class ErrorLog: @unchecked Sendable {
    private let errors = Locked<[KafkaError]>([])
    var handler: @Sendable (KafkaError) -> Void { { [errors] error in errors.withLock { $0.append(error) } } }
    var all: [KafkaError] { errors.get }
}
