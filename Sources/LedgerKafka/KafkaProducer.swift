import CRdKafka
import Foundation

/// A Kafka producer over librdkafka, with synchronous (blocking) delivery confirmation.
///
/// `send` enqueues one message and **blocks** until its delivery report arrives (or the call's timeout), returning the
/// partition and offset or throwing the broker's error. `sendMany` enqueues a whole array and blocks until every report
/// arrived. `flush` and `close` block too. Call them from a dedicated thread, never from a Swift concurrency
/// executor (they would block one of its few threads).
///
/// Delivery reports, errors and librdkafka's log lines are consumed with the event API
/// (`rd_kafka_conf_set_events` + `rd_kafka_queue_poll` on the main queue), served by the calling threads themselves:
/// whichever blocked caller is waiting becomes the single "poller" at a time and hands reports to the others. No
/// callback ever runs on librdkafka's internal threads. `onError` and `onLog` are called on such a calling thread.
///
/// Thread-safety: all methods may be called from several threads at once (state is guarded by an `NSCondition`).
/// The C handle is destroyed only by `close()`/`deinit` after every in-progress call has returned.
///
/// Defaults (overridable through `config`): `enable.idempotence=true`, `acks=all`, `linger.ms=5`. `message.timeout.ms`
/// keeps librdkafka's default (300 s): a `send` that throws `_TIMED_OUT` because *its* timeout expired leaves the
/// message in flight, and it may still be delivered later.
public final class KafkaProducer: @unchecked Sendable {
    private let handle: UnsafeSendablePointer      // rd_kafka_t *
    private let mainQueue: UnsafeSendablePointer   // rd_kafka_queue_t * (main queue: DR, ERROR, LOG events)

    /// Outstanding messages of one `send`/`sendMany` call. Only touched with `condition` locked.
    private final class Batch {
        var results: [Result<KafkaDeliveryReport, KafkaError>?]
        var remaining: Int
        init(count: Int) {
            results = Array(repeating: nil, count: count)
            remaining = count
        }
        func complete(_ index: Int, _ result: Result<KafkaDeliveryReport, KafkaError>) {
            guard results[index] == nil else { return }
            results[index] = result
            remaining -= 1
        }
    }

    private let condition = NSCondition()
    // Guarded by `condition`:
    private var inflight: [UInt: (batch: Batch, index: Int)] = [:]
    private var nextMessageID: UInt = 1
    private var pollerActive = false
    private var activeCalls = 0
    private var closing = false
    private var destroyed = false
    private var fatalError: KafkaError?
    private var errorHandler: (@Sendable (KafkaError) -> Void)?
    private var logHandler: (@Sendable (KafkaLogEntry) -> Void)?

    /// Called (on a thread blocked in `send`/`sendMany`/`flush`/`close`) for every error event: transient ones such as
    /// `_TRANSPORT` or `_ALL_BROKERS_DOWN` (librdkafka retries by itself) and fatal ones (then every call throws).
    public var onError: (@Sendable (KafkaError) -> Void)? {
        get { condition.withLock { errorHandler } }
        set { condition.withLock { errorHandler = newValue } }
    }

    /// Receives librdkafka's log lines (routed to the event queue with `log.queue=true`). When nil they are dropped.
    /// Log lines are only served while some thread is blocked in this producer.
    public var onLog: (@Sendable (KafkaLogEntry) -> Void)? {
        get { condition.withLock { logHandler } }
        set { condition.withLock { logHandler = newValue } }
    }

    /// Creates a producer connected to `bootstrapServers` (`host:port,...`).
    /// - Parameter config: extra librdkafka properties; they override the defaults documented on the type.
    public init(bootstrapServers: String, config: [String: String] = [:]) throws(KafkaError) {
        let defaults = [
            "enable.idempotence": "true",
            "acks": "all",
            "linger.ms": "5",
            "client.id": "mlledger-producer",
        ]
        let forced = ["bootstrap.servers": bootstrapServers, "log.queue": "true"]
        let conf = try makeConfiguration(mergeConfiguration(defaults: defaults, user: config, forced: forced),
                                         client: "producer")
        rd_kafka_conf_set_events(conf, RD_KAFKA_EVENT_DR | RD_KAFKA_EVENT_ERROR | RD_KAFKA_EVENT_LOG)
        let rk = try makeHandle(RD_KAFKA_PRODUCER, conf: conf, client: "producer")
        rd_kafka_set_log_queue(rk, nil)  // logs -> main queue
        handle = UnsafeSendablePointer(rk)
        mainQueue = UnsafeSendablePointer(rd_kafka_queue_get_main(rk))
    }

    deinit {
        close()
    }

    // MARK: Sending

