/// A named list kept apart from the rules (`policies/sets.yaml`): countries, subdivisions, zones and location codes
/// (a place set), or plain values such as the exceptions a regulation lists (a value set).
public struct NamedSet: Sendable, Equatable {
    public enum Kind: String, Sendable, Codable {
        /// Members are ISO 3166-1 countries (`AE`), ISO 3166-2 subdivisions (`US-CA`), catalog zones (`DIFC`) or
        /// catalog location codes (`onprem:difc-dc1`). A place belongs to the set when any of these matches it.
        case places
        /// Members are plain tokens compared with a field's value.
        case values
    }

    public var name: String
    public var kind: Kind
    public var title: String
    /// Members after `include` is resolved, in the order first listed.
    public var members: [String]
    /// The date the list was last checked against its sources (`YYYY-MM-DD`).
    public var checked: String
    public var sources: [String]
    public var notes: String?

    private var memberSet: Set<String>

    public init(
        name: String, kind: Kind, title: String, members: [String], checked: String, sources: [String],
        notes: String?
    ) {
        self.name = name
        self.kind = kind
        self.title = title
        self.members = members
        self.checked = checked
        self.sources = sources
        self.notes = notes
        self.memberSet = Set(members)
    }

    public func contains(_ value: String) -> Bool { memberSet.contains(value) }

    /// Whether a catalog location belongs to this place set: by its code, country, subdivision or zone.
    public func contains(_ location: Location) -> Bool {
        contains(location.code) || contains(location.country)
            || location.subdivision.map(contains) == true || location.zone.map(contains) == true
    }
}
