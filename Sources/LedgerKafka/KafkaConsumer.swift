import CRdKafka
import Foundation

/// A consumer-group member with manual offset management, over librdkafka.
///
/// Offsets are never committed or stored automatically (`enable.auto.commit=false`,
/// `enable.auto.offset.store=false`, forced). On every assignment the consumer asks `startOffsets` where each assigned
/// partition must start (`nil`, or a partition missing from the result, = the beginning of the partition) and assigns
/// exactly there; the ledger keeps its true offsets in PostgreSQL. If `startOffsets` throws, the error is reported
/// through `onError` (code `_APPLICATION`) and the assignment is retried later (backing off from 250 ms to 5 s) from
/// within `poll`; nothing is assigned meanwhile. Revocations are reported through `onRevoke` before the partitions are
/// unassigned, including the final one during `close()`.
///
/// Everything librdkafka reports (messages, rebalances, errors, offset-commit results, logs) is consumed with the
/// event API from the consumer queue (`rd_kafka_poll_set_consumer`), on the thread calling ``poll(maxMessages:timeout:linger:)``
/// (or ``close()``). `startOffsets`, `onRevoke`, `onError` and `onLog` run on that thread; they may call `commit`,
/// `seek` and `assignment`, but not `poll` or `close`.
///
/// Threading rule: `poll` and `close` are blocking and must run on a dedicated thread (not a Swift concurrency
/// executor). One thread polls at a time (concurrent polls are serialized). `seek` should be called by the polling
/// thread between polls; `commit`, `assignment`, `onError`/`onLog` may be used from any thread. `close()` from another
/// thread waits for an in-progress `poll` to return (which notices the close within ~100 ms).
///
/// The application must call `poll` at least every `max.poll.interval.ms` (default 300 s) or librdkafka leaves the group.
/// Only eager rebalancing (the default `range,roundrobin` assignors) is supported; cooperative strategies are rejected.
public final class KafkaConsumer: @unchecked Sendable {
    private let handle: UnsafeSendablePointer  // rd_kafka_t *
    private let queue: UnsafeSendablePointer   // rd_kafka_queue_t *: the consumer queue, main queue forwarded to it
    private let groupID: String
    private let startOffsets: @Sendable ([KafkaTopicPartition]) throws -> [KafkaTopicPartition: Int64?]
    private let onRevoke: @Sendable ([KafkaTopicPartition]) -> Void

    /// Held by the one thread serving the consumer queue (inside `poll` or `close`).
    private let pollLock = NSLock()
    /// Held while the handle is used outside the poll loop (`commit`, `seek`) and while it is destroyed. Recursive:
    /// callbacks run by `close()` may call `commit`.
    private let lifecycleLock = NSRecursiveLock()
    private var destroyed = false  // guarded by lifecycleLock (written with pollLock held too)

    private let stateLock = NSLock()
    // Guarded by stateLock:
    private var currentAssignment: Set<KafkaTopicPartition> = []
    private var buffered: [KafkaMessage] = []  // taken from librdkafka but not yet returned by poll
    private var closeRequested = false
    private var fatalError: KafkaError?
    private var servingThread: Thread?
    private var errorHandler: (@Sendable (KafkaError) -> Void)?
    private var logHandler: (@Sendable (KafkaLogEntry) -> Void)?

    // Only used by the thread holding pollLock:
    private var pendingAssignment: [KafkaTopicPartition]?
    private var nextAssignmentAttempt = Instant.now
    private var assignmentBackoff: Duration = .milliseconds(250)

    /// Called for non-fatal errors: transient broker/transport problems (librdkafka keeps retrying), a subscribed topic
    /// that does not exist, failed offset commits, `startOffsets` failures. Runs on the polling thread.
    public var onError: (@Sendable (KafkaError) -> Void)? {
        get { stateLock.withLock { errorHandler } }
        set { stateLock.withLock { errorHandler = newValue } }
    }

    /// Receives librdkafka's log lines (routed to the consumer queue with `log.queue=true`); nil drops them.
    /// Runs on the polling thread.
    public var onLog: (@Sendable (KafkaLogEntry) -> Void)? {
        get { stateLock.withLock { logHandler } }
        set { stateLock.withLock { logHandler = newValue } }
    }

