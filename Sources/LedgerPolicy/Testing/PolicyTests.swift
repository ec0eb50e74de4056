import LedgerCore
import Yams

/// A policy test case from `policies/tests/*.yaml`: an event, the state it is decided with, and the decision
/// expected.
public struct PolicyTestCase: Sendable {
    /// What a case expects. `rules` is the exact set of rule ids that fire (order and repeats do not matter).
    public struct Expectation: Sendable {
        public var effect: Effect
        public var rules: [String]
        /// Optional checks of the resolved placement: `code`, `known`, `country`, `subdivision`, `zone`.
        public var target: [String: String]
        /// Each must appear in some fired rule's message.
        public var messages: [String]
    }

    /// `tests/<file>.yaml`.
    public var file: String
    public var index: Int
    public var line: Int?
    public var name: String
    public var event: PolicyEvent
    public var state: [DataSource]
    public var expect: Expectation

    /// `tests/gdpr.yaml#3`.
    public var location: String { "\(file)#\(index + 1)" }
}

/// The outcome of one case.
public struct PolicyTestResult: Sendable {
    public var testCase: PolicyTestCase
    public var decision: PolicyDecision
    /// What differs from the expectation; empty when the case passes.
    public var failures: [String]

    public var passed: Bool { failures.isEmpty }
}

/// Whether the cases exercise a rule on both sides of its line.
public struct RuleCoverage: Sendable {
    public var id: String
    /// Cases where the rule fired.
    public var matchedIn: [String]
    /// Cases where the rule was evaluated and did not fire.
    public var notMatchedIn: [String]

    public var isCovered: Bool { !matchedIn.isEmpty && !notMatchedIn.isEmpty }
}

/// The results of a run of the test cases, with each rule's coverage.
public struct PolicyTestReport: Sendable {
    public var revision: String
    public var results: [PolicyTestResult]
    public var coverage: [RuleCoverage]

    public var passed: Int { results.filter(\.passed).count }
    public var failed: Int { results.count - passed }
    /// Rules not exercised on both sides.
    public var uncovered: [RuleCoverage] { coverage.filter { !$0.isCovered } }
}

/// Loading and running policy test cases.
public enum PolicyTests {
    public static let directoryName = "tests"

    /// Loads every `tests/*.yaml` of a policy directory. Expected rule ids must exist in `policy`.
    public static func load(directory: String, policy: PolicySet) throws(PolicyLoadError) -> [PolicyTestCase] {
        let path = directory.hasSuffix("/") ? directory + directoryName : directory + "/" + directoryName
        let files = try PolicySet.readFiles(in: path, suffix: ".yaml")
        return try load(files: Dictionary(uniqueKeysWithValues: files.map { ("\(directoryName)/\($0.key)", $0.value) }),
                        policy: policy)
    }

    /// Loads test files (name → bytes), in name order.
    public static func load(files: [String: [UInt8]], policy: PolicySet) throws(PolicyLoadError) -> [PolicyTestCase] {
        let diagnostics = Diagnostics()
        var cases: [PolicyTestCase] = []
        for name in files.keys.sorted(by: bytewise) {
            let reader = YAMLReader(file: name, diagnostics: diagnostics)
            guard let root = reader.parse(files[name]!),
                  let top = reader.mapping(root, "$", allowed: ["description", "cases"], required: ["cases"]),
                  let items = reader.sequence(top["cases"], "$.cases")
            else { continue }
            for (i, node) in items.enumerated() {
                if let c = testCase(node, "$.cases[\(i)]", file: name, index: i, reader: reader, policy: policy) {
                    cases.append(c)
                }
            }
        }
        guard diagnostics.errors.isEmpty else { throw PolicyLoadError(diagnostics.errors) }
        return cases
    }

