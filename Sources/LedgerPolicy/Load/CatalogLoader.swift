import Yams

/// `locations.yaml`: the zones and the location codes, checked against wire format §6 and ISO 3166.
struct CatalogLoader {
    static let file = "locations.yaml"
    let reader: YAMLReader

    init(diagnostics: Diagnostics) { reader = YAMLReader(file: Self.file, diagnostics: diagnostics) }

    static func isLocationCode(_ s: String) -> Bool {
        let parts = s.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2, PolicyVocabulary.providers.contains(String(parts[0])) else { return false }
        let region = Array(parts[1].utf8)
        guard let first = region.first, isLowerAlnum(first) else { return false }
        return region.allSatisfy { isLowerAlnum($0) || $0 == UInt8(ascii: "-") }
    }

    private static func isLowerAlnum(_ c: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(c) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(c)
    }

    static func isSubdivisionCode(_ s: String) -> Bool {
        let parts = s.split(separator: "-", omittingEmptySubsequences: false)
        return parts.count == 2 && PolicyVocabulary.countryCodes.contains(String(parts[0]))
            && (1...3).contains(parts[1].count) && parts[1].allSatisfy { $0.isASCII && ($0.isUppercase || $0.isNumber) }
    }

    static func isZoneCode(_ s: String) -> Bool {
        s.count >= 3 && s.allSatisfy { $0.isASCII && ($0.isUppercase || $0.isNumber) } && s.first!.isLetter
    }

    func load(_ bytes: [UInt8]) -> LocationCatalog? {
        guard let root = reader.parse(bytes),
              let top = reader.mapping(root, "$", allowed: ["checked", "sources", "zones", "locations"],
                                       required: ["checked", "sources", "zones", "locations"])
        else { return nil }
        let checked = reader.date(top["checked"], "$.checked") ?? ""
        let sources = reader.strings(top["sources"], "$.sources") ?? []

        var zones: [Zone] = []
        for (i, node) in (reader.sequence(top["zones"], "$.zones") ?? []).enumerated() {
            let path = "$.zones[\(i)]"
            guard let m = reader.mapping(node, path, allowed: ["code", "name", "country", "subdivision", "law"],
                                         required: ["code", "name", "country"]),
                  let code = reader.string(m["code"], "\(path).code"), let name = reader.string(m["name"], "\(path).name"),
                  let country = country(m["country"], "\(path).country")
            else { continue }
            guard Self.isZoneCode(code) else {
                reader.fail(.invalidValue, m["code"], "\(path).code",
                            "zone code \"\(code)\" must be 3 or more capitals or digits, so it cannot be read as a country")
                continue
            }
            if zones.contains(where: { $0.code == code }) {
                reader.fail(.duplicateZone, m["code"], "\(path).code", "zone \"\(code)\" is declared twice")
                continue
            }
            let subdivision = self.subdivision(m["subdivision"], "\(path).subdivision", country: country)
            zones.append(Zone(code: code, name: name, country: country, subdivision: subdivision,
                              law: reader.string(m["law"], "\(path).law")))
        }

        var locations: [Location] = []
        var seen: [String: Int] = [:]
        for (i, node) in (reader.sequence(top["locations"], "$.locations") ?? []).enumerated() {
            let path = "$.locations[\(i)]"
            guard let m = reader.mapping(node, path,
                                         allowed: ["code", "name", "country", "subdivision", "zone", "city", "note"],
                                         required: ["code", "name", "country"]),
                  let code = reader.string(m["code"], "\(path).code"), let name = reader.string(m["name"], "\(path).name"),
                  let country = country(m["country"], "\(path).country")
            else { continue }
            guard Self.isLocationCode(code) else {
                reader.fail(.invalidValue, m["code"], "\(path).code",
                            "\"\(code)\" is not a location code provider:region (wire format §6), provider one of "
                                + PolicyVocabulary.providers.joined(separator: ", "))
                continue
            }
            if let first = seen[code] {
                reader.fail(.duplicateLocation, m["code"], "\(path).code",
                            "\"\(code)\" is already declared at $.locations[\(first)]")
                continue
            }
            seen[code] = i
            let subdivision = self.subdivision(m["subdivision"], "\(path).subdivision", country: country)
            var zoneCode: String?
            if let z = reader.string(m["zone"], "\(path).zone") {
                if let zone = zones.first(where: { $0.code == z }) {
                    if zone.country != country {
                        reader.fail(.invalidValue, m["zone"], "\(path).zone",
                                    "zone \(z) is in \(zone.country), the location in \(country)")
                    }
                    zoneCode = z
                } else {
                    reader.fail(.unknownZone, m["zone"], "\(path).zone",
                                "unknown zone \"\(z)\"\(hint(z, zones.map(\.code))); declare it under zones")
                }
            }
            locations.append(Location(code: code, name: name, country: country, subdivision: subdivision,
                                      zone: zoneCode, city: reader.string(m["city"], "\(path).city"),
                                      note: reader.string(m["note"], "\(path).note")))
        }
        return LocationCatalog(locations: locations, zones: zones, checked: checked, sources: sources)
    }

    private func country(_ node: Node?, _ path: String) -> String? {
        guard let c = reader.string(node, path) else { return nil }
        guard PolicyVocabulary.countryCodes.contains(c) else {
            reader.fail(.unknownCountry, node, path, "\"\(c)\" is not an ISO 3166-1 alpha-2 code"
                + (c == "UK" ? " (the United Kingdom is GB)" : c == "EL" ? " (Greece is GR)" : ""))
            return nil
        }
        return c
    }

    private func subdivision(_ node: Node?, _ path: String, country: String) -> String? {
        guard let s = reader.string(node, path) else { return nil }
        guard Self.isSubdivisionCode(s), s.hasPrefix(country + "-") else {
            reader.fail(.invalidValue, node, path, "\"\(s)\" is not an ISO 3166-2 code of \(country) (\(country)-XX)")
            return nil
        }
        return s
    }
}