    /// Sends one message and blocks until its delivery report arrives or `timeout` expires.
    /// - Parameters:
    ///   - key: partitioning key (librdkafka's `consistent_random` partitioner: same key, same partition); nil = null.
    ///   - partition: an explicit partition, or nil to let the partitioner choose.
    /// - Returns: where the message was stored.
    /// - Throws: the enqueue error (e.g. `MSG_SIZE_TOO_LARGE`, `_UNKNOWN_PARTITION`), the broker's delivery error
    ///   (e.g. `TOPIC_AUTHORIZATION_FAILED`, `_MSG_TIMED_OUT`), `_TIMED_OUT` when `timeout` expired first (the message
    ///   may still be delivered), `_DESTROY` after `close()`, or the producer's fatal error.
    public func send(topic: String, key: [UInt8]?, value: [UInt8], headers: [KafkaHeader] = [],
                     partition: Int32? = nil, timeout: Duration = .seconds(30)) throws(KafkaError) -> KafkaDeliveryReport {
        let message = Outgoing(topic: topic, key: key, value: value, headers: headers, partition: partition)
        let results = try deliver([message], timeout: timeout)
        return try results[0].get()
    }

    /// Enqueues every message and blocks until all delivery reports arrived or `timeout` expired.
    ///
    /// Returns one result per message, in order: a delivery report, or that message's error (`_TIMED_OUT` for those
    /// whose report had not arrived by the deadline). When librdkafka's local queue is full
    /// (`queue.buffering.max.messages`) the call serves delivery reports until there is room again.
    /// - Throws: only if the producer is closed or has raised a fatal error before the messages were enqueued.
    public func sendMany(_ messages: [(topic: String, key: [UInt8]?, value: [UInt8], headers: [KafkaHeader])],
                         timeout: Duration) throws(KafkaError) -> [Result<KafkaDeliveryReport, KafkaError>] {
        try deliver(messages.map { Outgoing(topic: $0.topic, key: $0.key, value: $0.value, headers: $0.headers, partition: nil) },
                    timeout: timeout)
    }

    /// Blocks until every message enqueued so far has been delivered (or failed) and its report served, or throws
    /// `_TIMED_OUT` with the number of messages still outstanding.
    public func flush(timeout: Duration) throws(KafkaError) {
        let deadline = Instant.now + timeout
        try enter(operation: "flush producer")
        defer { leave() }
        while true {
            let outstanding = rd_kafka_outq_len(handle.raw)
            if outstanding == 0 { return }
            if Instant.now >= deadline {
                throw KafkaError(RD_KAFKA_RESP_ERR__TIMED_OUT, operation: "flush producer",
                                 message: "\(outstanding) message(s)/event(s) still outstanding after \(timeout)")
            }
            serveOrWait(until: deadline)
        }
    }

    /// Flushes for up to 5 seconds, fails any still-waiting `send` with `_DESTROY`, then destroys the handle.
    /// Idempotent; blocks; `deinit` calls it too.
    public func close() {
        close(flushTimeout: .seconds(5))
    }

    /// `close()` with an explicit flush budget.
    public func close(flushTimeout: Duration) {
        condition.lock()
        if closing {
            while !destroyed { condition.wait() }
            condition.unlock()
            return
        }
        closing = true
        condition.unlock()

        // Let in-progress calls and queued messages finish (serving their delivery reports) for a while.
        let deadline = Instant.now + flushTimeout
        while Instant.now < deadline {
            let busy = condition.withLock { activeCalls > 0 }
            if !busy && rd_kafka_outq_len(handle.raw) == 0 { break }
            serveOrWait(until: deadline)
        }

        condition.lock()
        let abandoned = KafkaError(RD_KAFKA_RESP_ERR__DESTROY, operation: "deliver message",
                                   message: "producer closed before the delivery report arrived")
        for (_, entry) in inflight { entry.batch.complete(entry.index, .failure(abandoned)) }
        inflight.removeAll()
        condition.broadcast()
        while activeCalls > 0 || pollerActive { condition.wait() }
        condition.unlock()

        rd_kafka_queue_destroy(mainQueue.raw)
        rd_kafka_destroy(handle.raw)

        condition.withLock {
            destroyed = true
            condition.broadcast()
        }
    }

    // MARK: Internals

    private struct Outgoing {
        var topic: String
        var key: [UInt8]?
        var value: [UInt8]
        var headers: [KafkaHeader]
        var partition: Int32?
    }

    /// Registers a call that uses the handle; fails once closing started or after a fatal error.
    private func enter(operation: String) throws(KafkaError) {
        condition.lock()
        defer { condition.unlock() }
        if closing {
            throw KafkaError(RD_KAFKA_RESP_ERR__DESTROY, operation: operation, message: "producer is closed")
        }
        if let fatalError { throw fatalError }
        activeCalls += 1
    }