    /// Creates the consumer and subscribes to `topics` (joining the group happens during `poll`).
    /// - Parameters:
    ///   - config: extra librdkafka properties. Defaults: `client.id=mlledger-consumer` and `auto.offset.reset=error`:
    ///     a start offset outside the partition's log (before its start, after its end) is reported through `onError`
    ///     as `_AUTO_OFFSET_RESET` with ``KafkaError/topicPartition`` set, and that partition stops fetching (instead of
    ///     silently jumping; set `earliest`/`latest` to jump). Forced: `group.id`, `enable.auto.commit=false`,
    ///     `enable.auto.offset.store=false`, `log.queue=true`.
    ///   - startOffsets: where to start each newly assigned partition: an offset, or nil for the beginning.
    ///   - onRevoke: partitions that are being taken away (called before they are unassigned).
    public init(bootstrapServers: String, groupID: String, topics: [String], config: [String: String] = [:],
                startOffsets: @escaping @Sendable ([KafkaTopicPartition]) throws -> [KafkaTopicPartition: Int64?],
                onRevoke: @escaping @Sendable ([KafkaTopicPartition]) -> Void = { _ in }) throws(KafkaError) {
        guard !topics.isEmpty else {
            throw KafkaError(RD_KAFKA_RESP_ERR__INVALID_ARG, operation: "create consumer for group '\(groupID)'",
                             message: "no topics to subscribe to")
        }
        if let strategy = config["partition.assignment.strategy"], strategy.contains("cooperative") {
            throw KafkaError(RD_KAFKA_RESP_ERR__INVALID_ARG, operation: "create consumer for group '\(groupID)'",
                             message: "cooperative rebalancing ('\(strategy)') is not supported; use range/roundrobin")
        }
        let defaults = [
            "client.id": "mlledger-consumer",
            "auto.offset.reset": "error",
        ]
        let forced = [
            "bootstrap.servers": bootstrapServers,
            "group.id": groupID,
            "enable.auto.commit": "false",
            "enable.auto.offset.store": "false",
            "log.queue": "true",
        ]
        let conf = try makeConfiguration(mergeConfiguration(defaults: defaults, user: config, forced: forced),
                                         client: "consumer")
        rd_kafka_conf_set_events(conf, RD_KAFKA_EVENT_FETCH | RD_KAFKA_EVENT_REBALANCE | RD_KAFKA_EVENT_ERROR
                                     | RD_KAFKA_EVENT_LOG | RD_KAFKA_EVENT_OFFSET_COMMIT)
        let rk = try makeHandle(RD_KAFKA_CONSUMER, conf: conf, client: "consumer for group '\(groupID)'")

        rd_kafka_poll_set_consumer(rk)  // main queue (errors, logs) -> consumer queue
        let consumerQueue = rd_kafka_queue_get_consumer(rk)!
        rd_kafka_set_log_queue(rk, consumerQueue)

        let list = makePartitionList(topics.map { (KafkaTopicPartition(topic: $0, partition: RD_KAFKA_PARTITION_UA), nil) })
        let err = rd_kafka_subscribe(rk, list)
        rd_kafka_topic_partition_list_destroy(list)
        if err != RD_KAFKA_RESP_ERR_NO_ERROR {
            rd_kafka_queue_destroy(consumerQueue)
            rd_kafka_destroy_flags(rk, Int32(RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE))
            throw KafkaError(err, operation: "subscribe group '\(groupID)' to \(topics)")
        }

        handle = UnsafeSendablePointer(rk)
        queue = UnsafeSendablePointer(consumerQueue)
        self.groupID = groupID
        self.startOffsets = startOffsets
        self.onRevoke = onRevoke
    }

    deinit {
        close()
    }

    /// The partitions currently assigned to this member (with their start offsets applied).
    public var assignment: Set<KafkaTopicPartition> {
        stateLock.withLock { currentAssignment }
    }

    // MARK: Polling

