import LedgerCore

extension PolicySet {
    /// Where an event places what it touches, resolved against the catalog.
    public func placement(of event: PolicyEvent) -> Placement {
        guard let (field, code) = event.placementCode else { return Placement(field: nil, code: nil, location: nil) }
        return Placement(field: field, code: code, location: catalog.location(code))
    }

    /// Decides one event with the state it needs.
    ///
    /// Rules of a regime are evaluated once per source governed by that regime; rules of `regime: any` once per
    /// source (or once with no source when the event touches none). A rule fires for the sources its condition
    /// holds for. The decision's effect is the strongest outcome of the fired rules: deny over flag over allow.
    ///
    /// With `explain: false` the decision's `rules` (why each rule did or did not fire) stay empty: the ledger
    /// records only what fired, and `policy explain` rebuilds the rest from the same inputs.
    public func evaluate(_ event: PolicyEvent, sources state: [DataSource], explain: Bool = true) -> PolicyDecision {
        let target = placement(of: event)
        var sources = state
        if let own = DataSource.registered(by: event), !sources.contains(own) { sources.insert(own, at: 0) }
        let unresolved = event.referencedRefs.filter { ref in
            !sources.contains { $0.bareRef == ref || $0.lineage.first.map(DataSource.bare) == ref }
        }
        guard PolicyVocabulary.isDecided(event.type) else {
            return PolicyDecision(effect: .allow, decided: false, eventType: event.type, subject: event.subject,
                                  revision: revision, target: target, sources: sources, unresolved: unresolved,
                                  matched: [], rules: [])
        }

        // The facts of each source (and of no source), built once for all the rules.
        var factsOf: [Int: Facts] = [:]
        func facts(_ i: Int) -> Facts {
            if let f = factsOf[i] { return f }
            let f = Facts(event: event, placement: target, source: i < sources.count ? sources[i] : nil,
                          unresolved: unresolved, catalog: catalog)
            factsOf[i] = f
            return f
        }
        let noSource = sources.count

        var matched: [MatchedRule] = []
        var explanations: [RuleExplanation] = []
        for rule in rules {
            func note(_ status: RuleExplanation.Status, _ why: @autoclosure () -> String,
                      _ bindings: [BindingExplanation]) {
                guard explain else { return }
                explanations.append(RuleExplanation(id: rule.id, regime: rule.regime, citation: rule.citation,
                                                    effect: rule.effect, mode: rule.mode, status: status, why: why(),
                                                    bindings: bindings))
            }
            guard rule.applies(to: event.type) else {
                note(.notApplicable, "decides only \((rule.events ?? []).joined(separator: ", "))", [])
                continue
            }
            let bindings: [Int]
            if rule.regime == Rule.anyRegime {
                bindings = sources.isEmpty ? [noSource] : Array(sources.indices)
            } else {
                bindings = sources.indices.filter { sources[$0].regimes.contains(rule.regime) }
            }
            guard !bindings.isEmpty else {
                note(.notApplicable, "no data the event touches is governed by \(rule.regime)", [])
                continue
            }
            var results: [BindingExplanation] = []
            var messages: [String] = []
            for i in bindings {
                let source = i < sources.count ? sources[i] : nil
                let facts = facts(i)
                // Without an explanation, a rule that does not hold needs no record of why.
                guard explain || holds(rule.when, facts) else { continue }
                let result = evaluate(rule.when, facts, negated: false)
                if explain {
                    results.append(BindingExplanation(source: source?.ref, lineage: source?.lineage ?? [],
                                                      matched: result.value, conditions: result.deciding))
                }
                guard result.value else { continue }
                let message = MessageTemplate.render(rule.message) { field in
                    facts.value(field).flatMap { $0.isPresent ? $0.display : nil }
                }
                // A rule that does not depend on the source says the same for every source: record it once.
                guard !messages.contains(message) else { continue }
                messages.append(message)
                matched.append(MatchedRule(id: rule.id, regime: rule.regime, citation: rule.citation,
                                           effect: rule.effect, mode: rule.mode, outcome: rule.outcome,
                                           message: message, source: source?.ref, lineage: source?.lineage ?? [],
                                           conditions: result.deciding))
            }
            if messages.isEmpty {
                note(.notMatched, results.map { b in
                    (b.source.map { "\($0): " } ?? "") + b.conditions.map(\.description).joined(separator: "; ")
                }.joined(separator: " | "), results)
            } else {
                note(.matched, messages.joined(separator: " | "), results)
            }
        }
        let effect = matched.map(\.outcome).max() ?? .allow
        return PolicyDecision(effect: effect, decided: true, eventType: event.type, subject: event.subject,
                              revision: revision, target: target, sources: sources, unresolved: unresolved,
                              matched: matched, rules: explanations)
    }

