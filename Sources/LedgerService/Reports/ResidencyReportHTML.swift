/// The report as one self-contained HTML page a DPO can hand over or print: inline CSS, no script, nothing loaded
/// from elsewhere. Every value is escaped (`Markup.text`).
extension ResidencyReport {
    public var html: String { ResidencyReportPage(report: self).document().html }
}

struct ResidencyReportPage {
    let report: ResidencyReport

    func document() -> Markup {
        Markup.raw("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n")
            + .raw("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n")
            + .element("title", .text("Record of cross-border transfers – " + (report.log.origin ?? "mlledger")))
            + .raw("\n<style>\n") + .raw(Self.css) + .raw("</style>\n</head>\n<body>\n")
            + header() + summary() + transfers() + findings() + assets() + footer()
            + .raw("\n</body>\n</html>\n")
    }

    // MARK: Header

    private func header() -> Markup {
        let regime = report.regime.map { "only data governed by " + $0 } ?? "all regimes"
        let revisions = report.policyRevisions.isEmpty ? ["none recorded"] : report.policyRevisions
        return .element("header", [
            .element("h1", .text("Record of cross-border transfers")),
            .element("p", class: "framing", [
                .text("Record of transfers of personal data to third countries under GDPR Art. 30(1)(e), and "
                      + "transfer register under UAE PDPL Arts. 22–23: every placement of regulated data outside "
                      + "its country or its law's territory, with its legal basis, the evidence declared, and the "
                      + "decision the ledger recorded when the event was appended."),
            ]),
            .element("dl", class: "meta", [
                term("Ledger", .element("span", class: "mono", .text(report.log.origin ?? "(empty log)"))),
                term("Log size", .text("\(report.log.size) entries")),
                term("Log root", .element("span", class: "mono", .text(report.log.root))),
                term("Policy revision", .joined(revisions.map { .element("div", class: "mono", .text($0)) })),
                term("Scope", .text(regime)),
                term("Generated", .text(Self.displayTime(report.generatedAt))),
            ]),
        ])
    }

    private func term(_ name: String, _ value: Markup) -> Markup {
        .element("div", .element("dt", .text(name)), .element("dd", value))
    }

    private func summary() -> Markup {
        let effects = report.transfers.map(\.effect)
        func count(_ e: String) -> Int { effects.filter { $0 == e }.count }
        let denials = report.findings.filter { $0.effect == "deny" }.count
        return .element("p", class: "summary", [
            .text("\(report.transfers.count) transfer(s): \(count("allow")) allowed, \(count("flag")) flagged, "
                  + "\(count("deny")) denied · \(report.findings.count) finding(s), \(denials) denial(s) · "
                  + "\(report.assets.count) asset(s)"),
        ])
    }

    // MARK: Sections

    private func transfers() -> Markup {
        section("Transfers", note: "Each row is a decided placement that moves data governed by a regime to "
                    + "another country or out of its law's territory. The decision column is what the ledger "
                    + "recorded, with the rules that fired; a denied request never ran.",
                headers: ["Date", "Event", "Data and regimes", "From → to", "Basis and evidence", "Decision"],
                rows: report.transfers.map(transferRow), empty: "No cross-border transfer is recorded.")
    }

    private func transferRow(_ t: ResidencyReport.Transfer) -> Markup {
        row(t.effect, [
            date(t.time),
            event(t.eventType, t.subject, idx: t.eventIdx),
            Markup.element("div", class: "mono", .identifier(t.data)) + regimes(t.regimes) + via(t.lineage),
            Markup.element("div", t.from.map { .identifier($0.display) } ?? .text("origin not recorded"))
                + .element("div", class: "arrow", .text("→")) + .element("div", .identifier(t.to.display))
                + leaves(t.leaves),
            ground(t.ground),
            badge(t.effect) + .element("div", class: "small mono", .identifier(t.rules.joined(separator: ", ")))
                + idx("decision", t.decisionIdx),
        ])
    }

    private func findings() -> Markup {
        section("Flags and denials", note: "Every rule that flagged or denied a placement. A violation is a "
                    + "denied fact (the placement had happened); a refused request never ran; a flag proceeded "
                    + "and is recorded for review.",
                headers: ["Date", "Effect", "Rule and citation", "Finding", "Event"],
                rows: report.findings.map(findingRow), empty: "No flag or denial is recorded.")
    }