    /// Blocks up to `timeout` for the first message, then returns up to `maxMessages` that are ready, waiting at most
    /// `linger` more for a fuller batch. Messages are in per-partition offset order.
    ///
    /// Rebalance, error, commit-result and log events are handled on the calling thread meanwhile (which is where
    /// `startOffsets`, `onRevoke`, `onError` and `onLog` run). Returns early (possibly empty) when `close()` is
    /// called from another thread. Messages of partitions revoked during the call are not returned.
    /// - Throws: a fatal consumer error (sticky: later calls throw it too), or `_DESTROY` after `close()`.
    ///   Transient errors (broker down, transport) go to `onError` and polling continues.
    public func poll(maxMessages: Int, timeout: Duration, linger: Duration = .milliseconds(5)) throws(KafkaError) -> [KafkaMessage] {
        precondition(maxMessages > 0, "maxMessages must be positive")
        let start = Instant.now
        checkNotServingThread("poll()")
        pollLock.lock()
        defer { pollLock.unlock() }
        if lifecycleLock.withLock({ destroyed }) {
            throw KafkaError(RD_KAFKA_RESP_ERR__DESTROY, operation: "poll consumer group '\(groupID)'",
                             message: "consumer is closed")
        }
        var out: [KafkaMessage] = []
        let fatal: KafkaError? = stateLock.withLock {
            servingThread = Thread.current
            let count = min(maxMessages, buffered.count)
            out.append(contentsOf: buffered.prefix(count))
            buffered.removeFirst(count)
            return fatalError
        }
        defer { stateLock.withLock { servingThread = nil } }
        if let fatal, out.isEmpty { throw fatal }

        let timeoutDeadline = start + timeout
        var lingerDeadline: Instant? = out.isEmpty ? nil : .now + linger
        while out.count < maxMessages {
            if stateLock.withLock({ closeRequested }) { break }
            retryPendingAssignment()
            let deadline = lingerDeadline ?? timeoutDeadline
            var wait = millisecondsUntil(deadline, cap: 100)
            if pendingAssignment != nil { wait = min(wait, max(1, millisecondsUntil(nextAssignmentAttempt, cap: 100))) }
            guard let event = rd_kafka_queue_poll(queue.raw, wait) else {
                if Instant.now >= deadline { break }
                continue
            }
            let fatal = process(event: event, into: &out, maxMessages: maxMessages, closing: false)
            rd_kafka_event_destroy(event)
            if lingerDeadline == nil && !out.isEmpty { lingerDeadline = .now + linger }
            if let fatal {
                if out.isEmpty { throw fatal }
                break  // return what we have; the next poll throws
            }
            if Instant.now >= (lingerDeadline ?? timeoutDeadline) { break }  // a stream of non-message events
        }
        return out
    }

    // MARK: Offsets

    /// The high watermark (offset of the next message to be written) of every assigned partition, as last reported
    /// by the brokers in fetch responses (`rd_kafka_get_watermark_offsets`: local, never blocks). Partitions with no
    /// fetch response yet are left out. With the ledger's committed offsets this gives the consumer lag.
    public func highWatermarks() -> [KafkaTopicPartition: Int64] {
        let partitions = stateLock.withLock { currentAssignment }
        return lifecycleLock.withLock {
            var out: [KafkaTopicPartition: Int64] = [:]
            if destroyed { return out }
            for tp in partitions {
                var low: Int64 = 0, high: Int64 = 0
                let err = rd_kafka_get_watermark_offsets(handle.raw, tp.topic, tp.partition, &low, &high)
                if err == RD_KAFKA_RESP_ERR_NO_ERROR && high >= 0 { out[tp] = high }
            }
            return out
        }
    }

    /// Asynchronously commits `nextOffsets` (the offset of the next message to read, per partition) to the group
    /// coordinator. Informational only (the ledger's truth is in PostgreSQL); a failure is reported through `onError`
    /// when its result event is served by `poll`. Does nothing after `close()`.
    public func commit(_ nextOffsets: [KafkaTopicPartition: Int64]) {
        guard !nextOffsets.isEmpty else { return }
        let error: KafkaError? = lifecycleLock.withLock {
            if destroyed { return nil }
            let list = makePartitionList(nextOffsets.sorted { $0.key < $1.key }.map { ($0.key, $0.value) })
            defer { rd_kafka_topic_partition_list_destroy(list) }
            let err = rd_kafka_commit_queue(handle.raw, list, queue.raw, nil, nil)
            return err == RD_KAFKA_RESP_ERR_NO_ERROR ? nil
                : KafkaError(err, operation: "commit offsets for group '\(groupID)'")
        }
        if let error { report(error) }
    }

