import LedgerCore
import Yams

/// One rule file (`<regime>.yaml`, or any name for `regime: any`): rules with citations, effects, modes, structured
/// conditions over known fields, and message templates over the same fields.
struct RulesLoader {
    let reader: YAMLReader
    let sets: [String: NamedSet]

    init(file: String, diagnostics: Diagnostics, sets: [String: NamedSet]) {
        reader = YAMLReader(file: file, diagnostics: diagnostics)
        self.sets = sets
    }

    var file: String { reader.file }

    func load(_ bytes: [UInt8]) -> RuleFile? {
        guard let root = reader.parse(bytes),
              let top = reader.mapping(root, "$", allowed: ["regime", "title", "law", "description", "rules"],
                                       required: ["regime", "title", "rules"]),
              let regime = reader.string(top["regime"], "$.regime")
        else { return nil }
        if regime != Rule.anyRegime {
            guard PolicyVocabulary.regimes.contains(regime) else {
                reader.fail(.unknownRegime, top["regime"], "$.regime",
                            "unknown regime \"\(regime)\"\(hint(regime, PolicyVocabulary.regimes)); "
                                + "regimes: \(PolicyVocabulary.regimes.joined(separator: ", ")), or any")
                return nil
            }
            if file != "\(regime).yaml" {
                reader.fail(.fileNameMismatch, top["regime"], "$.regime",
                            "the rules of regime \(regime) belong in \(regime).yaml")
            }
        }
        let law = reader.string(top["law"], "$.law")
        var rules: [Rule] = []
        for (i, node) in (reader.sequence(top["rules"], "$.rules") ?? []).enumerated() {
            if let rule = self.rule(node, "$.rules[\(i)]", regime: regime, law: law) {
                if rules.contains(where: { $0.id == rule.id }) {
                    reader.fail(.duplicateRuleID, node, "$.rules[\(i)].id",
                                "rule id \"\(rule.id)\" is used twice in this file")
                } else {
                    rules.append(rule)
                }
            }
        }
        return RuleFile(name: file, regime: regime, title: reader.string(top["title"], "$.title") ?? regime, law: law,
                        description: reader.string(top["description"], "$.description"), rules: rules)
    }

