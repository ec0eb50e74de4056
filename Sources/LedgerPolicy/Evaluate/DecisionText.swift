/// A decision as text for people: the effect, where the event places its data, what it touches and through which
/// lineage, every rule that fired with its citation, message and deciding tests, and why the others did not.
public enum DecisionText {
    public static func render(_ d: PolicyDecision) -> String {
        var lines: [String] = []
        lines.append("\(d.effect.rawValue.uppercased())  \(d.eventType)  \(d.subject)")
        lines.append("policy      \(d.revision)")
        guard d.decided else {
            lines.append("not decided: \(d.eventType) places nothing anywhere, so no residency rule applies")
            return lines.joined(separator: "\n")
        }
        if let t = d.target, let code = t.code {
            let place = t.location.map { l in
                [l.name, l.city, l.subdivision, l.country, l.zone.map { "zone \($0)" }].compactMap { $0 }
                    .joined(separator: ", ")
            } ?? "NOT IN THE LOCATION CATALOG"
            lines.append("target      \(t.field ?? "?") = \(code)  →  \(place)")
        } else {
            lines.append("target      none: the event has no data.location, data.region or region")
        }
        if d.sources.isEmpty { lines.append("sources     none") }
        for (i, s) in d.sources.enumerated() {
            let facts = [s.location ?? "location unknown", s.classification ?? "classification unknown",
                         "regimes: " + (s.regimes.isEmpty ? "none" : s.regimes.joined(separator: ", ")),
                         "categories: " + (s.categories.isEmpty ? "none" : s.categories.joined(separator: ", "))]
            lines.append("\(i == 0 ? "sources" : "       ")     \(s.ref)  \(facts.joined(separator: "  "))")
            if !s.lineage.isEmpty { lines.append("              lineage: \(s.lineage.joined(separator: " → "))") }
        }
        if !d.unresolved.isEmpty { lines.append("unresolved  \(d.unresolved.joined(separator: ", "))") }

        let fired = d.rules.filter { $0.status == .matched }
        let notFired = d.rules.filter { $0.status == .notMatched }
        let notApplicable = d.rules.filter { $0.status == .notApplicable }
        lines.append("")
        lines.append("fired (\(fired.count))")
        if fired.isEmpty { lines.append("  none") }
        for m in d.matched {
            let mode = m.mode == .audit && m.effect == .deny
                ? "deny in audit mode → flag" : "\(m.effect.rawValue), \(m.mode.rawValue)"
            let outcome = m.outcome.rawValue.uppercased().padding(toLength: 5, withPad: " ", startingAt: 0)
            lines.append("  \(outcome) \(m.id)  (\(mode))")
            lines.append("        \(m.citation)")
            lines.append("        \(m.message)")
            if !m.lineage.isEmpty { lines.append("        inherited via \(m.lineage.joined(separator: " → "))") }
            lines.append("        because: \(m.conditions.map(\.description).joined(separator: "; "))")
        }
        lines.append("")
        lines.append("not fired (\(notFired.count))")
        for r in notFired {
            lines.append("  -     \(r.id)  (\(r.effect.rawValue), \(r.mode.rawValue))  \(r.citation)")
            for b in r.bindings {
                let tests = b.conditions.map(\.description).joined(separator: "; ")
                lines.append("        \(b.source.map { "\($0): " } ?? "")\(tests)")
            }
        }
        lines.append("")
        lines.append("not applicable (\(notApplicable.count))")
        for r in notApplicable { lines.append("  ·     \(r.id): \(r.why)") }
        return lines.joined(separator: "\n")
    }
}