    /// Moves the fetch position of a currently assigned partition to `offset` (used after a failed database
    /// transaction to re-read a batch). Blocks until librdkafka has applied the seek (up to `timeout`).
    /// Messages of that partition fetched before the seek are discarded; call it between polls, on the polling thread.
    /// - Throws: `_STATE` if the partition is not assigned to this member, or librdkafka's seek error.
    public func seek(_ tp: KafkaTopicPartition, to offset: Int64, timeout: Duration = .seconds(10)) throws(KafkaError) {
        let operation = "seek \(tp) to offset \(offset)"
        guard stateLock.withLock({ currentAssignment.contains(tp) }) else {
            throw KafkaError(RD_KAFKA_RESP_ERR__STATE, operation: operation,
                             message: "partition is not currently assigned to this consumer")
        }
        lifecycleLock.lock()
        defer { lifecycleLock.unlock() }
        if destroyed {
            throw KafkaError(RD_KAFKA_RESP_ERR__DESTROY, operation: operation, message: "consumer is closed")
        }
        let list = makePartitionList([(tp, offset)])
        defer { rd_kafka_topic_partition_list_destroy(list) }
        if let error = rd_kafka_seek_partitions(handle.raw, list, max(1, timeout.clampedMilliseconds)) {
            throw KafkaError(consuming: error, operation: operation)
        }
        let err = list.pointee.elems[0].err
        if err != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError(err, operation: operation) }
        stateLock.withLock { buffered.removeAll { $0.topic == tp.topic && $0.partition == tp.partition } }
    }

    // MARK: Closing

    /// Leaves the group cleanly and destroys the handle: `rd_kafka_consumer_close_queue` revokes the assignment
    /// (`onRevoke` is called on this thread), leaves the group, and then `rd_kafka_destroy`. Blocks until librdkafka
    /// reports the consumer closed (milliseconds with a reachable coordinator; capped at 60 s, after which the handle
    /// is destroyed without waiting). Idempotent; `deinit` calls it too. Must not be called from this consumer's
    /// callbacks.
    public func close() {
        checkNotServingThread("close()")
        stateLock.withLock { closeRequested = true }
        pollLock.lock()
        defer { pollLock.unlock() }
        lifecycleLock.lock()
        defer { lifecycleLock.unlock() }
        if destroyed { return }
        stateLock.withLock { servingThread = Thread.current }

        // rd_kafka_consumer_close_queue forwards the consumer queue to `closeQueue`, where the final revocation (and
        // anything still queued) arrives; serve it until librdkafka reports the consumer closed.
        let rk = handle.raw
        let closeQueue = rd_kafka_queue_new(rk)!
        var closedCleanly = false
        if let error = rd_kafka_consumer_close_queue(rk, closeQueue) {
            report(KafkaError(consuming: error, operation: "close consumer group '\(groupID)'"))
        } else {
            var discard: [KafkaMessage] = []
            let deadline = Instant.now + .seconds(60)
            while rd_kafka_consumer_closed(rk) == 0 && Instant.now < deadline {
                if let event = rd_kafka_queue_poll(closeQueue, 100) {
                    _ = process(event: event, into: &discard, maxMessages: 0, closing: true)
                    rd_kafka_event_destroy(event)
                }
                discard.removeAll()
            }
            closedCleanly = rd_kafka_consumer_closed(rk) != 0
        }
        rd_kafka_queue_destroy(closeQueue)
        rd_kafka_queue_destroy(queue.raw)
        if closedCleanly {
            rd_kafka_destroy(rk)
        } else {
            rd_kafka_destroy_flags(rk, Int32(RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE))
        }
        destroyed = true
        stateLock.withLock {
            currentAssignment = []
            buffered = []
            servingThread = nil
        }
        pendingAssignment = nil
    }

    // MARK: Internals

    private func checkNotServingThread(_ function: String) {
        let serving = stateLock.withLock { servingThread }
        precondition(serving !== Thread.current,
                     "KafkaConsumer.\(function) must not be called from a callback running inside poll() or close()")
    }

    private func report(_ error: KafkaError) {
        stateLock.withLock { errorHandler }?(error)
    }

    /// Handles one event; appends fetched messages to `out` (overflow beyond `maxMessages` goes to `buffered`).
    /// Returns a fatal error if the event carried one.
    private func process(event: OpaquePointer, into out: inout [KafkaMessage], maxMessages: Int,
                         closing: Bool) -> KafkaError? {
        switch rd_kafka_event_type(event) {
        case RD_KAFKA_EVENT_FETCH:
            while let msg = rd_kafka_event_message_next(event) {
                let err = msg.pointee.err
                if err == RD_KAFKA_RESP_ERR__PARTITION_EOF { continue }
                if err != RD_KAFKA_RESP_ERR_NO_ERROR {
                    let tp = KafkaTopicPartition(topic: msg.pointee.rkt.map { String(cString: rd_kafka_topic_name($0)) } ?? "",
                                                 partition: msg.pointee.partition)
                    report(KafkaError(err, operation: "consume \(tp) for group '\(groupID)'", topicPartition: tp))
                    continue
                }
                if closing { continue }
                let message = copyMessage(msg)
                if out.count < maxMessages {
                    out.append(message)
                } else {
                    stateLock.withLock { buffered.append(message) }
                }
            }

        case RD_KAFKA_EVENT_REBALANCE:
            let err = rd_kafka_event_error(event)
            let partitions = topicPartitions(rd_kafka_event_topic_partition_list(event))
            if err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS && !closing {
                pendingAssignment = partitions
                nextAssignmentAttempt = .now
                assignmentBackoff = .milliseconds(250)
                retryPendingAssignment()
            } else {
                if err != RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS && err != RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS {
                    report(KafkaError(err, operation: "rebalance group '\(groupID)'",
                                      message: rd_kafka_event_error_string(event).map { String(cString: $0) }))
                }
                revokeAll(out: &out)
            }

        case RD_KAFKA_EVENT_ERROR:
            let error = errorFromEvent(event, operation: "consumer group '\(groupID)'")
            if error.isFatal {
                stateLock.withLock { if fatalError == nil { fatalError = error } }
                return error
            }
            report(error)

        case RD_KAFKA_EVENT_OFFSET_COMMIT:
            let err = rd_kafka_event_error(event)
            let operation = "commit offsets for group '\(groupID)'"
            if err != RD_KAFKA_RESP_ERR_NO_ERROR && err != RD_KAFKA_RESP_ERR__NO_OFFSET {
                report(KafkaError(err, operation: operation))
            } else if let list = rd_kafka_event_topic_partition_list(event), let elems = list.pointee.elems {
                for index in 0..<Int(list.pointee.cnt) where elems[index].err != RD_KAFKA_RESP_ERR_NO_ERROR {
                    let tp = KafkaTopicPartition(topic: String(cString: elems[index].topic), partition: elems[index].partition)
                    report(KafkaError(elems[index].err, operation: "\(operation), partition \(tp)", topicPartition: tp))
                }
            }

        case RD_KAFKA_EVENT_LOG:
            if let handler = stateLock.withLock({ logHandler }), let entry = logEntry(from: event) { handler(entry) }

        default:
            break
        }
        return nil
    }

    /// Applies the pending assignment if its retry time has come: asks `startOffsets`, then `rd_kafka_assign` with
    /// exactly those offsets. On failure, reports and schedules a retry.
    private func retryPendingAssignment() {
        guard let partitions = pendingAssignment, Instant.now >= nextAssignmentAttempt else { return }
        let offsets: [KafkaTopicPartition: Int64?]
        do {
            offsets = try startOffsets(partitions)
        } catch {
            scheduleAssignmentRetry()
            report(KafkaError(code: KafkaErrorCode.application,
                              operation: "compute start offsets for assigned partitions \(partitions.sorted())",
                              message: "startOffsets threw: \(error); retrying in \(assignmentBackoff)",
                              isRetriable: true))
            return
        }
        let entries = partitions.map { tp -> (KafkaTopicPartition, Int64?) in
            (tp, (offsets[tp] ?? nil) ?? Int64(RD_KAFKA_OFFSET_BEGINNING))
        }
        let list = makePartitionList(entries)
        let err = rd_kafka_assign(handle.raw, list)
        rd_kafka_topic_partition_list_destroy(list)
        if err != RD_KAFKA_RESP_ERR_NO_ERROR {
            scheduleAssignmentRetry()
            report(KafkaError(err, operation: "assign partitions \(partitions.sorted()) of group '\(groupID)'"))
            return
        }
        pendingAssignment = nil
        stateLock.withLock { currentAssignment = Set(partitions) }
    }

    private func scheduleAssignmentRetry() {
        nextAssignmentAttempt = .now + assignmentBackoff
        assignmentBackoff = min(assignmentBackoff * 2, .seconds(5))
    }

    /// Eager revocation: report the assigned partitions to `onRevoke`, drop their undelivered messages, unassign all.
    private func revokeAll(out: inout [KafkaMessage]) {
        pendingAssignment = nil
        let revoked = stateLock.withLock { currentAssignment }
        if !revoked.isEmpty {
            onRevoke(revoked.sorted())
            out.removeAll { revoked.contains($0.topicPartition) }
        }
        let err = rd_kafka_assign(handle.raw, nil)
        stateLock.withLock {
            currentAssignment = []
            buffered.removeAll { revoked.contains($0.topicPartition) }
        }
        if err != RD_KAFKA_RESP_ERR_NO_ERROR && err != RD_KAFKA_RESP_ERR__DESTROY {
            report(KafkaError(err, operation: "unassign partitions of group '\(groupID)'"))
        }
    }
}
