import Foundation
import LedgerCore
import LedgerCrypto
import LedgerKafka
import LedgerPolicy
import LedgerStore
import LedgerWorkers
import Logging

/// What the embedded workers need: where jobs and their templates are, the GPU inventory, the policies that decide
/// where data may go, and the worker's own signing key for the events of what ran.
public struct WorkerConfiguration: Sendable {
    /// Worker threads in this process.
    public var count: Int
    public var databaseURL: String?
    public var bootstrapServers: String
    /// The events topic: results go back through ingest, verified like any producer's.
    public var topic: String
    public var templates: [String: JobTemplate]
    public var cluster: ClusterInventory
    public var policies: PolicySet
    /// The templates' `bin/` (`{{job.scripts}}`).
    public var scriptsDirectory: String
    /// Where each job gets its workspace.
    public var jobsRoot: String
    /// `{{job.serving_root}}` of local deployments.
    public var servingRoot: String
    /// Signs every event a worker emits; trust it with a scope for the result types (`WorkerConfiguration.trustScope`).
    public var key: Ed25519PrivateKey
    /// This process's worker name; thread i is `<name>-<i>` and emits from `worker://<name>-<i>`.
    public var name: String
    /// How long a claim holds without renewal; renewed every third of it while the job runs.
    public var lease: Duration
    /// How often an idle worker looks for work.
    public var poll: Duration

    public init(count: Int, databaseURL: String?, bootstrapServers: String, topic: String,
                templates: [String: JobTemplate], cluster: ClusterInventory, policies: PolicySet,
                scriptsDirectory: String, jobsRoot: String, servingRoot: String, key: Ed25519PrivateKey,
                name: String = WorkerConfiguration.defaultName(), lease: Duration = .seconds(30),
                poll: Duration = .milliseconds(500)) {
        self.count = count
        self.databaseURL = databaseURL
        self.bootstrapServers = bootstrapServers
        self.topic = topic
        self.templates = templates
        self.cluster = cluster
        self.policies = policies
        self.scriptsDirectory = scriptsDirectory
        self.jobsRoot = jobsRoot
        self.servingRoot = servingRoot
        self.key = key
        self.name = name
        self.lease = lease
        self.poll = poll
    }

    /// `<host>-<pid>`.
    public static func defaultName() -> String {
        let host = ProcessInfo.processInfo.hostName.split(separator: ".").first.map(String.init) ?? "host"
        let safe = host.filter { $0.isLetter || $0.isNumber || $0 == "-" }
        return "\(safe.isEmpty ? "host" : safe)-\(getpid())"
    }

    /// The event types workers emit: what a worker key is trusted for.
    public static let emittedTypes = [
        "mlops.training.requested", "mlops.training.started", "mlops.training.completed", "mlops.training.failed",
        "mlops.model.registered",
        "mlops.gpu.allocated", "mlops.gpu.released", "mlops.validation.passed", "mlops.validation.failed",
        "mlops.deployment.started", "mlops.deployment.traffic_shifted", "mlops.deployment.completed",
        "mlops.deployment.rolled_back", "mlops.deployment.failed",
    ]

    /// The trust scope of a worker key: its own source prefix and the result types.
    public static let trustScope = TrustScope(sources: [Glob("worker://*")], types: emittedTypes.map(Glob.init))
}

/// The embedded workers of `mlledger serve --workers N`: each thread claims a job (SKIP LOCKED, under a lease), runs
/// it, and emits the signed events of what ran; idle threads poll.
public final class WorkerPool: @unchecked Sendable {
    public let configuration: WorkerConfiguration
    private let logger: Logger
    private let stopping = StopFlag()
    private var threads: [Thread] = []
    private let finished = DispatchGroup()

    public init(configuration: WorkerConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
    }

    public func start() {
        for i in 0..<configuration.count {
            let name = "\(configuration.name)-\(i)"
            finished.enter()
            let thread = Thread { [self] in
                defer { finished.leave() }
                loop(name: name)
            }
            thread.name = "mlledger-worker-\(i)"
            threads.append(thread)
            thread.start()
        }
        logger.info("workers started", metadata: ["count": "\(configuration.count)", "name": "\(configuration.name)"])
    }

    /// Asks every worker to stop after its current job and waits for them.
    public func stop() {
        stopping.set()
        finished.wait()
    }

    private func loop(name: String) {
        var worker: JobWorker?
        while !stopping.isSet {
            do {
                if worker == nil { worker = try JobWorker(name: name, configuration: configuration, logger: logger) }
                if try !worker!.runNext() { stopping.sleep(configuration.poll) }
            } catch {
                logger.error("worker \(name): \(error)")
                worker?.close()
                worker = nil
                stopping.sleep(.seconds(2))
            }
        }
        worker?.close()
    }
}

/// A stop request that sleepers wake up for.
final class StopFlag: @unchecked Sendable {
    private let condition = NSCondition()
    private var value = false

    var isSet: Bool { condition.withLock { value } }

    func set() {
        condition.withLock {
            value = true
            condition.broadcast()
        }
    }

    /// Sleeps for `duration` or until set.
    func sleep(_ duration: Duration) {
        let deadline = Date().addingTimeInterval(Double(duration.components.seconds)
                                                 + Double(duration.components.attoseconds) / 1e18)
        condition.withLock {
            while !value, condition.wait(until: deadline) {}
        }
    }
}

extension WorkerPool {
    /// Trusts the worker key for the result types (`WorkerConfiguration.trustScope`) unless a current trust entry
    /// already names it; the trust is itself an entry of the log, signed by the ledger. Returns its index, if new.
    @discardableResult
    public static func ensureTrusted(_ key: Ed25519PublicKey, identity: LedgerIdentity, in db: LedgerDatabase) throws
        -> UInt64?
    {
        let current = try db.trustedKeys().filter { $0.revokedIdx == nil }
        guard !current.contains(where: { $0.keyID == key.keyID }) else { return nil }
        return try TrustAdmin(identity: identity).trust(key, name: "worker-" + key.keyID.prefix(12), scope: WorkerConfiguration.trustScope,
                                                        in: db)
    }
}
