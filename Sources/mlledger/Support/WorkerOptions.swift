import ArgumentParser
import Foundation
import LedgerCrypto
import LedgerPolicy
import LedgerService
import LedgerStore
import LedgerWorkers
import Logging

/// The embedded workers' options, shared by `serve` and `dev`.
struct WorkerOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp(
        "Worker threads that claim and run the jobs allowed requests create (0: none in this process).",
        valueName: "n"))
    var workers: Int = 0

    @Option(name: .long, help: ArgumentHelp("Directory of job templates (<name>.yaml) and their bin/.", valueName: "dir"))
    var jobs: String = "ops/jobs"

    @Option(name: .long, help: ArgumentHelp("GPU inventory: nodes, their location codes and GPUs.", valueName: "file"))
    var cluster: String = "ops/cluster.yaml"

    @Option(name: .long, help: ArgumentHelp(
        "The workers' signing key (PEM); created when missing and trusted for the result event types if the log "
            + "does not trust it yet (default <state-dir>/worker.key).", valueName: "file"))
    var workerKey: String?

    @Option(name: .long, help: ArgumentHelp("Where job workspaces go (default <state-dir>/jobs).", valueName: "dir"))
    var jobsRoot: String?

    @Option(name: .long, help: ArgumentHelp("Root of local deployments (default <state-dir>/serving).", valueName: "dir"))
    var servingRoot: String?

    @Option(name: .long, help: ArgumentHelp("Seconds a claimed job is held without renewal.", valueName: "s"))
    var lease: Int = 30

    func validate() throws {
        guard (0...64).contains(workers) else { throw ValidationError("--workers must be 0...64") }
        guard (3...3600).contains(lease) else { throw ValidationError("--lease must be 3...3600 seconds") }
    }

    /// Starts `count` workers (none when 0), with their key trusted in the log.
    func startPool(count: Int, stateDirectory: String, databaseURL: String?, bootstrapServers: String, topic: String,
                   identity: LedgerIdentity, db: LedgerDatabase, logger: Logger) throws -> WorkerPool? {
        guard count > 0 else { return nil }
        let templates = try TemplateLoader.loadDirectory(jobs)
        let inventory = try ClusterInventory.load(path: cluster)
        let (key, created) = try KeyFiles.loadOrCreatePrivateKey(at: workerKey ?? stateDirectory + "/worker.key")
        if let idx = try WorkerPool.ensureTrusted(key.publicKey, identity: identity, in: db) {
            Output.note("workers: trusted the worker key \(key.publicKey.keyID.prefix(16))… at index \(idx)"
                        + (created ? " (new key)" : ""))
        }
        let config = WorkerConfiguration(
            count: count, databaseURL: databaseURL, bootstrapServers: bootstrapServers, topic: topic,
            templates: templates, cluster: inventory, policies: try PolicySet.shipped(),
            scriptsDirectory: absolute(jobs + "/bin"), jobsRoot: absolute(jobsRoot ?? stateDirectory + "/jobs"),
            servingRoot: absolute(servingRoot ?? stateDirectory + "/serving"), key: key, lease: .seconds(lease))
        try FileManager.default.createDirectory(atPath: config.jobsRoot, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: config.servingRoot, withIntermediateDirectories: true)
        let pool = WorkerPool(configuration: config, logger: logger)
        pool.start()
        return pool
    }

    private func absolute(_ path: String) -> String {
        path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
    }
}
