import LedgerCore

/// The law and the provision a rule implements, e.g. `Regulation (EU) 2016/679 (GDPR)`, `Art. 44; Art. 46(1)`.
public struct Citation: Sendable, Codable, Equatable, CustomStringConvertible {
    public var law: String
    public var article: String

    public init(law: String, article: String) {
        self.law = law
        self.article = article
    }

    public var description: String { "\(law), \(article)" }
}

/// One residency rule of a regime file: when `when` holds for an event and one of the data sources it touches,
/// the rule fires with `effect` (softened to `flag` in `audit` mode) and the message rendered from the facts.
public struct Rule: Sendable, Equatable {
    /// The regime whose data the rule is about (`eu-gdpr`…), or `any` for rules on all data.
    public static let anyRegime = "any"

    public var id: String
    public var regime: String
    /// The rule file it came from, e.g. `eu-gdpr.yaml`.
    public var file: String
    public var title: String?
    public var citation: Citation
    public var effect: Effect
    public var mode: Mode
    /// The event types the rule decides; nil means every decided type.
    public var events: [String]?
    public var when: Condition
    /// `{field}` placeholders are replaced with the facts' values.
    public var message: String
    public var notes: String?

    /// The effect the rule has when it fires.
    public var outcome: Effect { mode.outcome(of: effect) }

    public func applies(to eventType: String) -> Bool { events?.contains(eventType) ?? true }
}

/// A structured condition: `all`, `any` and `not` over field tests. There is deliberately no expression language:
/// every test names a field of the facts (see `PolicyFields`) and one operator.
public indirect enum Condition: Sendable, Equatable {
    case all([Condition])
    case any([Condition])
    case not(Condition)
    case test(FieldTest)
}

/// `field` + one operator with its operand.
public struct FieldTest: Sendable, Equatable {
    public let field: String
    public let op: Operator
    /// The operand as shown in explanations, rendered once.
    public let expected: String

    public init(field: String, op: Operator) {
        self.field = field
        self.op = op
        self.expected = op.expected
    }
}

/// The operators of the condition language. Every one except `exists` is false when the field is absent; `not`
/// inverts a whole condition, so `not: {field: f, in_set: s}` is true for an absent `f` while `not_in_set` is not.
public enum Operator: Sendable, Equatable {
    /// The field's scalar value equals the operand (strings exactly, numbers by value).
    case equals(JSONValue)
    /// The field's scalar value equals one of the operands.
    case oneOf([JSONValue])
    /// The field's list has at least one of the operands.
    case containsAny([String])
    /// The value (or a list element, or a place by code, country, subdivision or zone) is in the named set.
    case inSet(String)
    /// The field is present and not in the named set.
    case notInSet(String)
    /// `exists: true`: present and not empty (a non-empty string or list, any number, boolean or object).
    case exists(Bool)
    /// The field's string starts with the operand (case-sensitive).
    case startsWith(String)

    /// The operator's name as written in a rule file.
    public var name: String {
        switch self {
        case .equals: return "equals"
        case .oneOf: return "one_of"
        case .containsAny: return "contains_any"
        case .inSet: return "in_set"
        case .notInSet: return "not_in_set"
        case .exists: return "exists"
        case .startsWith: return "starts_with"
        }
    }

    /// Every operator name a rule file may use.
    public static let names = ["equals", "one_of", "contains_any", "in_set", "not_in_set", "exists", "starts_with"]

    /// The operand as shown in explanations.
    public var expected: String {
        switch self {
        case .equals(let v): return v.jsonString()
        case .oneOf(let vs): return JSONValue.array(vs).jsonString()
        case .containsAny(let vs): return JSONValue.array(vs.map(JSONValue.string)).jsonString()
        case .inSet(let s), .notInSet(let s): return s
        case .exists(let b): return b ? "true" : "false"
        case .startsWith(let p): return JSONValue.string(p).jsonString()
        }
    }
}

/// One file of rules about one regime (or `any`).
public struct RuleFile: Sendable, Equatable {
    /// File name inside the policy directory, e.g. `ae-health.yaml`.
    public var name: String
    public var regime: String
    public var title: String
    /// The default law of the file's citations.
    public var law: String?
    public var description: String?
    public var rules: [Rule]
}
