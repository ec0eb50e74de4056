import Foundation
import LedgerCore
import LedgerStore
import LedgerWorkers

extension JobWorker {
    /// A deployment request: the model version's artifact found in the registry and staged by its digest, a passed
    /// validation gate required, the rollout run, and its steps checked against the strategy's plan.
    ///
    /// Events: `deployment.started`, one `traffic_shifted` per weight reached, then `completed`, or `rolled_back`
    /// with the reason when a health check failed (or `failed` when the rollout could not run).
    ///
    /// `driftReason`, for a rollback that answers drift: the completed redeployment is reported as
    /// `mlops.deployment.rolled_back` with that reason.
    func deploy(_ job: Job, _ template: JobTemplate, driftReason: String? = nil) throws -> Ending? {
        let deployment = job.subjectID
        guard let ref = job.data["model"]?.stringValue, let at = ref.lastIndex(of: "@") else {
            return try fail(job, "invalid_request: the request names no model version (name@version)")
        }
        let (modelName, version) = (String(ref[..<at]), String(ref[ref.index(after: at)...]))
        guard let artifact = try artifact(modelName, version) else {
            return try fail(job, "unknown_model: the registry has no artifact for \(ref)")
        }
        guard try driftReason != nil || hasPassedValidation(modelName, version) else {
            return try fail(job, "no_passed_validation: \(ref) has no passed validation gate")
        }
        try JobQueue.start(job.id, worker: name, idempotent: template.idempotent, node: nil, gpus: 0, gpuType: nil,
                           on: db.connection)
        let workspace = try JobWorkspace.create(root: configuration.jobsRoot, jobID: "\(job.id).\(job.attempts + 1)")
        let invocation: JobInvocation
        let plan: DeploymentPlan
        do {
            try workspace.stageInput(from: artifact.path, as: "model.json", expectedDigest: artifact.digest)
            invocation = try template.prepare(
                job.data["params"]?.objectValue ?? JSONObject(),
                reserved: ["deployment": .string(deployment), "model": .string(ref),
                           "model_digest": .string(artifact.digest),
                           "strategy": job.data["strategy"] ?? .string("canary")],
                context: workspace.context(scriptsDirectory: configuration.scriptsDirectory,
                                           servingRoot: configuration.servingRoot))
            plan = try DeploymentPlan.make(parameters: invocation.parameters)
        } catch {
            return try fail(job, "invalid_parameters: \(error)")
        }
        let region = job.data["region"]?.stringValue
        try emit(ResultEvent(type: "mlops.deployment.started", data: [
            "deployment_id": .string(deployment), "model": .string(ref),
            "strategy": .string(plan.strategy.rawValue),
        ]), region: region)
        // Each weight is recorded when traffic reaches it, from the job's progress file, not at the end.
        let follower = TrafficFollower(output: workspace.output, deployment: deployment, region: region, worker: self)
        let outcome: ProcessOutcome
        do {
            outcome = try run(invocation, in: workspace, job: job)
        } catch {
            _ = follower.stop()
            throw error
        }
        let shifted = follower.stop()
        guard outcome.exitCode == 0 || outcome.exitCode == 3 else {
            return try fail(job, "command_failed: \(outcome.termination); \(lastLine(outcome))",
                            logDigest: outcome.outputDigest)
        }
        let report: DeploymentReport
        do {
            report = try DeploymentReport.read(outputDirectory: workspace.output)
            try report.verify(against: plan)
        } catch {
            return try fail(job, "invalid_results: \(error)", logDigest: outcome.outputDigest)
        }
        guard Array(report.shiftedWeights.prefix(shifted.count)) == shifted else {
            return try fail(job, "invalid_results: the report's weights \(report.shiftedWeights) do not continue the "
                + "progress already recorded \(shifted)", logDigest: outcome.outputDigest)
        }
        var events = Array(report.resultEvents(deploymentID: deployment).dropFirst(shifted.count))
        if let driftReason, report.outcome == .completed {
            events[events.count - 1] = ResultEvent(type: "mlops.deployment.rolled_back", data: [
                "deployment_id": .string(deployment), "reason": .string(driftReason),
            ])
        }
        try emit(Self.recordingLog(outcome.outputDigest, in: events), region: region)
        let result: JSONObject = [
            "model": .string(ref), "digest": .string(artifact.digest), "strategy": .string(plan.strategy.rawValue),
            "weights": .array(report.shiftedWeights.map { .number(JSONNumber($0)) }),
            "outcome": .string(report.outcome.rawValue),
        ]
        switch report.outcome {
        case .completed:
            return Ending(state: .succeeded, logDigest: outcome.outputDigest, result: result)
        case .rolledBack:
            return Ending(state: .rolledBack, reason: report.reason ?? "health check failed",
                          logDigest: outcome.outputDigest, result: result)
        }
    }

    /// The registered artifact of a model version: a local file (`file://`) and its digest.
    private func artifact(_ name: String, _ version: String) throws -> (path: String, digest: String)? {
        guard let row = try db.connection.query("""
            SELECT uri, digest FROM registry.model_versions WHERE name = $1 AND version = $2
            """, [.text(name), .text(version)]).first,
            let uri = row.string(0), uri.hasPrefix("file://"), let digest = row.string(1)
        else { return nil }
        return (String(uri.dropFirst("file://".count)).removingPercentEncoding ?? "", digest)
    }

    private func hasPassedValidation(_ name: String, _ version: String) throws -> Bool {
        try db.connection.query("""
            SELECT 1 FROM registry.validations WHERE name = $1 AND version = $2 AND passed LIMIT 1
            """, [.text(name), .text(version)]).count == 1
    }
}

/// Follows a running rollout's progress file and emits `mlops.deployment.traffic_shifted` for each weight as
/// traffic reaches it. `stop` reads the file once more and returns the weights emitted, in order.
final class TrafficFollower: @unchecked Sendable {
    private let flag = StopFlag()
    private let done = DispatchSemaphore(value: 0)
    private var emitted: [Int] = []
    private let output: String
    private let deployment: String
    private let region: String?
    private let worker: JobWorker

    init(output: String, deployment: String, region: String?, worker: JobWorker) {
        self.output = output
        self.deployment = deployment
        self.region = region
        self.worker = worker
        let thread = Thread { [self] in
            defer { done.signal() }
            while !flag.isSet {
                flag.sleep(.milliseconds(200))
                poll()
            }
        }
        thread.name = "mlledger-rollout"
        thread.start()
    }

    private func poll() {
        guard let steps = try? DeploymentReport.readProgress(outputDirectory: output) else { return }
        let reached = steps.compactMap { s -> Int? in
            if case .shiftTraffic(let w) = s.step, s.ok { return w }
            return nil
        }
        for weight in reached.dropFirst(emitted.count) {
            do {
                try worker.emit(ResultEvent(type: "mlops.deployment.traffic_shifted", data: [
                    "deployment_id": .string(deployment), "weight": .number(JSONNumber(weight)),
                ]), region: region)
                emitted.append(weight)
            } catch {
                worker.logger.warning("deployment \(deployment): traffic at \(weight)% not recorded yet: \(error)")
                return
            }
        }
    }

    func stop() -> [Int] {
        flag.set()
        done.wait()
        poll()
        return emitted
    }
}
