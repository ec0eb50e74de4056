import Foundation
import LedgerCore
import LedgerPolicy
import LedgerStore
import LedgerWorkers

extension JobWorker {
    /// A training request: parameters checked, GPUs placed where the policies allow the run's data, the command run,
    /// its model files digested, and the validation gate the request names run on the new model.
    ///
    /// Events, in order: `gpu.allocated`, `training.started`, `training.completed` and `model.registered` (or
    /// `training.failed`), `validation.passed` or `failed`, `gpu.released`. Nil when the job waits for capacity.
    func train(_ job: Job, _ template: JobTemplate) throws -> Ending? {
        let run = job.subjectID
        guard let model = job.data["model"]?.stringValue else {
            return try fail(job, "invalid_request: the request names no model")
        }
        let need: GPUNeed
        do { need = try template.gpus.need(requested: job.data["gpus"]) } catch {
            return try fail(job, "invalid_gpus: \(error)")
        }
        // An idempotent run taken over from a lost worker: that attempt's GPUs are free again.
        try releaseLostAllocation(of: job)
        let attempt = job.attempts + 1
        let workspace = try JobWorkspace.create(root: configuration.jobsRoot, jobID: "\(job.id).\(attempt)")
        // The version the request names, else the request's log index: unique, and rising with the log.
        let version = job.data["version"]?.stringValue ?? String(job.requestIdx)
        let invocation: JobInvocation
        do {
            invocation = try template.prepare(
                job.data["params"]?.objectValue ?? JSONObject(),
                reserved: ["model": .string(model), "version": .string(version)],
                context: workspace.context(scriptsDirectory: configuration.scriptsDirectory,
                                           servingRoot: configuration.servingRoot))
        } catch {
            return try fail(job, "invalid_parameters: \(error)")
        }

        let node: GPUNode
        switch try place(job, need: need, idempotent: template.idempotent) {
        case .place(let n): node = n
        case .wait(.capacity): return nil
        case .wait(.noEligibleNode):
            return try fail(job, "no_eligible_node: no node in a location the policies allow for this run's data has "
                + "\(need.count) GPU(s)\(need.type.map { " of type \($0)" } ?? "")")
        }
        let allocation = need.count > 0
            ? GPUAllocation(allocationID: "\(job.id).\(attempt)", runID: run, nodeID: node.id,
                            gpuType: node.gpuType ?? need.type ?? "", count: need.count)
            : nil
        if let allocation {
            try emit(ResultEvent(type: "mlops.gpu.allocated", data: allocation.allocatedEventData(region: node.location)))
        }
        try emit(ResultEvent(type: "mlops.training.started", data: [
            "run_id": .string(run), "node": .string(node.id), "region": .string(node.location),
        ]), region: node.location)

        let ending = try trainOn(node, job, invocation, workspace, model: model)
        if let allocation { try emit(ResultEvent(type: "mlops.gpu.released", data: allocation.releasedEventData())) }
        return ending
    }

    private func trainOn(_ node: GPUNode, _ job: Job, _ invocation: JobInvocation, _ workspace: JobWorkspace,
                         model: String) throws -> Ending {
        let outcome = try run(invocation, in: workspace, job: job)
        guard outcome.succeeded else {
            return try fail(job, "\(outcome.timedOut ? "timeout" : "command_failed"): \(outcome.termination); "
                + lastLine(outcome), logDigest: outcome.outputDigest)
        }
        let result: TrainingResult
        do { result = try TrainingResult.read(outputDirectory: workspace.output, expectedModel: model) } catch {
            return try fail(job, "invalid_results: \(error)", logDigest: outcome.outputDigest)
        }
        try emit(Self.recordingLog(outcome.outputDigest, in: result.resultEvents(runID: job.subjectID,
                                                                                 location: node.location)),
                 region: node.location)
        var summary: JSONObject = [
            "node": .string(node.id), "region": .string(node.location), "metrics": .object(result.metrics),
            "models": .array(result.outputs.map { .object($0.json) }),
        ]
        if let gate = job.data["validate"], let output = result.outputs.first {
            summary["validation"] = try validate(output, trainedIn: workspace, gate: gate, job: job)
        }
        return Ending(state: .succeeded, logDigest: outcome.outputDigest, result: summary)
    }