    private func leave() {
        condition.withLock {
            activeCalls -= 1
            condition.broadcast()
        }
    }

    private func deliver(_ messages: [Outgoing], timeout: Duration) throws(KafkaError) -> [Result<KafkaDeliveryReport, KafkaError>] {
        let deadline = Instant.now + timeout
        try enter(operation: "produce")
        defer { leave() }
        if messages.isEmpty { return [] }

        let batch = Batch(count: messages.count)
        let firstID: UInt = condition.withLock {
            let first = nextMessageID
            nextMessageID += UInt(messages.count)
            for index in messages.indices { inflight[first + UInt(index)] = (batch, index) }
            return first
        }

        for (index, message) in messages.enumerated() {
            let id = firstID + UInt(index)
            while true {
                guard let error = enqueue(message, id: id) else { break }
                if error.code == KafkaErrorCode.queueFull && Instant.now < deadline && !condition.withLock({ closing }) {
                    serveOrWait(until: deadline)  // make room by serving delivery reports
                    continue
                }
                condition.withLock {
                    if inflight.removeValue(forKey: id) != nil { batch.complete(index, .failure(error)) }
                }
                break
            }
        }

        // Wait for the reports, serving the queue when no other thread does.
        while true {
            let done = condition.withLock { batch.remaining == 0 }
            if done || Instant.now >= deadline { break }
            serveOrWait(until: deadline)
        }

        return condition.withLock {
            var results: [Result<KafkaDeliveryReport, KafkaError>] = []
            results.reserveCapacity(messages.count)
            for (index, message) in messages.enumerated() {
                if let result = batch.results[index] {
                    results.append(result)
                } else {
                    inflight.removeValue(forKey: firstID + UInt(index))
                    results.append(.failure(KafkaError(
                        RD_KAFKA_RESP_ERR__TIMED_OUT, operation: "deliver message to topic '\(message.topic)'",
                        message: "no delivery report within \(timeout); the message may still be delivered")))
                }
            }
            return results
        }
    }

    /// Enqueues one message with `rd_kafka_produceva` (payload copied); returns the enqueue error, if any.
    private func enqueue(_ message: Outgoing, id: UInt) -> KafkaError? {
        // Headers: handed over as an rd_kafka_headers_t, owned by librdkafka on success, by us on failure.
        var headerList: OpaquePointer?
        if !message.headers.isEmpty {
            let list = rd_kafka_headers_new(message.headers.count)!
            for header in message.headers {
                if let value = header.value {
                    withNonNullBytes(value) { pointer, size in _ = rd_kafka_header_add(list, header.name, -1, pointer, size) }
                } else {
                    _ = rd_kafka_header_add(list, header.name, -1, nil, 0)
                }
            }
            headerList = list
        }

        let error: OpaquePointer? = message.topic.withCString { topic in
            withNonNullBytes(message.value) { valuePointer, valueSize in
                func produce(key: UnsafeRawPointer?, keySize: Int) -> OpaquePointer? {
                    var vus: [rd_kafka_vu_t] = []
                    vus.reserveCapacity(7)
                    var vu = rd_kafka_vu_t()
                    vu.vtype = RD_KAFKA_VTYPE_TOPIC
                    vu.u.cstr = topic
                    vus.append(vu)

                    vu = rd_kafka_vu_t()
                    vu.vtype = RD_KAFKA_VTYPE_VALUE
                    vu.u.mem.ptr = UnsafeMutableRawPointer(mutating: valuePointer)
                    vu.u.mem.size = valueSize
                    vus.append(vu)

                    if let key {
                        vu = rd_kafka_vu_t()
                        vu.vtype = RD_KAFKA_VTYPE_KEY
                        vu.u.mem.ptr = UnsafeMutableRawPointer(mutating: key)
                        vu.u.mem.size = keySize
                        vus.append(vu)
                    }
                    if let partition = message.partition {
                        vu = rd_kafka_vu_t()
                        vu.vtype = RD_KAFKA_VTYPE_PARTITION
                        vu.u.i32 = partition
                        vus.append(vu)
                    }
                    if let headerList {
                        vu = rd_kafka_vu_t()
                        vu.vtype = RD_KAFKA_VTYPE_HEADERS
                        vu.u.headers = headerList
                        vus.append(vu)
                    }
                    vu = rd_kafka_vu_t()
                    vu.vtype = RD_KAFKA_VTYPE_MSGFLAGS
                    vu.u.i = RD_KAFKA_MSG_F_COPY
                    vus.append(vu)

                    vu = rd_kafka_vu_t()
                    vu.vtype = RD_KAFKA_VTYPE_OPAQUE
                    vu.u.ptr = UnsafeMutableRawPointer(bitPattern: id)
                    vus.append(vu)

                    return rd_kafka_produceva(handle.raw, vus, vus.count)
                }
                if let key = message.key {
                    return withNonNullBytes(key) { produce(key: $0, keySize: $1) }
                }
                return produce(key: nil, keySize: 0)
            }
        }
        guard let error else { return nil }
        if let headerList { rd_kafka_headers_destroy(headerList) }
        var target = "topic '\(message.topic)'"
        if let partition = message.partition { target += " [\(partition)]" }
        return KafkaError(consuming: error, operation: "enqueue message for \(target)")
    }

