import Yams

/// `sets.yaml`: the named lists the rules refer to, each with the date it was last checked and its sources.
struct SetsLoader {
    static let file = "sets.yaml"
    let reader: YAMLReader
    let catalog: LocationCatalog

    init(diagnostics: Diagnostics, catalog: LocationCatalog) {
        reader = YAMLReader(file: Self.file, diagnostics: diagnostics)
        self.catalog = catalog
    }

    private struct Draft {
        var name: String
        var kind: NamedSet.Kind
        var title: String
        var members: [String]
        var include: [String]
        var checked: String
        var sources: [String]
        var notes: String?
        var node: Node
        var path: String
    }

    func load(_ bytes: [UInt8]) -> [String: NamedSet] {
        guard let root = reader.parse(bytes),
              let top = reader.mapping(root, "$", allowed: ["sets"], required: ["sets"])
        else { return [:] }
        var drafts: [Draft] = []
        for (i, node) in (reader.sequence(top["sets"], "$.sets") ?? []).enumerated() {
            let path = "$.sets[\(i)]"
            guard let m = reader.mapping(
                node, path,
                allowed: ["name", "kind", "title", "checked", "members", "include", "sources", "notes"],
                required: ["name", "title", "checked", "members", "sources"]),
                let name = reader.string(m["name"], "\(path).name")
            else { continue }
            guard name.allSatisfy({ $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "-") }) else {
                reader.fail(.invalidValue, m["name"], "\(path).name", "set names are lowercase words joined by -")
                continue
            }
            if drafts.contains(where: { $0.name == name }) {
                reader.fail(.duplicateSet, m["name"], "\(path).name", "set \"\(name)\" is defined twice")
                continue
            }
            var kind = NamedSet.Kind.places
            if let k = reader.string(m["kind"], "\(path).kind") {
                guard let parsed = NamedSet.Kind(rawValue: k) else {
                    reader.fail(.invalidValue, m["kind"], "\(path).kind", "kind is places or values, not \"\(k)\"")
                    continue
                }
                kind = parsed
            }
            let sources = reader.strings(m["sources"], "\(path).sources") ?? []
            if sources.isEmpty, m["sources"] != nil {
                reader.fail(.invalidValue, m["sources"], "\(path).sources", "name at least one source for the list")
            }
            let members = reader.strings(m["members"], "\(path).members") ?? []
            for (j, member) in members.enumerated() {
                check(member: member, kind: kind, node: reader.sequence(m["members"], "")?[j], path: "\(path).members[\(j)]")
            }
            drafts.append(Draft(
                name: name, kind: kind, title: reader.string(m["title"], "\(path).title") ?? name,
                members: members, include: reader.strings(m["include"], "\(path).include") ?? [],
                checked: reader.date(m["checked"], "\(path).checked") ?? "", sources: sources,
                notes: reader.string(m["notes"], "\(path).notes"), node: m["include"] ?? node, path: path))
        }

        // Resolve `include` (transitively), refusing unknown names, cycles and mixed kinds.
        let byName = Dictionary(drafts.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        var resolved: [String: NamedSet] = [:]
        func members(of name: String, chain: [String]) -> [String]? {
            guard let d = byName[name] else { return nil }
            var out = d.members
            for (j, inc) in d.include.enumerated() {
                let at = "\(d.path).include[\(j)]"
                if chain.contains(inc) || inc == name {
                    reader.fail(.setCycle, d.node, at, "including \"\(inc)\" makes a cycle: "
                        + (chain + [name, inc]).joined(separator: " → "))
                    continue
                }
                guard let other = byName[inc] else {
                    reader.fail(.unknownSet, d.node, at, "unknown set \"\(inc)\"\(hint(inc, Array(byName.keys)))")
                    continue
                }
                guard other.kind == d.kind else {
                    reader.fail(.setKindMismatch, d.node, at,
                                "\"\(name)\" holds \(d.kind.rawValue) and cannot include \"\(inc)\" "
                                    + "(\(other.kind.rawValue))")
                    continue
                }
                for m in members(of: inc, chain: chain + [name]) ?? [] where !out.contains(m) { out.append(m) }
            }
            return out
        }
        for d in drafts {
            resolved[d.name] = NamedSet(name: d.name, kind: d.kind, title: d.title,
                                        members: members(of: d.name, chain: []) ?? d.members,
                                        checked: d.checked, sources: d.sources, notes: d.notes)
        }
        return resolved
    }

    private func check(member: String, kind: NamedSet.Kind, node: Node?, path: String) {
        guard kind == .places else { return }
        if member.count == 2 {
            if !PolicyVocabulary.countryCodes.contains(member) {
                reader.fail(.unknownCountry, node, path, "\"\(member)\" is not an ISO 3166-1 alpha-2 code"
                    + (member == "UK" ? " (the United Kingdom is GB)" : member == "EL" ? " (Greece is GR)" : ""))
            }
        } else if member.contains(":") {
            if catalog.location(member) == nil {
                reader.fail(.unknownLocation, node, path, "location \"\(member)\" is not in locations.yaml"
                    + hint(member, catalog.locations.map(\.code)))
            }
        } else if member.contains("-") {
            if !CatalogLoader.isSubdivisionCode(member) {
                reader.fail(.invalidValue, node, path, "\"\(member)\" is not an ISO 3166-2 code (XX-YYY)")
            }
        } else if catalog.zone(member) == nil {
            reader.fail(.unknownZone, node, path, "\"\(member)\" is not a country, subdivision, location or a zone "
                + "declared in locations.yaml" + hint(member, catalog.zones.map(\.code)))
        }
    }
}