    /// Decides a CloudEvent with the state it needs.
    public func evaluate(_ event: CloudEvent, sources: [DataSource]) -> PolicyDecision {
        evaluate(PolicyEvent(event), sources: sources)
    }

    // MARK: Conditions

    private struct Result {
        var value: Bool
        /// The tests that decided `value`.
        var deciding: [ConditionOutcome]
    }

    /// Whether the condition holds, short-circuiting and recording nothing.
    private func holds(_ condition: Condition, _ facts: Facts) -> Bool {
        switch condition {
        case .test(let test): return apply(test.op, facts.value(test.field))
        case .not(let inner): return !holds(inner, facts)
        case .all(let items): return items.allSatisfy { holds($0, facts) }
        case .any(let items): return items.contains { holds($0, facts) }
        }
    }

    /// Evaluates every branch (no short-circuit) so the explanation is complete, and keeps the deciding tests:
    /// for a true `all` every child, for a false one the first false child; for `any` the reverse.
    private func evaluate(_ condition: Condition, _ facts: Facts, negated: Bool) -> Result {
        switch condition {
        case .test(let test):
            let actual = facts.value(test.field)
            let value = apply(test.op, actual)
            return Result(value: value, deciding: [ConditionOutcome(
                field: test.field, op: test.op.name, expected: test.expected, actual: actual?.display,
                result: value, negated: negated)])
        case .not(let inner):
            let r = evaluate(inner, facts, negated: !negated)
            return Result(value: !r.value, deciding: r.deciding)
        case .all(let items):
            let results = items.map { evaluate($0, facts, negated: negated) }
            if let failed = results.first(where: { !$0.value }) { return Result(value: false, deciding: failed.deciding) }
            return Result(value: true, deciding: results.flatMap(\.deciding))
        case .any(let items):
            let results = items.map { evaluate($0, facts, negated: negated) }
            if let passed = results.first(where: \.value) { return Result(value: true, deciding: passed.deciding) }
            return Result(value: false, deciding: results.flatMap(\.deciding))
        }
    }

    private func apply(_ op: Operator, _ fact: Fact?) -> Bool {
        switch op {
        case .exists(let expected):
            return (fact?.isPresent ?? false) == expected
        case .equals(let v):
            return fact.map { equals($0, v) } ?? false
        case .oneOf(let vs):
            return fact.map { f in vs.contains { equals(f, $0) } } ?? false
        case .containsAny(let vs):
            switch fact {
            case .list(let l)?: return l.contains(where: vs.contains)
            case .string(let s)?: return vs.contains(s)
            default: return false
            }
        case .inSet(let name):
            return fact.flatMap { member($0, of: name) } ?? false
        case .notInSet(let name):
            // Absent, or a place not in the catalog: membership is unknown, so the test is false.
            return fact.flatMap { member($0, of: name) }.map { !$0 } ?? false
        case .startsWith(let prefix):
            if case .string(let s)? = fact { return s.hasPrefix(prefix) }
            return false
        }
    }

    private func equals(_ fact: Fact, _ value: JSONValue) -> Bool {
        switch (fact, value) {
        case (.string(let s), .string(let v)): return s == v
        case (.place(let code, _), .string(let v)): return code == v
        case (.bool(let b), .bool(let v)): return b == v
        case (.number(let n), .number(let v)): return n == v
        default: return false
        }
    }

    /// Whether the fact belongs to the set; nil when that cannot be known (a place missing from the catalog).
    private func member(_ fact: Fact, of name: String) -> Bool? {
        guard let set = sets[name] else { return false }
        switch fact {
        case .place(_, let location?): return set.contains(location)
        case .place(_, nil): return nil
        case .string(let s): return set.contains(s)
        case .list(let l): return l.contains(where: set.contains)
        default: return false
        }
    }
}
