import LedgerCore

/// The outcome of deciding one event: what the ledger records (as JSON, in a signed entry) and what `policy explain`
/// shows. Every rule of the policy set appears in `rules`, matched or not, with why.
public struct PolicyDecision: Sendable, Codable, Equatable {
    /// Deny overrides flag overrides allow; `allow` when nothing fired or the event type is not decided.
    public var effect: Effect
    /// False for event types the residency policies do not decide (`PolicyVocabulary.decidedEventTypes`).
    public var decided: Bool
    public var eventType: String
    public var subject: String
    /// The policy set revision (`sha256:…`) the decision was made with.
    public var revision: String
    public var target: Placement?
    /// The data the event touches: its own (a data set registration) and the state it was decided with.
    public var sources: [DataSource]
    /// Refs the event names that no source explains (an input the state does not know).
    public var unresolved: [String]
    /// The rules that fired, one entry per rule and source, in policy order.
    public var matched: [MatchedRule]
    /// Every rule evaluated, with its status and the reason.
    public var rules: [RuleExplanation]

    enum CodingKeys: String, CodingKey {
        case effect, decided, eventType = "event_type", subject, revision, target, sources, unresolved, matched, rules
    }

    /// The rule ids that fired, in order, without repeats.
    public var matchedRuleIDs: [String] {
        var seen = Set<String>()
        return matched.map(\.id).filter { seen.insert($0).inserted }
    }
}

/// A rule that fired for one source.
public struct MatchedRule: Sendable, Codable, Equatable {
    public var id: String
    public var regime: String
    public var citation: Citation
    /// The effect the rule declares.
    public var effect: Effect
    public var mode: Mode
    /// The effect applied: `effect`, or `flag` for a would-be denial in audit mode.
    public var outcome: Effect
    /// The rule's message rendered from the facts: names the failing field and value.
    public var message: String
    /// The source the rule fired for (`dataset/…@…`); nil for a rule on an event with no sources.
    public var source: String?
    /// How the source's regimes reached the event (empty when the event names the source).
    public var lineage: [String]
    /// The field tests that decided the match, with expected and actual values.
    public var conditions: [ConditionOutcome]
}

/// One field test as evaluated.
public struct ConditionOutcome: Sendable, Codable, Equatable, CustomStringConvertible {
    public var field: String
    /// Operator name as written in the rule (`in_set`, `equals`…).
    public var op: String
    public var expected: String
    /// The field's value, or nil when the field is absent.
    public var actual: String?
    /// The test's own result, before any enclosing `not`.
    public var result: Bool
    /// True when the test sits under an odd number of `not`, so it counted the other way.
    public var negated: Bool

    enum CodingKeys: String, CodingKey { case field, op = "operator", expected, actual, result, negated }

    public var description: String {
        let test = "\(field) (\(actual ?? "absent")) \(op) \(expected) → \(result)"
        return negated ? "not [\(test)]" : test
    }
}

/// Why a rule did or did not fire for an event.
public struct RuleExplanation: Sendable, Codable, Equatable {
    public enum Status: String, Sendable, Codable {
        case matched
        case notMatched = "not_matched"
        /// The rule does not decide this event type, or no data the event touches is governed by its regime.
        case notApplicable = "not_applicable"
    }

    public var id: String
    public var regime: String
    public var citation: Citation
    public var effect: Effect
    public var mode: Mode
    public var status: Status
    public var why: String
    /// One entry per source the rule was evaluated for.
    public var bindings: [BindingExplanation]
}

/// A rule evaluated for one source.
public struct BindingExplanation: Sendable, Codable, Equatable {
    public var source: String?
    public var lineage: [String]
    public var matched: Bool
    /// The tests that decided the result: for a match, the ones that made it true; otherwise the ones that failed.
    public var conditions: [ConditionOutcome]
}

// MARK: - JSON for signed entries

/// Decisions as `LedgerCore.JSONValue`, members in a fixed order, so the ledger writes them with its own serializer
/// (never `JSONEncoder`, whose bytes differ between platforms).
public protocol PolicyJSONRepresentable {
    var jsonValue: JSONValue { get }
}

private func optional(_ s: String?) -> JSONValue { s.map(JSONValue.string) ?? .null }
private func strings(_ a: [String]) -> JSONValue { .array(a.map(JSONValue.string)) }

extension Citation: PolicyJSONRepresentable {
    public var jsonValue: JSONValue { ["law": .string(law), "article": .string(article)] }
}

extension Location: PolicyJSONRepresentable {
    public var jsonValue: JSONValue {
        ["code": .string(code), "provider": .string(provider), "name": .string(name), "country": .string(country),
         "subdivision": optional(subdivision), "zone": optional(zone), "city": optional(city)]
    }
}

extension Placement: PolicyJSONRepresentable {
    public var jsonValue: JSONValue {
        ["field": optional(field), "code": optional(code), "known": .bool(isKnown),
         "location": location?.jsonValue ?? .null]
    }
}

extension DataSource: PolicyJSONRepresentable {
    public var jsonValue: JSONValue {
        ["ref": .string(ref), "location": optional(location), "classification": optional(classification),
         "regimes": strings(regimes), "categories": strings(categories), "lineage": strings(lineage),
         "validated": validated.map(JSONValue.bool) ?? .null]
    }
}

extension ConditionOutcome: PolicyJSONRepresentable {
    public var jsonValue: JSONValue {
        ["field": .string(field), "operator": .string(op), "expected": .string(expected), "actual": optional(actual),
         "result": .bool(result), "negated": .bool(negated)]
    }
}

extension MatchedRule: PolicyJSONRepresentable {
    public var jsonValue: JSONValue {
        ["id": .string(id), "regime": .string(regime), "citation": citation.jsonValue,
         "effect": .string(effect.rawValue), "mode": .string(mode.rawValue), "outcome": .string(outcome.rawValue),
         "message": .string(message), "source": optional(source), "lineage": strings(lineage),
         "conditions": .array(conditions.map(\.jsonValue))]
    }
}

extension BindingExplanation: PolicyJSONRepresentable {
    public var jsonValue: JSONValue {
        ["source": optional(source), "lineage": strings(lineage), "matched": .bool(matched),
         "conditions": .array(conditions.map(\.jsonValue))]
    }
}

extension RuleExplanation: PolicyJSONRepresentable {
    public var jsonValue: JSONValue {
        ["id": .string(id), "regime": .string(regime), "citation": citation.jsonValue,
         "effect": .string(effect.rawValue), "mode": .string(mode.rawValue), "status": .string(status.rawValue),
         "why": .string(why), "bindings": .array(bindings.map(\.jsonValue))]
    }
}

extension PolicyDecision: PolicyJSONRepresentable {
    public var jsonValue: JSONValue {
        ["effect": .string(effect.rawValue), "decided": .bool(decided), "event_type": .string(eventType),
         "subject": .string(subject), "revision": .string(revision), "target": target?.jsonValue ?? .null,
         "sources": .array(sources.map(\.jsonValue)), "unresolved": strings(unresolved),
         "matched": .array(matched.map(\.jsonValue)), "rules": .array(rules.map(\.jsonValue))]
    }
}