    /// Runs the validation gate a training request names (`validate`: a template name, or `{job, params}`) on the
    /// model just trained, staged by digest, and emits `validation.passed` or `failed`.
    private func validate(_ output: TrainingResult.Output, trainedIn training: JobWorkspace, gate: JSONValue,
                          job: Job) throws -> JSONValue {
        let name = gate.stringValue ?? gate["job"]?.stringValue ?? ""
        guard let template = configuration.templates[name], template.kind == .validation else {
            logger.warning("job \(job.id): no validation template named \(name)")
            return ["error": .string("unknown_template: no validation template named \(name)")]
        }
        let workspace = try JobWorkspace.create(root: configuration.jobsRoot, jobID: "\(job.id).\(job.attempts + 1).gate")
        do {
            try workspace.stageInput(from: training.output + "/" + output.file, as: "model.json",
                                     expectedDigest: output.digest)
            let invocation = try template.prepare(
                gate["params"]?.objectValue ?? JSONObject(),
                reserved: ["model": .string(output.ref), "model_digest": .string(output.digest)],
                context: workspace.context(scriptsDirectory: configuration.scriptsDirectory))
            let outcome = try run(invocation, in: workspace, job: job)
            guard outcome.exitCode == 0 || outcome.exitCode == 3 else {
                return ["error": .string("command_failed: \(outcome.termination); \(lastLine(outcome))")]
            }
            let verdict = try ValidationResult.read(outputDirectory: workspace.output, expectedModel: output.ref)
            try emit(verdict.resultEvent)
            return ["gate": .string(verdict.gate), "passed": .bool(verdict.passed)]
        } catch {
            logger.warning("job \(job.id): validation \(name) failed to run: \(error)")
            return ["error": .string("\(error)")]
        }
    }

    /// Chooses a node under the placement lock and marks the job started on it, or puts it back to wait for
    /// capacity. Only nodes in the request's region (when it names one) whose location the policies allow for
    /// the data the run carries are candidates.
    func place(_ job: Job, need: GPUNeed, idempotent: Bool) throws -> PlacementDecision {
        let requested = job.data["location"]?.stringValue ?? job.data["region"]?.stringValue
        let candidates = configuration.cluster.nodes.filter { requested == nil || $0.location == requested }
        let allowed = try allowedLocations(for: job, among: Set(candidates.map(\.location)))
        return try db.connection.transaction { c in
            try JobQueue.placementLock(on: c)
            let decision = GPUPlacement.place(need, nodes: candidates, allocations: try JobQueue.allocations(on: c),
                                              allowedLocations: allowed)
            switch decision {
            case .place(let node):
                try JobQueue.start(job.id, worker: name, idempotent: idempotent, node: node.id,
                                   gpus: need.count, gpuType: node.gpuType, on: c)
            case .wait(.capacity):
                try JobQueue.wait(job.id, worker: name, because: "capacity: no allowed node has \(need.count) free GPU(s)",
                                  on: c)
            case .wait(.noEligibleNode):
                break
            }
            return decision
        }
    }

    /// The locations among `locations` where the residency policies allow this run, with what its inputs carry.
    func allowedLocations(for job: Job, among locations: Set<String>) throws -> Set<String> {
        let request = PolicyEvent(type: "mlops.training.requested", subject: job.subject, data: job.data)
        let known = try PolicyDecider.sources(request.carriedRefs, on: db.connection)
        let sources = request.carriedRefs.flatMap { known[$0] ?? [] }
        return locations.filter { location in
            var data = job.data
            data["location"] = nil
            data["region"] = .string(location)
            let event = PolicyEvent(type: request.type, subject: job.subject, data: data)
            return configuration.policies.evaluate(event, sources: sources, explain: false).effect != .deny
        }
    }

    /// The events with `log_digest` (the digest of the job's output log) added to the one that ends the job
    /// (`training.completed`, `deployment.completed` or `rolled_back`), so the log names the exact output.
    static func recordingLog(_ digest: String, in events: [ResultEvent]) -> [ResultEvent] {
        let ending: Set<String> = ["mlops.training.completed", "mlops.deployment.completed",
                                   "mlops.deployment.rolled_back"]
        return events.map { e in
            guard ending.contains(e.type) else { return e }
            var data = e.data
            data["log_digest"] = .string(digest)
            return ResultEvent(type: e.type, data: data)
        }
    }

    func lastLine(_ outcome: ProcessOutcome) -> String {
        String(outcome.outputTail(maxBytes: 512).split(separator: "\n").last ?? "")
    }
}