    private static func testCase(_ node: Node, _ path: String, file: String, index: Int, reader: YAMLReader,
                                 policy: PolicySet) -> PolicyTestCase? {
        guard let m = reader.mapping(node, path, allowed: ["name", "description", "event", "state", "expect"],
                                     required: ["name", "event", "expect"]),
              let name = reader.string(m["name"], "\(path).name"),
              let eventNode = m["event"], let expectNode = m["expect"]
        else { return nil }
        let event = PolicyInput.readEvent(eventNode, "\(path).event", reader)
        let state = m["state"].flatMap { PolicyInput.readSources($0, "\(path).state", reader) } ?? []
        guard let e = reader.mapping(expectNode, "\(path).expect", allowed: ["effect", "rules", "target", "messages"],
                                     required: ["effect", "rules"]),
              let effectName = reader.string(e["effect"], "\(path).expect.effect")
        else { return nil }
        guard let effect = Effect(rawValue: effectName) else {
            reader.fail(.invalidValue, e["effect"], "\(path).expect.effect", "effect is allow, flag or deny")
            return nil
        }
        let rules = reader.strings(e["rules"], "\(path).expect.rules") ?? []
        for (j, id) in rules.enumerated() where policy.rule(id) == nil {
            reader.fail(.unknownRule, reader.sequence(e["rules"], "")?[j], "\(path).expect.rules[\(j)]",
                        "no rule \"\(id)\" in the policy set\(hint(id, policy.rules.map(\.id)))")
        }
        var target: [String: String] = [:]
        if let t = e["target"], let tm = reader.mapping(t, "\(path).expect.target",
                                                          allowed: ["code", "known", "country", "subdivision", "zone"]) {
            for (k, v) in tm {
                if let s = reader.string(v, "\(path).expect.target.\(k)") { target[k] = s } else { target[k] = "(none)" }
            }
        }
        let messages = reader.strings(e["messages"], "\(path).expect.messages") ?? []
        guard let event else { return nil }
        return PolicyTestCase(file: file, index: index, line: node.mark?.line, name: name, event: event, state: state,
                              expect: .init(effect: effect, rules: rules, target: target, messages: messages))
    }

    /// Runs the cases and measures which rules they exercise on both sides.
    public static func run(_ cases: [PolicyTestCase], with policy: PolicySet) -> PolicyTestReport {
        var results: [PolicyTestResult] = []
        var matched: [String: [String]] = [:]
        var notMatched: [String: [String]] = [:]
        for c in cases {
            let decision = policy.evaluate(c.event, sources: c.state)
            results.append(PolicyTestResult(testCase: c, decision: decision, failures: check(c, decision)))
            for r in decision.rules {
                switch r.status {
                case .matched: matched[r.id, default: []].append(c.location)
                case .notMatched: notMatched[r.id, default: []].append(c.location)
                case .notApplicable: break
                }
            }
        }
        let coverage = policy.rules.map {
            RuleCoverage(id: $0.id, matchedIn: matched[$0.id] ?? [], notMatchedIn: notMatched[$0.id] ?? [])
        }
        return PolicyTestReport(revision: policy.revision, results: results, coverage: coverage)
    }

    static func check(_ c: PolicyTestCase, _ d: PolicyDecision) -> [String] {
        var failures: [String] = []
        if d.effect != c.expect.effect {
            failures.append("effect: expected \(c.expect.effect.rawValue), got \(d.effect.rawValue)")
        }
        let expected = Set(c.expect.rules), actual = Set(d.matchedRuleIDs)
        if expected != actual {
            let missing = expected.subtracting(actual).sorted(), extra = actual.subtracting(expected).sorted()
            failures.append("rules: expected [\(c.expect.rules.joined(separator: ", "))], got "
                + "[\(d.matchedRuleIDs.joined(separator: ", "))]"
                + (missing.isEmpty ? "" : "; did not fire: \(missing.joined(separator: ", "))")
                + (extra.isEmpty ? "" : "; fired unexpectedly: \(extra.joined(separator: ", "))"))
        }
        let target = d.target
        let actualTarget: [String: String] = [
            "code": target?.code ?? "(none)",
            "known": (target?.isKnown ?? false) ? "true" : "false",
            "country": target?.location?.country ?? "(none)",
            "subdivision": target?.location?.subdivision ?? "(none)",
            "zone": target?.location?.zone ?? "(none)",
        ]
        for (key, value) in c.expect.target.sorted(by: { $0.key < $1.key }) where actualTarget[key] != value {
            failures.append("target.\(key): expected \(value), got \(actualTarget[key] ?? "(none)")")
        }
        for text in c.expect.messages where !d.matched.contains(where: { $0.message.contains(text) }) {
            failures.append("no fired rule's message contains \"\(text)\"")
        }
        return failures
    }
}