    private func rule(_ node: Node, _ path: String, regime: String, law: String?) -> Rule? {
        guard let m = reader.mapping(
            node, path,
            allowed: ["id", "title", "citation", "effect", "mode", "events", "when", "message", "notes"],
            required: ["id", "effect", "mode", "when", "message"])
        else { return nil }
        guard let id = reader.string(m["id"], "\(path).id") else { return nil }
        guard id.first?.isLetter == true, id.allSatisfy({ $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "-") })
        else {
            reader.fail(.invalidValue, m["id"], "\(path).id", "rule ids are lowercase words joined by -, not \"\(id)\"")
            return nil
        }
        let at = "\(path)"
        let citation = self.citation(m["citation"], "\(at).citation", law: law, owner: node, id: id)
        let effect = enumValue(m["effect"], "\(at).effect", Effect.self)
        let mode = enumValue(m["mode"], "\(at).mode", Mode.self)
        var events: [String]?
        if let list = reader.strings(m["events"], "\(at).events") {
            for (j, t) in list.enumerated() where !PolicyVocabulary.isDecided(t) {
                reader.fail(.unknownEventType, reader.sequence(m["events"], "")?[j], "\(at).events[\(j)]",
                            "\"\(t)\" is not a decided event type\(hint(t, PolicyVocabulary.decidedEventTypes)); decided: "
                                + PolicyVocabulary.decidedEventTypes.joined(separator: ", "))
            }
            events = list
        }
        let when = m["when"].flatMap { condition($0, "\(at).when") }
        let message = reader.string(m["message"], "\(at).message")
        if let message { checkTemplate(message, node: m["message"], path: "\(at).message") }
        guard let citation, let effect, let mode, let when, let message else { return nil }
        return Rule(id: id, regime: regime, file: file, title: reader.string(m["title"], "\(at).title"),
                    citation: citation, effect: effect, mode: mode, events: events, when: when, message: message,
                    notes: reader.string(m["notes"], "\(at).notes"))
    }

    private func enumValue<E: RawRepresentable & CaseIterable>(_ node: Node?, _ path: String, _: E.Type) -> E?
    where E.RawValue == String {
        guard let s = reader.string(node, path) else { return nil }
        guard let v = E(rawValue: s) else {
            reader.fail(.invalidValue, node, path,
                        "\"\(s)\" is not one of \(E.allCases.map(\.rawValue).joined(separator: ", "))")
            return nil
        }
        return v
    }

    /// `citation: "Art. 22"` (under the file's `law`) or `citation: {law: …, article: …}`. The article must name a
    /// provision: a number appears in it.
    private func citation(_ node: Node?, _ path: String, law: String?, owner: Node, id: String) -> Citation? {
        guard let node, !reader.isNull(node) else {
            reader.fail(.missingCitation, owner, path, "rule \(id) has no citation: name the law and the article")
            return nil
        }
        var lawText = law
        var article: String?
        if case .mapping = node {
            guard let m = reader.mapping(node, path, allowed: ["law", "article"], required: ["article"]) else { return nil }
            lawText = reader.string(m["law"], "\(path).law") ?? law
            article = reader.string(m["article"], "\(path).article")
        } else {
            article = reader.string(node, path)
        }
        guard let article else { return nil }
        guard let lawText else {
            reader.fail(.malformedCitation, node, path, "no law: give citation.law, or law: at the top of the file")
            return nil
        }
        guard article.contains(where: \.isNumber) else {
            reader.fail(.malformedCitation, node, path,
                        "\"\(article)\" names no provision: write the article, section or paragraph, e.g. \"Art. 22\"")
            return nil
        }
        return Citation(law: lawText, article: article)
    }

    // MARK: Conditions

    func condition(_ node: Node, _ path: String) -> Condition? {
        let keys = reader.keys(node)
        guard case .mapping = node, !keys.isEmpty else {
            reader.fail(.invalidValue, node, path, "a condition is a mapping: all, any, not, or field with one operator")
            return nil
        }
        for combinator in ["all", "any", "not"] where keys.contains(combinator) {
            guard keys.count == 1 else {
                reader.fail(.invalidValue, node, path, "\"\(combinator)\" must be the only key of its condition; "
                    + "nest other tests inside it")
                return nil
            }
            guard let m = reader.mapping(node, path, allowed: [combinator]), let inner = m[combinator] else { return nil }
            if combinator == "not" { return condition(inner, "\(path).not").map(Condition.not) }
            guard let items = reader.sequence(inner, "\(path).\(combinator)") else { return nil }
            guard !items.isEmpty else {
                reader.fail(.invalidValue, inner, "\(path).\(combinator)", "\(combinator) needs at least one condition")
                return nil
            }
            let parsed = items.enumerated().map { condition($1, "\(path).\(combinator)[\($0)]") }
            guard parsed.allSatisfy({ $0 != nil }) else { return nil }
            return combinator == "all" ? .all(parsed.map { $0! }) : .any(parsed.map { $0! })
        }
        guard keys.contains("field") else {
            let unknown = keys.first { !Operator.names.contains($0) } ?? keys[0]
            reader.fail(.unknownOperator, node, "\(path).\(unknown)",
                        "\"\(unknown)\" is not a condition\(hint(unknown, ["all", "any", "not", "field"])): "
                            + "use all, any, not, or field with one operator")
            return nil
        }
        let operators = keys.filter { $0 != "field" }
        for key in operators where !Operator.names.contains(key) {
            reader.fail(.unknownOperator, node, "\(path).\(key)",
                        "unknown operator \"\(key)\"\(hint(key, Operator.names)); operators: "
                            + Operator.names.joined(separator: ", "))
            return nil
        }
        guard operators.count == 1, let opName = operators.first else {
            reader.fail(.invalidValue, node, path, operators.isEmpty
                ? "the test on a field needs one operator: \(Operator.names.joined(separator: ", "))"
                : "one operator per test, found \(operators.joined(separator: ", ")); combine tests with all")
            return nil
        }
        guard let m = reader.mapping(node, path, allowed: ["field"] + Operator.names),
              let field = reader.string(m["field"], "\(path).field"), let operand = m[opName]
        else { return nil }
        guard let spec = PolicyFields.spec(field) else {
            reader.fail(.unknownField, m["field"], "\(path).field",
                        "no event or state has the field \"\(field)\"\(hint(field, PolicyFields.allNames))")
            return nil
        }
        guard let op = self.operator(opName, operand, "\(path).\(opName)", field: field, spec: spec) else { return nil }
        return .test(FieldTest(field: field, op: op))
    }

    private func `operator`(_ name: String, _ operand: Node, _ path: String, field: String, spec: FieldSpec) -> Operator? {
        func mismatch(_ why: String) -> Operator? {
            reader.fail(.operatorMismatch, operand, path,
                        "\(name) does not apply to \(field) (\(spec.type.rawValue)): \(why)")
            return nil
        }
        func checkVocabulary(_ values: [String]) -> Bool {
            var ok = true
            if let vocabulary = spec.vocabulary {
                for v in values where !vocabulary.contains(v) {
                    reader.fail(.unknownValue, operand, path, "\(field) is never \"\(v)\"\(hint(v, vocabulary))")
                    ok = false
                }
            }
            if spec.type == .country {
                for v in values where !PolicyVocabulary.countryCodes.contains(v) {
                    reader.fail(.unknownCountry, operand, path, "\"\(v)\" is not an ISO 3166-1 alpha-2 code")
                    ok = false
                }
            }
            return ok
        }
        func scalar(_ node: Node, _ at: String) -> JSONValue? {
            guard case .scalar = node, let v = reader.json(node, at), v != .null else {
                reader.fail(.invalidValue, node, at, "\(name) takes a string, number or boolean")
                return nil
            }
            return v
        }
        switch name {
        case "equals", "one_of":
            if spec.type == .list { return mismatch("a list field is tested with contains_any") }
            if spec.type == .object { return mismatch("an object field is tested with exists") }
            let values: [JSONValue]
            if name == "equals" {
                guard let v = scalar(operand, path) else { return nil }
                values = [v]
            } else {
                guard let items = reader.sequence(operand, path), !items.isEmpty else {
                    reader.fail(.invalidValue, operand, path, "one_of takes a non-empty list")
                    return nil
                }
                let parsed = items.enumerated().map { scalar($1, "\(path)[\($0)]") }
                guard parsed.allSatisfy({ $0 != nil }) else { return nil }
                values = parsed.map { $0! }
            }
            if spec.type == .bool, values.contains(where: { $0.boolValue == nil }) {
                return mismatch("a boolean field equals true or false")
            }
            guard checkVocabulary(values.compactMap(\.stringValue)) else { return nil }
            return name == "equals" ? .equals(values[0]) : .oneOf(values)
        case "contains_any":
            guard spec.type == .list else { return mismatch("contains_any tests a list; use equals or one_of") }
            guard let values = reader.strings(operand, path), !values.isEmpty else {
                reader.fail(.invalidValue, operand, path, "contains_any takes a non-empty list of strings")
                return nil
            }
            guard checkVocabulary(values) else { return nil }
            return .containsAny(values)
        case "in_set", "not_in_set":
            guard let setName = reader.string(operand, path) else { return nil }
            guard let set = sets[setName] else {
                reader.fail(.unknownSet, operand, path,
                            "unknown set \"\(setName)\"\(hint(setName, Array(sets.keys))); sets are defined in sets.yaml")
                return nil
            }
            guard [.string, .list].contains(spec.type) || spec.type.isPlace else {
                return mismatch("sets hold places or values")
            }
            if spec.type.isPlace != (set.kind == .places) {
                reader.fail(.setKindMismatch, operand, path, "\(field) is a \(spec.type.rawValue) but set \"\(setName)\" "
                    + "holds \(set.kind.rawValue)")
                return nil
            }
            if set.kind == .values { _ = checkVocabulary(set.members) }
            return name == "in_set" ? .inSet(setName) : .notInSet(setName)
        case "exists":
            guard let b = reader.bool(operand, path) else { return nil }
            return .exists(b)
        case "starts_with":
            guard spec.type == .string else { return mismatch("starts_with tests a string") }
            guard let p = reader.string(operand, path) else { return nil }
            return .startsWith(p)
        default:
            return nil
        }
    }

    /// Every `{field}` of a message must be a known field.
    private func checkTemplate(_ template: String, node: Node?, path: String) {
        for name in MessageTemplate.placeholders(in: template) where PolicyFields.spec(name) == nil {
            reader.fail(.unknownField, node, path,
                        "the message names {\(name)}, which no event or state has\(hint(name, PolicyFields.allNames))")
        }
    }
}
