import Foundation
import LedgerCore
import LedgerCrypto
import LedgerKafka
import LedgerPolicy
import LedgerStore
import LedgerWorkers
import Logging

/// One worker thread: claims a job, runs it, and emits what happened as events signed with the worker's key.
///
/// Every failure that is the job's (bad parameters, an unknown template, a non-zero exit, results that do not check
/// out) ends the job as failed with a reason, recorded by a signed `*.failed` event; only a lost database or broker
/// is thrown, and the job's lease then runs out so another worker takes it over.
final class JobWorker {
    let name: String
    let configuration: WorkerConfiguration
    let db: LedgerDatabase
    let producer: KafkaProducer
    let signer: EnvelopeSigner
    let logger: Logger

    init(name: String, configuration: WorkerConfiguration, logger: Logger) throws {
        self.name = name
        self.configuration = configuration
        self.logger = logger
        db = try LedgerDatabase(url: configuration.databaseURL)
        producer = try KafkaProducer(bootstrapServers: configuration.bootstrapServers)
        signer = EnvelopeSigner(key: configuration.key)
    }

    func close() {
        producer.close()
        db.connection.close()
    }

    var source: String { "worker://\(name)" }

    /// Runs one job if there is one; false when the queue had nothing for this worker.
    func runNext() throws -> Bool {
        guard let claim = try JobQueue.claim(worker: name, lease: configuration.lease, on: db.connection) else {
            return false
        }
        switch claim {
        case .lost(let job):
            logger.warning("job \(job.id) (\(job.subject)) lost its worker \(job.worker ?? "?") while running; not run again")
            try releaseLostAllocation(of: job)
            try emit(failure(of: job, reason: JobQueue.workerLost))
        case .run(let job):
            logger.info("job \(job.id): \(job.kind.rawValue) \(job.subject) with \(job.template ?? "no template")")
            guard let ending = try execute(job) else {
                logger.info("job \(job.id) waits for capacity")
                return true
            }
            try JobQueue.finish(job.id, worker: name, state: ending.state, reason: ending.reason,
                                logDigest: ending.logDigest, result: ending.result, on: db.connection)
        }
        return true
    }

    /// Records the release of the GPUs a lost worker's attempt held (its `gpu.allocated` has no release yet), and
    /// stops counting them for placement.
    func releaseLostAllocation(of job: Job) throws {
        guard job.kind == .training, let node = job.node, job.gpus > 0, job.attempts > 0 else { return }
        let lost = GPUAllocation(allocationID: "\(job.id).\(job.attempts)", runID: job.subjectID, nodeID: node,
                                 gpuType: "", count: job.gpus)
        try emit(ResultEvent(type: "mlops.gpu.released", data: lost.releasedEventData()))
        try JobQueue.forgetPlacement(job.id, worker: name, on: db.connection)
    }

    /// How a job ended.
    struct Ending {
        var state: JobState
        var reason: String?
        var logDigest: String?
        var result: JSONObject?

        static func failed(_ reason: String, logDigest: String? = nil) -> Ending {
            Ending(state: .failed, reason: reason, logDigest: logDigest)
        }
    }

    private func execute(_ job: Job) throws -> Ending? {
        if let action = job.data["action"]?.stringValue { return try respondToDrift(job, action: action) }
        guard let name = job.template, let template = configuration.templates[name] else {
            return try fail(job, "unknown_template: no job template named \(job.template ?? "(none)")")
        }
        guard template.kind == job.kind else {
            return try fail(job, "template_kind_mismatch: \(name) is a \(template.kind.rawValue) template")
        }
        switch job.kind {
        case .training: return try train(job, template)
        case .deployment: return try deploy(job, template)
        case .validation: return try fail(job, "template_kind_mismatch: validation runs as part of a training request")
        }
    }

