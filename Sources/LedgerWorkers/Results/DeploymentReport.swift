import LedgerCore

/// What a deployment job did, read from `deployment.json`: the steps it performed in order, and how it ended.
///
/// ```json
/// {"deployment": "fraud-prod", "strategy": "canary", "model": "fraud-detector@7", "model_digest": "sha256:…",
///  "steps": [{"action": "install", "ok": true}, {"action": "health_check", "weight": 0, "passed": true, "checks": […]},
///            {"action": "shift", "weight": 10}, …],
///  "outcome": "completed" | "rolled_back", "reason": "…"}
/// ```
///
/// `verify(against:)` holds the report to the plan the worker computed before running: the steps performed must be
/// the plan's, in order, up to the point where it stopped, and the outcome must follow from them.
public struct DeploymentReport: Sendable, Hashable {
    /// One step performed.
    public struct Step: Sendable, Hashable {
        public let step: DeploymentPlan.Step
        /// For a health check, whether it passed; for install and shift, whether the action succeeded.
        public let ok: Bool
        /// The health check's checks (`{name, kind, metric, value, op, threshold, passed}`), as reported.
        public let checks: [JSONValue]
    }

    /// How the rollout ended (a script that stopped on an error writes no report: that is `deployment.failed`).
    public enum Outcome: String, Sendable, Hashable {
        case completed
        case rolledBack = "rolled_back"
    }

    public let deployment: String
    public let strategy: DeploymentStrategy
    public let model: String
    public let modelDigest: String
    public let steps: [Step]
    public let outcome: Outcome
    /// Why it was rolled back.
    public let reason: String?

    public static let file = "deployment.json"

    public static func read(outputDirectory: String) throws(ResultError) -> DeploymentReport {
        let f = ResultFields(try OutputDirectory(outputDirectory).jsonObject(file), file: file)
        guard let strategy = DeploymentStrategy(rawValue: try f.string("strategy")) else {
            throw f.fail("strategy", "canary or blue-green")
        }
        var steps: [Step] = []
        for s in try f.objects("steps") { steps.append(try parseStep(s)) }
        guard let outcome = Outcome(rawValue: try f.string("outcome")) else {
            throw f.fail("outcome", "completed or rolled_back")
        }
        return DeploymentReport(
            deployment: try f.string("deployment"), strategy: strategy,
            model: try f.string("model", pattern: TrainingResult.namePattern + "@" + TrainingResult.versionPattern),
            modelDigest: try f.string("model_digest", pattern: "sha256:[0-9a-f]{64}"), steps: steps, outcome: outcome,
            reason: try f.optionalString("reason")
        )
    }

    static func parseStep(_ s: ResultFields) throws(ResultError) -> Step {
        switch try s.string("action") {
        case "install":
            return Step(step: .install, ok: try s.bool("ok"), checks: [])
        case "shift":
            let w = try s.int("weight")
            guard (0...100).contains(w) else { throw s.fail("weight", "0...100") }
            return Step(step: .shiftTraffic(weight: w), ok: try s.bool("ok"), checks: [])
        case "health_check":
            let w = try s.int("weight")
            guard (0...100).contains(w) else { throw s.fail("weight", "0...100") }
            return Step(step: .healthCheck(weight: w), ok: try s.bool("passed"), checks: (try? s.array("checks")) ?? [])
        default:
            throw s.fail("action", "install, shift or health_check")
        }
    }

    /// The progress file a running deployment appends one line to per step (`progress.jsonl`).
    public static let progressFile = "progress.jsonl"

    /// The steps a deployment has performed so far, from its progress file, while it runs: lets the worker emit
    /// each `traffic_shifted` when it happens rather than at the end. A last line without its newline is still
    /// being written and is left for the next read.
    public static func readProgress(outputDirectory: String) throws(ResultError) -> [Step] {
        let dir = OutputDirectory(outputDirectory)
        guard dir.exists(progressFile) else { return [] }
        let bytes = try dir.bytes(progressFile)
        var steps: [Step] = []
        var lineNumber = 0
        for line in bytes.split(separator: 0x0a, omittingEmptySubsequences: false).dropLast() {
            lineNumber += 1
            guard !line.isEmpty else { continue }
            let object = try OutputDirectory.object(Array(line), file: "\(progressFile):\(lineNumber)")
            steps.append(try parseStep(ResultFields(object, file: progressFile, prefix: "line \(lineNumber): ")))
        }
        return steps
    }

    /// Checks the report against `plan`: same strategy, the steps a prefix of the plan's, a completed rollout
    /// performed every step successfully, a rolled-back one stopped at its first failed step and says why.
    public func verify(against plan: DeploymentPlan) throws(ResultError) {
        func fail(_ why: String) -> ResultError { ResultError(.inconsistent, file: Self.file, why) }
        guard strategy == plan.strategy else {
            throw fail("strategy \(strategy.rawValue), planned \(plan.strategy.rawValue)")
        }
        guard steps.count <= plan.steps.count else { throw fail("more steps than planned") }
        for (i, s) in steps.enumerated() where s.step != plan.steps[i] {
            throw fail("step \(i) is \(s.step), planned \(plan.steps[i])")
        }
        if let firstFailure = steps.firstIndex(where: { !$0.ok }), firstFailure != steps.count - 1 {
            throw fail("steps continued after a failure at step \(firstFailure)")
        }
        switch outcome {
        case .completed:
            guard steps.count == plan.steps.count, steps.allSatisfy(\.ok) else {
                throw fail("completed without performing every planned step successfully")
            }
        case .rolledBack:
            guard let last = steps.last, !last.ok else { throw fail("rolled back without a failed step") }
            guard let reason, !reason.isEmpty else { throw fail("rolled back without a reason") }
        }
    }

    /// The weights traffic actually went through, in order.
    public var shiftedWeights: [Int] {
        steps.compactMap { if case .shiftTraffic(let w) = $0.step, $0.ok { return w } else { return nil } }
    }

    /// The events after `mlops.deployment.started`: one `mlops.deployment.traffic_shifted` per weight reached, then
    /// `mlops.deployment.completed`, or `mlops.deployment.rolled_back` with the reason (and the weight it stopped
    /// at, `at_weight`). Call `verify(against:)` first.
    public func resultEvents(deploymentID: String) -> [ResultEvent] {
        var events = shiftedWeights.map {
            ResultEvent(
                type: "mlops.deployment.traffic_shifted",
                data: ["deployment_id": .string(deploymentID), "weight": .number(JSONNumber($0))]
            )
        }
        switch outcome {
        case .completed:
            events.append(
                ResultEvent(type: "mlops.deployment.completed", data: ["deployment_id": .string(deploymentID)]))
        case .rolledBack:
            var data: JSONObject = [
                "deployment_id": .string(deploymentID), "reason": .string(reason ?? "health check failed"),
            ]
            if let last = steps.last, case .healthCheck(let w) = last.step {
                data["at_weight"] = .number(JSONNumber(w))
            }
            events.append(ResultEvent(type: "mlops.deployment.rolled_back", data: data))
        }
        return events
    }
}
