import LedgerPolicy

/// Where each regime of wire format §6 holds data without a transfer: the territory a placement leaves when it is a
/// transfer under that law. The GDPR's is the EEA (Chapter V governs transfers out of it); the federal UAE laws'
/// is the UAE, free zones included; the DIFC and ADGM laws' is their zone (onshore UAE is a third country for
/// them). Place sets come from the policy set's `sets.yaml`, so the report and the rules agree on their members.
public struct RegimeTerritory: Sendable {
    enum Extent: Sendable {
        /// A place set of `sets.yaml`.
        case set(String)
        /// A zone of the location catalog.
        case zone(String)
    }

    static let extents: [String: Extent] = [
        "eu-gdpr": .set("eea"),
        "ae-pdpl": .set("uae"),
        "ae-health": .set("uae"),
        "ae-cbuae": .set("uae"),
        "ae-difc": .zone("DIFC"),
        "ae-adgm": .zone("ADGM"),
    ]

    private let sets: [String: NamedSet]

    public init(policies: PolicySet) {
        sets = policies.sets
    }

    /// Whether a catalog location lies outside the regime's territory. A regime without a territory here (a future
    /// one) is never left; a location missing from the catalog is handled by the caller.
    public func leaves(_ regime: String, to location: Location) -> Bool {
        switch Self.extents[regime] {
        case .set(let name)?: return sets[name].map { !$0.contains(location) } ?? false
        case .zone(let zone)?: return location.zone != zone
        case nil: return false
        }
    }
}
