import LedgerCore

// The report as data for scripts (one JSON object, snake_case keys in a fixed order) and as flat rows, one table
// per section, for the terminal table and CSV printers. Keys and columns are part of the CLI's interface: add new
// ones at the end, never rename.

extension ResidencyReport {
    /// `{generated_at, log: {origin, size, root}, regime, policy_revisions, assets, transfers, findings}`.
    public var jsonValue: JSONValue {
        [
            "generated_at": .string(generatedAt),
            "log": ["origin": optional(log.origin), "size": .number(JSONNumber(Int64(log.size))),
                    "root": .string(log.root)],
            "regime": optional(regime),
            "policy_revisions": strings(policyRevisions),
            "assets": .array(assets.map(\.jsonValue)),
            "transfers": .array(transfers.map(\.jsonValue)),
            "findings": .array(findings.map(\.jsonValue)),
        ]
    }

    /// Every column of a section's flat rows, in order.
    public static func columns(_ section: Section) -> [String] {
        switch section {
        case .assets:
            return ["id", "kind", "classification", "location", "locations", "regimes", "own_regimes", "inherited",
                    "categories", "unregistered_origins", "known_idx", "last_idx"]
        case .transfers:
            return ["time", "event_idx", "decision_idx", "event_type", "subject", "data", "from", "to", "regimes",
                    "leaves", "basis", "evidence", "tia", "consent", "approval", "exception", "effect", "rules",
                    "event_id", "lineage", "policy_revision"]
        case .findings:
            return ["time", "event_idx", "decision_idx", "event_type", "subject", "effect", "disposition", "rule",
                    "regime", "law", "article", "mode", "data", "target", "message", "lineage", "event_id",
                    "policy_revision"]
        }
    }

    /// The columns a terminal table shows: enough to read a row and find it in the log.
    public static func summaryColumns(_ section: Section) -> [String] {
        switch section {
        case .assets: return ["id", "classification", "locations", "regimes", "inherited", "categories"]
        case .transfers:
            return ["time", "event_idx", "decision_idx", "subject", "data", "from", "to", "regimes", "basis",
                    "evidence", "effect", "rules"]
        case .findings:
            return ["time", "event_idx", "decision_idx", "subject", "effect", "disposition", "rule", "article",
                    "message"]
        }
    }

    /// A section as flat rows with `columns` (or the given subset), lists joined into one cell.
    public func rows(_ section: Section, columns: [String]? = nil) -> [JSONObject] {
        let cells: [[String: JSONValue]]
        switch section {
        case .assets: cells = assets.map(\.cells)
        case .transfers: cells = transfers.map(\.cells)
        case .findings: cells = findings.map(\.cells)
        }
        let keys = columns ?? Self.columns(section)
        return cells.map { row in JSONObject(keys.map { JSONObject.Member(key: $0, value: row[$0] ?? .null) }) }
    }
}

private func optional(_ s: String?) -> JSONValue { s.map(JSONValue.string) ?? .null }
private func strings(_ a: [String]) -> JSONValue { .array(a.map(JSONValue.string)) }
private func index(_ i: UInt64) -> JSONValue { .number(JSONNumber(Int64(i))) }
private func list(_ a: [String], _ separator: String = ", ") -> JSONValue { .string(a.joined(separator: separator)) }

extension ResidencyReport.Place {
    public var jsonValue: JSONValue { ["code": .string(code), "country": optional(country), "zone": optional(zone)] }
}

extension ResidencyReport.Inheritance {
    public var jsonValue: JSONValue {
        ["origin": .string(origin), "path": strings(path), "regimes": strings(regimes),
         "categories": strings(categories), "location": optional(location)]
    }
}

extension ResidencyReport.Asset {
    public var jsonValue: JSONValue {
        ["id": .string(id), "kind": .string(kind), "location": location?.jsonValue ?? .null,
         "locations": .array(locations.map(\.jsonValue)), "classification": optional(classification),
         "regimes": strings(regimes), "own_regimes": strings(ownRegimes), "categories": strings(categories),
         "inherited": .array(inherited.map(\.jsonValue)), "unregistered_origins": strings(unregisteredOrigins),
         "known_idx": index(knownIdx), "last_idx": index(lastIdx)]
    }

    var cells: [String: JSONValue] {
        ["id": .string(id), "kind": .string(kind), "classification": optional(classification),
         "location": optional(location?.display), "locations": list(locations.map(\.display), "; "),
         "regimes": list(regimes), "own_regimes": list(ownRegimes), "inherited": list(inherited.map(\.display), "; "),
         "categories": list(categories), "unregistered_origins": list(unregisteredOrigins),
         "known_idx": index(knownIdx), "last_idx": index(lastIdx)]
    }
}

extension ResidencyReport.Transfer {
    public var jsonValue: JSONValue {
        ["time": .string(time), "event_idx": index(eventIdx), "decision_idx": index(decisionIdx),
         "event_id": .string(eventID), "event_type": .string(eventType), "subject": .string(subject),
         "data": .string(data), "lineage": strings(lineage), "from": from?.jsonValue ?? .null, "to": to.jsonValue,
         "regimes": strings(regimes), "leaves": strings(leaves), "basis": optional(ground.basis),
         "evidence": optional(ground.evidence), "tia": optional(ground.tia), "consent": optional(ground.consent),
         "approval": optional(ground.approval), "exception": optional(ground.exception), "effect": .string(effect),
         "rules": strings(rules), "policy_revision": .string(policyRevision)]
    }

    /// Flat cells; an absent basis or evidence reads `none`.
    var cells: [String: JSONValue] {
        ["time": .string(time), "event_idx": index(eventIdx), "decision_idx": index(decisionIdx),
         "event_type": .string(eventType), "subject": .string(subject), "data": .string(data),
         "from": .string(from?.display ?? "not recorded"), "to": .string(to.display), "regimes": list(regimes),
         "leaves": list(leaves), "basis": .string(ground.basis ?? "none"), "evidence": .string(ground.evidence ?? "none"),
         "tia": optional(ground.tia), "consent": optional(ground.consent), "approval": optional(ground.approval),
         "exception": optional(ground.exception), "effect": .string(effect), "rules": list(rules),
         "event_id": .string(eventID), "lineage": list(lineage, " → "), "policy_revision": .string(policyRevision)]
    }
}

extension ResidencyReport.Finding {
    public var jsonValue: JSONValue {
        ["time": .string(time), "event_idx": index(eventIdx), "decision_idx": index(decisionIdx),
         "event_id": .string(eventID), "event_type": .string(eventType), "subject": .string(subject),
         "rule": .string(rule), "regime": .string(regime), "regimes": strings(regimes),
         "citation": ["law": .string(law), "article": .string(article)], "effect": .string(effect),
         "declared_effect": .string(declaredEffect), "mode": .string(mode), "disposition": .string(disposition.rawValue),
         "message": .string(message), "data": optional(data), "lineage": strings(lineage), "target": optional(target),
         "policy_revision": .string(policyRevision)]
    }

    var cells: [String: JSONValue] {
        ["time": .string(time), "event_idx": index(eventIdx), "decision_idx": index(decisionIdx),
         "event_type": .string(eventType), "subject": .string(subject), "effect": .string(effect),
         "disposition": .string(disposition.rawValue), "rule": .string(rule), "regime": .string(regime),
         "law": .string(law), "article": .string(article), "mode": .string(mode), "data": optional(data),
         "target": optional(target), "message": .string(message), "lineage": list(lineage, " → "),
         "event_id": .string(eventID), "policy_revision": .string(policyRevision)]
    }
}