    /// Ends a job that could not run: the failure event (with the output log's digest when a command ran), and
    /// the job's final state.
    func fail(_ job: Job, _ reason: String, logDigest: String? = nil) throws -> Ending {
        logger.warning("job \(job.id) failed: \(reason)")
        let event = failure(of: job, reason: reason)
        var data = event.data
        if let logDigest { data["log_digest"] = .string(logDigest) }
        try emit(ResultEvent(type: event.type, data: data))
        return .failed(reason, logDigest: logDigest)
    }

    /// `mlops.training.failed` or `mlops.deployment.failed` with `reason`.
    func failure(of job: Job, reason: String) -> ResultEvent {
        switch job.kind {
        case .deployment:
            return ResultEvent(type: "mlops.deployment.failed",
                               data: ["deployment_id": .string(job.subjectID), "reason": .string(reason)])
        case .training, .validation:
            return ResultEvent(type: "mlops.training.failed",
                               data: ["run_id": .string(job.subjectID), "reason": .string(reason)])
        }
    }

    // MARK: Running a command

    /// Runs the invocation while renewing the job's lease; the outcome, or nil when the lease was lost meanwhile
    /// (another worker took the job over, so this one must not report it).
    func run(_ invocation: JobInvocation, in workspace: JobWorkspace, job: Job) throws -> ProcessOutcome {
        let renewal = LeaseRenewal(job: job.id, worker: name, lease: configuration.lease, db: db, logger: logger)
        defer { renewal.stop() }
        return try ProcessRunner.run(invocation.processSpec(logPath: workspace.logPath))
    }

    // MARK: Events

    /// Signs `event` with the worker key and sends it to the events topic, waiting for the broker's acknowledgement.
    func emit(_ event: ResultEvent, subject: String? = nil, region: String? = nil) throws {
        let micros = LedgerIdentity.nowMicros()
        var extensions: [(String, String)] = [("actor", source)]
        if let region { extensions.append(("region", region)) }
        let subject = subject ?? Self.subject(of: event)
        let attributes = CloudEvent.make(id: EventIDs.uuidV7(unixMillis: UInt64(micros / 1000)), source: source,
                                         type: event.type, subject: subject,
                                         time: EventTime.format(micros: micros), data: event.data,
                                         extensions: extensions)
        let envelope = signer.envelope(for: attributes).envelope
        _ = try producer.send(topic: configuration.topic, key: Array(subject.utf8), value: envelope,
                              headers: [KafkaHeader(name: "content-type", value: Array("application/dsse+json".utf8))])
    }

    func emit(_ events: [ResultEvent], region: String? = nil) throws {
        for e in events { try emit(e, region: region) }
    }

    /// The catalog's subject for a result type (wire format §4).
    static func subject(of event: ResultEvent) -> String {
        let d = event.data
        if event.type.hasPrefix("mlops.training.") { return "run/" + (d["run_id"]?.stringValue ?? "") }
        if event.type.hasPrefix("mlops.gpu.") { return "gpu/" + (d["allocation_id"]?.stringValue ?? "") }
        if event.type.hasPrefix("mlops.deployment.") { return "deployment/" + (d["deployment_id"]?.stringValue ?? "") }
        let model = d["model"]?.stringValue ?? ""
        return "model/" + (model.split(separator: "@").first.map(String.init) ?? model)
    }
}

/// Renews a job's lease every third of its length until stopped.
final class LeaseRenewal: @unchecked Sendable {
    private let flag = StopFlag()
    private let done = DispatchSemaphore(value: 0)

    init(job: String, worker: String, lease: Duration, db: LedgerDatabase, logger: Logger) {
        let thread = Thread { [flag, done] in
            defer { done.signal() }
            while true {
                flag.sleep(lease / 3)
                if flag.isSet { return }
                do {
                    if try !JobQueue.renew(job, worker: worker, lease: lease, on: db.connection) {
                        logger.warning("job \(job): the lease is no longer \(worker)'s")
                    }
                } catch {
                    logger.warning("job \(job): lease renewal failed: \(error)")
                }
            }
        }
        thread.name = "mlledger-lease"
        thread.start()
    }

    func stop() {
        flag.set()
        done.wait()
    }
}
