import LedgerCore

/// A field's value as a rule sees it.
enum Fact: Equatable {
    case string(String)
    case bool(Bool)
    case number(JSONNumber)
    case list([String])
    /// A location code and its catalog entry (nil when the code is not in the catalog).
    case place(String, Location?)
    case object(JSONValue)

    /// Present and not empty, for `exists`.
    var isPresent: Bool {
        switch self {
        case .string(let s): return !s.isEmpty
        case .list(let l): return !l.isEmpty
        case .object(let v):
            if case .object(let o) = v { return o.count > 0 }
            if case .array(let a) = v { return !a.isEmpty }
            return true
        default: return true
        }
    }

    var display: String {
        switch self {
        case .string(let s): return s
        case .bool(let b): return b ? "true" : "false"
        case .number(let n): return n.text
        case .list(let l): return l.isEmpty ? "[]" : l.joined(separator: ", ")
        case .place(let code, _): return code
        case .object(let v): return v.jsonString()
        }
    }

    init?(json: JSONValue) {
        switch json {
        case .null: return nil
        case .string(let s): self = .string(s)
        case .bool(let b): self = .bool(b)
        case .number(let n): self = .number(n)
        case .array(let items):
            let strings = items.compactMap(\.stringValue)
            self = strings.count == items.count ? .list(strings) : .object(json)
        case .object: self = .object(json)
        }
    }
}

/// The facts of one evaluation: the event, its placement, and one source (or none).
struct Facts {
    private var values: [String: Fact] = [:]
    private let data: JSONObject

    init(event: PolicyEvent, placement: Placement, source: DataSource?, unresolved: [String],
         catalog: LocationCatalog) {
        data = event.data
        values["event.type"] = .string(event.type)
        values["event.subject"] = .string(event.subject)
        values["event.tenant"] = .string(event.tenant)
        if let r = event.region { values["event.region"] = .string(r) }
        values["event.unresolved"] = .list(unresolved)

        if let field = placement.field { values["target.field"] = .string(field) }
        values["target.known"] = .bool(placement.isKnown)
        if let code = placement.code {
            values["target"] = .place(code, placement.location)
            values["target.code"] = .string(code)
            if let p = code.split(separator: ":").first { values["target.provider"] = .string(String(p)) }
        }
        if let l = placement.location { Self.describe(l, as: "target", into: &values) }

        if case .object(let t)? = event.data["transfer"] {
            for key in ["basis", "evidence", "tia", "consent", "approval", "exception"] {
                if let v = t[key], let fact = Fact(json: v) { values["transfer.\(key)"] = fact }
            }
        }

        let eventCategories = event.data["categories"]?.arrayValue?.compactMap(\.stringValue) ?? []
        var categories = eventCategories
        var personal = false
        if let source {
            values["source.ref"] = .string(source.ref)
            if let kind = source.kind { values["source.kind"] = .string(kind) }
            values["source.origin"] = .string(source.lineage.last ?? source.ref)
            if let code = source.location {
                let location = catalog.location(code)
                values["source.location"] = .place(code, location)
                values["source.known"] = .bool(location != nil)
                if let location { Self.describe(location, as: "source", into: &values) }
            }
            if let c = source.classification {
                values["source.classification"] = .string(c)
                personal = PolicyVocabulary.personalClassifications.contains(c)
            }
            values["source.regimes"] = .list(source.regimes)
            values["source.categories"] = .list(source.categories)
            values["source.lineage"] = .list(source.lineage)
            if let v = source.validated { values["source.validated"] = .bool(v) }
            for c in source.categories where !categories.contains(c) { categories.append(c) }
        }
        values["categories"] = .list(categories)
        values["personal"] = .bool(personal || !categories.isEmpty)
    }

    private static func describe(_ l: Location, as prefix: String, into values: inout [String: Fact]) {
        values["\(prefix).country"] = .string(l.country)
        if let s = l.subdivision { values["\(prefix).subdivision"] = .string(s) }
        if let z = l.zone { values["\(prefix).zone"] = .string(z) }
        if prefix == "target" {
            values["target.name"] = .string(l.name)
            if let c = l.city { values["target.city"] = .string(c) }
        }
    }

    /// The value of a field, or nil when absent.
    func value(_ field: String) -> Fact? {
        if field.hasPrefix(PolicyFields.dataPrefix) {
            var current: JSONValue = .object(data)
            for key in field.dropFirst(PolicyFields.dataPrefix.count).split(separator: ".") {
                guard let next = current[String(key)] else { return nil }
                current = next
            }
            return Fact(json: current)
        }
        return values[field]
    }
}