    private func findingRow(_ f: ResidencyReport.Finding) -> Markup {
        let mode = f.mode == "audit" ? " (audit mode: " + f.declaredEffect + " applied as flag)" : ""
        return row(f.effect, [
            date(f.time),
            badge(f.effect) + .element("div", class: "small", .text(f.disposition.rawValue + mode)),
            .element("div", class: "mono", .identifier(f.rule)) + .element("div", class: "small", .text(f.regime))
                + .element("div", class: "small", .text(f.law + ", " + f.article)),
            .element("div", .text(f.message)) + via(f.lineage),
            event(f.eventType, f.subject, idx: f.eventIdx) + idx("decision", f.decisionIdx),
        ])
    }

    private func assets() -> Markup {
        section("Assets", note: "Every data set, feature set, training run, model version and deployment "
                    + "the ledger knows: where it is and the laws it carries, its own and those inherited through "
                    + "lineage, with the path that explains each.",
                headers: ["Asset", "Classification", "Locations", "Regimes", "Categories", "Log"],
                rows: report.assets.map(assetRow), empty: "No asset is recorded.")
    }

    private func assetRow(_ a: ResidencyReport.Asset) -> Markup {
        let inherited = a.inherited.filter { !$0.regimes.isEmpty || !$0.categories.isEmpty }
        return .element("tr", [
            .element("td", .element("div", class: "mono", .identifier(a.id)) + .element("div", class: "small", .text(a.kind))),
            .element("td", .text(a.classification ?? "")),
            .element("td", .joined(a.locations.map { .element("div", .identifier($0.display)) })),
            .element("td", regimes(a.regimes) + .joined(inherited.map { i in
                .element("div", class: "small", .text("inherited " + (i.regimes + i.categories).joined(separator: ", ")
                                                          + " from ") + .identifier(i.origin))
                    + via(i.path)
            })),
            .element("td", .text(a.categories.joined(separator: ", "))),
            .element("td", idx("first", a.knownIdx) + idx("last", a.lastIdx)),
        ])
    }

    private func footer() -> Markup {
        .element("footer", [
            .element("h2", .text("How to verify a row")),
            .element("p", [
                .text("Every event and decision is an entry of an append-only, signed Merkle log (RFC 6962/9162). "
                      + "“event #N” and “decision #N” are log indexes: "),
                .element("code", .text("mlledger audit prove --idx N")),
                .text(" prints an inclusion proof against the latest signed checkpoint; "),
                .element("code", .text("mlledger audit consistency --from \(report.log.size)")),
                .text(" proves that the log this report was read from (size and root above) is a prefix of the "
                      + "current one; "),
                .element("code", .text("mlledger audit verify")),
                .text(" recomputes every leaf and the root."),
            ]),
        ])
    }

    // MARK: Pieces

    private func section(_ title: String, note: String, headers: [String], rows: [Markup], empty: String) -> Markup {
        let body: Markup = rows.isEmpty
            ? .element("p", class: "empty", .text(empty))
            : .element("table", [
                .element("thead", .element("tr", headers.map { .element("th", .text($0)) })),
                .element("tbody", rows),
            ])
        return .element("section", [
            .element("h2", .text("\(title) (\(rows.count))")), .element("p", class: "note", .text(note)), body,
        ])
    }

    /// A table row, marked with its effect (a coloured left edge).
    private func row(_ effect: String, _ cells: [Markup]) -> Markup {
        let tds = cells.map { Markup.element("td", $0) }
        switch effect {
        case "deny": return .element("tr", class: "deny", tds)
        case "flag": return .element("tr", class: "flag", tds)
        case "allow": return .element("tr", class: "allow", tds)
        default: return .element("tr", tds)
        }
    }

    private func badge(_ effect: String) -> Markup {
        switch effect {
        case "deny": return .element("span", class: "badge deny", .text("deny"))
        case "flag": return .element("span", class: "badge flag", .text("flag"))
        case "allow": return .element("span", class: "badge allow", .text("allow"))
        default: return .element("span", class: "badge", .text(effect))
        }
    }

    private func event(_ type: String, _ subject: String, idx i: UInt64) -> Markup {
        .element("div", class: "mono", .identifier(subject)) + .element("div", class: "small", .identifier(type))
            + idx("event", i)
    }

    private func idx(_ what: String, _ i: UInt64) -> Markup {
        .element("div", class: "idx", .text("\(what) #\(i)"))
    }

    private func regimes(_ names: [String]) -> Markup {
        .element("div", names.map { .element("span", class: "regime", .text($0)) })
    }

    private func via(_ path: [String]) -> Markup {
        path.isEmpty ? .text("") : .element("div", class: "small via", .identifier("via " + path.joined(separator: " → ")))
    }

    private func leaves(_ regimes: [String]) -> Markup {
        regimes.isEmpty ? .text("")
            : .element("div", class: "small", .text("outside the territory of " + regimes.joined(separator: ", ")))
    }

