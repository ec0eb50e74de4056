import Foundation
import LedgerStore

/// A batch after the verifier stage.
struct VerifiedBatch: Sendable {
    var messages: [IncomingMessage]
    var verdicts: [MessageVerifier.Verdict]
    /// The trust version the verdicts were computed under; the writer verifies again if it moved.
    var ringVersion: Int64
}

/// A blocking FIFO of bounded capacity between two threads (the ingest and audit pipelines). `push` returns false
/// once closed; `pop` returns what is left, then nil.
final class BoundedQueue<Element>: @unchecked Sendable {
    private let condition = NSCondition()
    private var items: [Element] = []
    private var closed = false
    let capacity: Int

    init(capacity: Int) { self.capacity = capacity }

    /// Waits for room; returns false (dropping the element) when the queue was closed.
    @discardableResult
    func push(_ e: Element) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        while items.count >= capacity && !closed { condition.wait() }
        guard !closed else { return false }
        items.append(e)
        condition.broadcast()
        return true
    }

    func pop() -> Element? {
        condition.lock()
        defer { condition.unlock() }
        while items.isEmpty && !closed { condition.wait() }
        guard !items.isEmpty else { return nil }
        condition.broadcast()
        return items.removeFirst()
    }

    func close() {
        condition.lock()
        closed = true
        condition.broadcast()
        condition.unlock()
    }
}

/// The queues of the ingest pipeline and its bookkeeping: how many batches are in flight (polled but not yet
/// committed or abandoned), and the offsets committed since the consumer last reported them to Kafka.
final class IngestPipeline: @unchecked Sendable {
    let toVerify = BoundedQueue<[IncomingMessage]>(capacity: 2)
    let toWrite = BoundedQueue<VerifiedBatch>(capacity: 2)
    private let condition = NSCondition()
    private var inFlight = 0
    private var stopping = false
    private var committedOffsets: [TopicPartition: Int64] = [:]

    func submit(_ batch: [IncomingMessage]) {
        condition.lock()
        inFlight += 1
        condition.unlock()
        if !toVerify.push(batch) { abandoned() }
    }

    func committed(_ next: [TopicPartition: Int64]) {
        condition.lock()
        for (tp, o) in next { committedOffsets[tp] = max(committedOffsets[tp] ?? 0, o) }
        inFlight -= 1
        condition.broadcast()
        condition.unlock()
    }

    func abandoned() {
        condition.lock()
        inFlight -= 1
        condition.broadcast()
        condition.unlock()
    }

    /// Blocks until no batch is in flight (or the pipeline shuts down).
    func waitUntilIdle() {
        condition.lock()
        while inFlight > 0 && !stopping { condition.wait() }
        condition.unlock()
    }

    func takeCommittedOffsets() -> [TopicPartition: Int64] {
        condition.lock()
        defer { condition.unlock() }
        let out = committedOffsets
        committedOffsets = [:]
        return out
    }

    /// Stops taking batches; what is queued is abandoned (never half-written) and read again on restart.
    func shutdown() {
        condition.lock()
        stopping = true
        condition.broadcast()
        condition.unlock()
        toVerify.close()
    }
}
