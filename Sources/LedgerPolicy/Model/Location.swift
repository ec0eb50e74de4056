/// A location code of wire format §6 as the catalog (`policies/locations.yaml`) declares it.
public struct Location: Sendable, Codable, Equatable {
    /// `provider:region`, e.g. `azure:uaenorth`.
    public var code: String
    /// The part before the colon: `aws`, `azure`, `gcp`, `oci`, `alibaba` or `onprem`.
    public var provider: String
    /// The provider's display name for the region, or the site's name.
    public var name: String
    /// ISO 3166-1 alpha-2.
    public var country: String
    /// ISO 3166-2, where the provider discloses it.
    public var subdivision: String?
    /// A data protection zone inside the country (`DIFC`, `ADGM`, `QFC`), declared in the catalog's `zones`.
    public var zone: String?
    public var city: String?
    public var note: String?

    public init(
        code: String, name: String, country: String, subdivision: String? = nil, zone: String? = nil,
        city: String? = nil, note: String? = nil
    ) {
        self.code = code
        self.provider = String(code.split(separator: ":", maxSplits: 1).first ?? "")
        self.name = name
        self.country = country
        self.subdivision = subdivision
        self.zone = zone
        self.city = city
        self.note = note
    }
}

/// A zone with its own data protection law inside a country, such as a financial free zone.
public struct Zone: Sendable, Codable, Equatable {
    public var code: String
    public var name: String
    public var country: String
    public var subdivision: String?
    /// The data protection law that applies inside the zone.
    public var law: String?
}

/// The location catalog: every code the policies know, with its country, subdivision and zone.
public struct LocationCatalog: Sendable, Equatable {
    /// Locations in the order the catalog lists them.
    public var locations: [Location]
    public var zones: [Zone]
    /// The date the catalog was last checked against the providers' published region lists (`YYYY-MM-DD`).
    public var checked: String
    public var sources: [String]

    private var byCode: [String: Int]

    public init(locations: [Location], zones: [Zone], checked: String, sources: [String]) {
        self.locations = locations
        self.zones = zones
        self.checked = checked
        self.sources = sources
        var index: [String: Int] = [:]
        for (i, l) in locations.enumerated() where index[l.code] == nil { index[l.code] = i }
        self.byCode = index
    }

    public func location(_ code: String) -> Location? { byCode[code].map { locations[$0] } }

    public func zone(_ code: String) -> Zone? { zones.first { $0.code == code } }
}

/// Where an event places what it touches: `data.location`, else `data.region`, else the CloudEvent `region`
/// extension, resolved against the catalog.
public struct Placement: Sendable, Codable, Equatable {
    /// Which attribute the code came from: `data.location`, `data.region` or `region`; nil when the event has none.
    public var field: String?
    /// The location code as the event wrote it.
    public var code: String?
    /// The catalog entry; nil when the code is missing from the catalog (or the event has no placement).
    public var location: Location?

    public var isKnown: Bool { location != nil }

    public init(field: String?, code: String?, location: Location?) {
        self.field = field
        self.code = code
        self.location = location
    }
}