    private func ground(_ g: ResidencyReport.TransferGround) -> Markup {
        let basis: Markup = g.basis.map { .element("div", class: "basis", .text($0)) }
            ?? .element("div", class: "basis none", .text("none"))
        let evidence = Markup.element("div", class: "small", .text("evidence: " + (g.evidence ?? "none")))
        let details = g.details.isEmpty ? Markup.text("") : .element("div", class: "small", .text(g.details))
        return basis + evidence + details
    }

    /// The date on one line and the time below it.
    private func date(_ rfc3339: String) -> Markup {
        let display = Self.displayTime(rfc3339)
        guard let space = display.firstIndex(of: " ") else { return .text(display) }
        return .element("div", class: "date", .text(String(display[..<space])))
            + .element("div", class: "small date", .text(String(display[display.index(after: space)...])))
    }

    /// `2026-05-01T12:00:00.000000Z` as `2026-05-01 12:00:00 UTC`.
    static func displayTime(_ rfc3339: String) -> String {
        guard rfc3339.count >= 19 else { return rfc3339 }
        return rfc3339.prefix(10) + " " + rfc3339.dropFirst(11).prefix(8) + " UTC"
    }

    static let css: StaticString = """
        :root { color-scheme: light; }
        body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
               color: #1f2328; background: #fff; margin: 24px 32px; }
        h1 { font-size: 24px; margin: 0 0 6px; }
        h2 { font-size: 18px; margin: 28px 0 4px; border-bottom: 2px solid #d0d7de; padding-bottom: 4px; }
        .framing { max-width: 980px; margin: 0 0 14px; color: #3d444d; }
        dl.meta { display: grid; grid-template-columns: repeat(auto-fill, minmax(300px, 1fr)); gap: 6px 24px;
                  margin: 0; padding: 12px 16px; background: #f6f8fa; border: 1px solid #d0d7de; border-radius: 6px; }
        dl.meta dt { font-size: 11px; text-transform: uppercase; letter-spacing: .04em; color: #59636e; }
        dl.meta dd { margin: 0; overflow-wrap: anywhere; }
        .summary { font-weight: 600; margin: 14px 0 0; }
        .note { color: #59636e; margin: 2px 0 10px; max-width: 980px; }
        .empty { font-style: italic; color: #59636e; }
        table { border-collapse: collapse; width: 100%; table-layout: auto; }
        th { text-align: left; font-size: 12px; text-transform: uppercase; letter-spacing: .03em; color: #3d444d;
             background: #eef1f4; border-bottom: 2px solid #d0d7de; padding: 6px 8px; }
        td { vertical-align: top; padding: 7px 8px; border-bottom: 1px solid #e1e4e8; overflow-wrap: break-word; }
        tbody tr:nth-child(even) td { background: #fafbfc; }
        tr.deny td:first-child { box-shadow: inset 4px 0 0 #c62828; }
        tr.flag td:first-child { box-shadow: inset 4px 0 0 #d99100; }
        tr.allow td:first-child { box-shadow: inset 4px 0 0 #2e7d32; }
        td:first-child { padding-left: 12px; }
        .date, .idx, .badge { white-space: nowrap; }
        .mono, code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace;
                      font-size: 12.5px; }
        code { background: #f6f8fa; padding: 1px 4px; border-radius: 4px; }
        .small { font-size: 12px; color: #59636e; }
        .via { font-style: italic; }
        .idx { font-size: 12px; color: #0550ae; font-family: ui-monospace, Menlo, Consolas, monospace; }
        .arrow { color: #59636e; }
        .badge { display: inline-block; font-weight: 700; font-size: 12px; text-transform: uppercase;
                 padding: 1px 8px; border-radius: 10px; border: 1px solid #d0d7de; }
        .badge.deny { background: #ffebe9; color: #a40e26; border-color: #ff8182; }
        .badge.flag { background: #fff8c5; color: #7d4e00; border-color: #d4a72c; }
        .badge.allow { background: #dafbe1; color: #116329; border-color: #4ac26b; }
        .regime { display: inline-block; font-size: 12px; padding: 0 6px; margin: 2px 4px 2px 0; border-radius: 4px;
                  background: #ddf4ff; color: #0a3069; border: 1px solid #9cd1ff; }
        .basis { font-weight: 600; }
        .basis.none { color: #a40e26; }
        footer { margin-top: 32px; color: #3d444d; max-width: 980px; }
        @media print {
            body { margin: 0; font-size: 10pt; }
            tr { break-inside: avoid; }
            tbody tr:nth-child(even) td { background: none; }
        }

        """
}
