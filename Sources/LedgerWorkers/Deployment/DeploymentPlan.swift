/// The rollout strategies the workers carry out (the catalog's `strategy` of `mlops.deployment.requested`; `rolling`
/// and `direct` are not carried out by the shipped templates).
public enum DeploymentStrategy: String, Sendable, Hashable, CaseIterable {
    /// The new version takes a growing share of traffic (10 → 50 → 100 by default), checked at each step.
    case canary
    /// The new version (green) is installed beside the live one (blue), checked with no traffic, then takes all
    /// traffic at once and is checked again.
    case blueGreen = "blue-green"
}

/// The ordered steps of a rollout, as a pure value: what `deploy-local` performs and what the worker checks its
/// report against. Any failed health check ends the rollout: traffic goes back to where it was before the install
/// (all of it to the previous version, or none when there was none) and the deployment is rolled back with the
/// reason.
public struct DeploymentPlan: Sendable, Hashable {
    public enum Step: Sendable, Hashable, CustomStringConvertible {
        /// Put the new version in its own slot, with no traffic.
        case install
        /// Check the new version while it has `weight` percent of the traffic.
        case healthCheck(weight: Int)
        /// Give the new version `weight` percent of the traffic (the previous version the rest).
        case shiftTraffic(weight: Int)

        public var description: String {
            switch self {
            case .install: return "install"
            case .healthCheck(let w): return "health_check@\(w)"
            case .shiftTraffic(let w): return "shift@\(w)"
            }
        }
    }

    public let strategy: DeploymentStrategy
    public let steps: [Step]

    /// The canary weights when a request names none.
    public static let defaultCanaryWeights = [10, 50, 100]

    /// A canary: install, check with no traffic, then for each weight shift and check. The weights rise strictly,
    /// lie in 1...100 and end at 100.
    public static func canary(weights: [Int] = defaultCanaryWeights) throws(DeploymentPlanError) -> DeploymentPlan {
        guard !weights.isEmpty else { throw .invalidWeights("no weights") }
        guard weights.allSatisfy({ (1...100).contains($0) }) else { throw .invalidWeights("weights lie in 1...100") }
        guard zip(weights, weights.dropFirst()).allSatisfy({ $0 < $1 }) else {
            throw .invalidWeights("weights rise strictly")
        }
        guard weights.last == 100 else { throw .invalidWeights("the last weight is 100") }
        var steps: [Step] = [.install, .healthCheck(weight: 0)]
        for w in weights { steps += [.shiftTraffic(weight: w), .healthCheck(weight: w)] }
        return DeploymentPlan(strategy: .canary, steps: steps)
    }

    /// Blue-green: install green, check it with no traffic, switch all traffic to it, check again.
    public static let blueGreen = DeploymentPlan(
        strategy: .blueGreen,
        steps: [.install, .healthCheck(weight: 0), .shiftTraffic(weight: 100), .healthCheck(weight: 100)]
    )

    /// The plan for a request: its strategy and, for a canary, weights written `10,50,100` (nil: the default).
    /// Blue-green has no intermediate weights, so `weights` does not apply to it and is ignored.
    public static func make(strategy: String, weights: String? = nil) throws(DeploymentPlanError) -> DeploymentPlan {
        guard let s = DeploymentStrategy(rawValue: strategy) else { throw .unsupportedStrategy(strategy) }
        switch s {
        case .canary:
            guard let weights else { return try canary() }
            return try canary(weights: try parseWeights(weights))
        case .blueGreen:
            return blueGreen
        }
    }

    /// The plan of a deployment job from its checked parameters `strategy` and `weights` (as `deploy-local` and
    /// `k8s-deploy` declare them): the plan the job's report is verified against.
    public static func make(parameters: CheckedParameters) throws(DeploymentPlanError) -> DeploymentPlan {
        guard let strategy = parameters["strategy"]?.text else { throw .unsupportedStrategy("(none)") }
        return try make(strategy: strategy, weights: parameters["weights"]?.text)
    }

    /// `"10,50,100"` → `[10, 50, 100]`.
    public static func parseWeights(_ text: String) throws(DeploymentPlanError) -> [Int] {
        var out: [Int] = []
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            guard part.count <= 3, !part.isEmpty, part.allSatisfy(\.isASCII), let w = Int(part) else {
                throw .invalidWeights("weights are integers separated by commas")
            }
            out.append(w)
        }
        return out
    }

    /// The traffic weights the new version goes through, in order.
    public var weights: [Int] {
        steps.compactMap { if case .shiftTraffic(let w) = $0 { return w } else { return nil } }
    }
}

/// Why a rollout cannot be planned.
public enum DeploymentPlanError: Error, Sendable, Hashable, CustomStringConvertible {
    case unsupportedStrategy(String)
    case invalidWeights(String)

    public var description: String {
        switch self {
        case .unsupportedStrategy(let s): return "strategy \(s) is not supported (canary, blue-green)"
        case .invalidWeights(let why): return "invalid canary weights: \(why)"
        }
    }
}