    /// Becomes the poller and serves the main queue for a short slice, or, if another thread is the poller, waits
    /// for it to hand over reports. Returns after at most ~100 ms (or at `deadline`). `onError`/`onLog` handlers run
    /// here, after the poller role was released (so they may call this producer).
    private func serveOrWait(until deadline: Instant) {
        condition.lock()
        if pollerActive {
            let wake = min(deadline, Instant.now + .milliseconds(100))
            _ = condition.wait(until: Date(timeIntervalSinceNow: Double((wake - .now).clampedMilliseconds) / 1000))
            condition.unlock()
            return
        }
        pollerActive = true
        condition.unlock()

        var notifications: [Notification] = []
        let timeout = max(1, millisecondsUntil(deadline, cap: 100))
        serveQueue(firstTimeoutMs: timeout, notifications: &notifications)

        let (onError, onLog) = condition.withLock {
            pollerActive = false
            condition.broadcast()
            return (errorHandler, logHandler)
        }
        for notification in notifications {
            switch notification {
            case .error(let error): onError?(error)
            case .log(let entry): onLog?(entry)
            }
        }
    }

    private enum Notification {
        case error(KafkaError)
        case log(KafkaLogEntry)
    }

    /// Polls the main queue once with `firstTimeoutMs`, then drains what is immediately available (bounded).
    /// Must only run on the current poller.
    private func serveQueue(firstTimeoutMs: Int32, notifications: inout [Notification]) {
        var timeout = firstTimeoutMs
        for _ in 0..<1000 {
            guard let event = rd_kafka_queue_poll(mainQueue.raw, timeout) else { return }
            timeout = 0
            process(event: event, notifications: &notifications)
            rd_kafka_event_destroy(event)
        }
    }

    private func process(event: OpaquePointer, notifications: inout [Notification]) {
        switch rd_kafka_event_type(event) {
        case RD_KAFKA_EVENT_DR:
            var reports: [(UInt, Result<KafkaDeliveryReport, KafkaError>)] = []
            reports.reserveCapacity(Int(rd_kafka_event_message_count(event)))
            while let msg = rd_kafka_event_message_next(event) {
                let m = msg.pointee
                let id = UInt(bitPattern: m._private)
                let topic = m.rkt.map { String(cString: rd_kafka_topic_name($0)) } ?? ""
                if m.err == RD_KAFKA_RESP_ERR_NO_ERROR {
                    reports.append((id, .success(KafkaDeliveryReport(topic: topic, partition: m.partition, offset: m.offset))))
                } else {
                    let status: String
                    switch rd_kafka_message_status(msg) {
                    case RD_KAFKA_MSG_STATUS_NOT_PERSISTED: status = "not persisted"
                    case RD_KAFKA_MSG_STATUS_POSSIBLY_PERSISTED: status = "possibly persisted"
                    default: status = "persisted"
                    }
                    let target = m.partition >= 0 ? "topic '\(topic)' [\(m.partition)]" : "topic '\(topic)'"
                    reports.append((id, .failure(KafkaError(
                        m.err, operation: "deliver message to \(target)",
                        message: "\(String(cString: rd_kafka_err2str(m.err))) (message \(status))",
                        topicPartition: m.partition >= 0 ? KafkaTopicPartition(topic: topic, partition: m.partition) : nil))))
                }
            }
            condition.withLock {
                for (id, result) in reports {
                    if let entry = inflight.removeValue(forKey: id) { entry.batch.complete(entry.index, result) }
                }
                condition.broadcast()
            }
        case RD_KAFKA_EVENT_ERROR:
            let error = errorFromEvent(event, operation: "producer")
            if error.isFatal {
                condition.withLock {
                    if fatalError == nil { fatalError = error }
                    // librdkafka will fail the queued messages too; don't make callers wait for that.
                    for (_, entry) in inflight { entry.batch.complete(entry.index, .failure(error)) }
                    inflight.removeAll()
                    condition.broadcast()
                }
            }
            notifications.append(.error(error))
        case RD_KAFKA_EVENT_LOG:
            if let entry = logEntry(from: event) { notifications.append(.log(entry)) }
        default:
            break
        }
    }
}
