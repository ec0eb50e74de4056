/// What a rule, or a whole decision, does to an event. Ordered by precedence: deny overrides flag overrides allow.
public enum Effect: String, Sendable, Codable, CaseIterable, Comparable {
    /// The event may proceed; recorded as relied upon when a rule says so.
    case allow
    /// The event proceeds and is recorded as a finding for review.
    case flag
    /// A request is not executed; a fact (something already done) is recorded as a violation.
    case deny

    private var rank: Int {
        switch self {
        case .allow: return 0
        case .flag: return 1
        case .deny: return 2
        }
    }

    public static func < (lhs: Effect, rhs: Effect) -> Bool { lhs.rank < rhs.rank }
}

/// Whether a rule's effect is applied as written (`enforce`) or observed first (`audit`): in audit mode a would-be
/// denial is recorded as a flag, so a new rule can run against real traffic before it blocks anything.
public enum Mode: String, Sendable, Codable, CaseIterable {
    case enforce
    case audit

    /// The effect a rule with `effect` has in this mode.
    public func outcome(of effect: Effect) -> Effect {
        self == .audit && effect == .deny ? .flag : effect
    }
}
