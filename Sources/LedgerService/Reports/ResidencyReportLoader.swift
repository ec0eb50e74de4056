import LedgerCore
import LedgerPolicy
import LedgerStore

/// Why a residency report cannot be made.
public enum ResidencyReportError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The residency projection is not built in this database (PostgreSQL's message).
    case projectionsMissing(String)
    /// A `ledger.policy.decision` entry, or the entry it decides, is not a signed CloudEvent the report can read.
    case unreadableEntry(idx: UInt64)

    public var description: String {
        switch self {
        case .projectionsMissing(let m):
            return "the projections are not built in this database: run `mlledger migrate` (\(m))"
        case .unreadableEntry(let idx):
            return "entry \(idx) is not a readable signed CloudEvent: run `mlledger audit verify`"
        }
    }
}

extension ResidencyReport {
    /// Reads the report from the log and its projections in one repeatable-read transaction, so that the header's
    /// size and root describe exactly the entries the sections were drawn from.
    ///
    /// Transfers and findings come from the `ledger.policy.decision` entries and the events they decide; what an
    /// event carries is the residency projection's answer for its refs now (`residency.sources`), so data
    /// registered after an event still shows as what it moved. Countries and zones come from `policies`' catalog.
    public static func load(from db: LedgerDatabase, policies: PolicySet, regime: String? = nil,
                            generatedAt micros: Int64 = LedgerIdentity.nowMicros()) throws -> ResidencyReport {
        let report: ResidencyReport
        do {
            report = try db.connection.transaction(isolation: .repeatableRead) { _ in
                try read(db, policies: policies, generatedAt: micros)
            }
        } catch let e as PostgresError where ["3F000", "42P01", "42883"].contains(e.sqlState ?? "") {
            throw ResidencyReportError.projectionsMissing(e.message)
        }
        return regime.map(report.restricted(to:)) ?? report
    }

    private static func read(_ db: LedgerDatabase, policies: PolicySet, generatedAt micros: Int64) throws
        -> ResidencyReport
    {
        let head = try db.head()
        let origin = head.size > 0 ? (try? GenesisRecord.read(db))?.origin : nil
        let assets = try AssetReader(catalog: policies.catalog).read(db.connection)
        let recognizer = TransferRecognizer(catalog: policies.catalog, territory: RegimeTerritory(policies: policies))
        var transfers: [Transfer] = []
        var findings: [Finding] = []
        var revisions: [String] = []
        try DecisionReader(db: db).forEachPage { page in
            for placement in page {
                if !revisions.contains(placement.revision) { revisions.append(placement.revision) }
                transfers += recognizer.transfers(placement)
                findings += FindingReader.findings(placement)
            }
        }
        return ResidencyReport(
            generatedAt: EventTime.format(micros: micros), log: LogState(origin: origin, size: head.size,
                                                                         root: Hex.encode(head.root)),
            regime: nil, policyRevisions: revisions, assets: assets, transfers: transfers, findings: findings)
    }
}

// MARK: - Assets

/// The residency projection's entities with their own and inherited facts (`residency.residency_view`).
struct AssetReader {
    let catalog: LocationCatalog

    func read(_ c: PostgresConnection) throws -> [ResidencyReport.Asset] {
        try c.query("""
            SELECT v.id, v.kind, v.location, v.locations, v.classification, v.regimes, v.own_regimes, v.categories,
                   v.inherited_from::text, v.unregistered_origins, e.known_idx, v.last_idx
              FROM residency.residency_view v JOIN residency.entities e ON e.id = v.id
             ORDER BY array_position(ARRAY['dataset', 'featureset', 'run', 'model', 'deployment'], v.kind),
                      v.id COLLATE "C"
            """).map(asset)
    }

    private func asset(_ r: PostgresRow) -> ResidencyReport.Asset {
        ResidencyReport.Asset(
            id: r.string(0) ?? "", kind: r.string(1) ?? "", location: r.string(2).map(catalog.place),
            locations: (r.stringArray(3) ?? []).map(catalog.place), classification: r.string(4),
            regimes: r.stringArray(5) ?? [], ownRegimes: r.stringArray(6) ?? [], categories: r.stringArray(7) ?? [],
            inherited: Self.inheritances(r.string(8)), unregisteredOrigins: r.stringArray(9) ?? [],
            knownIdx: UInt64(r.int64(10) ?? 0), lastIdx: UInt64(r.int64(11) ?? 0))
    }

    /// The view's `inherited_from`: `[{origin, path, regimes, categories, location, classification}]`.
    static func inheritances(_ text: String?) -> [ResidencyReport.Inheritance] {
        guard let text, let items = (try? JSONParser.parse(text))?.arrayValue else { return [] }
        return items.compactMap { item in
            guard let origin = item["origin"]?.stringValue else { return nil }
            return ResidencyReport.Inheritance(
                origin: origin, path: item["path"].strings, regimes: item["regimes"].strings,
                categories: item["categories"].strings, location: item["location"]?.stringValue)
        }
    }
}

extension LocationCatalog {
    /// A code with its country and zone from the catalog (none when the catalog does not know it).
    func place(_ code: String) -> ResidencyReport.Place {
        let l = location(code)
        return ResidencyReport.Place(code: code, country: l?.country, zone: l?.zone)
    }
}

extension Optional where Wrapped == JSONValue {
    /// The strings of a JSON array; empty for anything else.
    var strings: [String] { self?.arrayValue?.compactMap(\.stringValue) ?? [] }
}

// MARK: - Decisions

/// A `ledger.policy.decision` entry with the event it decided and what that event carries.
struct DecidedPlacement {
    var decisionIdx: UInt64
    /// The decision entry's `data` (`PolicyDecider.record`).
    var decision: JSONObject
    var eventIdx: UInt64
    var event: CloudEvent
    /// The event's own registration, if it is one, then the residency projection's sources of its carried refs.
    var sources: [DataSource]

    var revision: String { decision["policy_revision"]?.stringValue ?? "" }
    var effect: String { decision["effect"]?.stringValue ?? "" }
    var rules: [JSONObject] { decision["rules"]?.arrayValue?.compactMap(\.objectValue) ?? [] }
    var time: String { EventTime.format(micros: event.timeMicros) }
}

/// Reads the decision entries in log order, a page at a time, each page's events and sources in two queries.
struct DecisionReader {
    static let pageSize = 500
    let db: LedgerDatabase

    func forEachPage(_ body: ([DecidedPlacement]) throws -> Void) throws {
        var after: Int64 = -1
        while true {
            let rows = try db.connection.query("""
                SELECT idx, envelope FROM ledger.entries WHERE type = $1 AND idx > $2 ORDER BY idx LIMIT $3
                """, [.text(PolicyDecider.decisionType), .int64(after), .int64(Int64(Self.pageSize))])
            guard let last = rows.last?.int64(0) else { return }
            after = last
            let decisions = try rows.map { r in
                (idx: UInt64(r.int64(0) ?? 0), data: try Self.event(r.bytes(1) ?? [], idx: UInt64(r.int64(0) ?? 0)).data)
            }
            try body(try placements(decisions))
        }
    }

    private func placements(_ decisions: [(idx: UInt64, data: JSONObject)]) throws -> [DecidedPlacement] {
        let decidedIdx = decisions.compactMap { $0.data["entry_idx"]?.numberValue?.int64Value }.map { UInt64($0) }
        var events: [UInt64: CloudEvent] = [:]
        for e in try db.entries(at: decidedIdx) { events[e.idx] = try Self.event(e.envelope, idx: e.idx) }
        let refs = Set(events.values.flatMap { PolicyEvent($0).carriedRefs })
        let known = try PolicyDecider.sources(Array(refs), on: db.connection)
        return decisions.compactMap { d in
            guard let idx = d.data["entry_idx"]?.numberValue?.int64Value, let event = events[UInt64(idx)] else {
                return nil
            }
            let input = PolicyEvent(event)
            let own = DataSource.registered(by: input).map { [$0] } ?? []
            return DecidedPlacement(decisionIdx: d.idx, decision: d.data, eventIdx: UInt64(idx), event: event,
                                    sources: own + input.carriedRefs.flatMap { known[$0] ?? [] })
        }
    }

    static func event(_ envelope: [UInt8], idx: UInt64) throws -> CloudEvent {
        guard let env = try? DSSEEnvelope.parse(envelope), let event = try? CloudEvent.parse(env.payload) else {
            throw ResidencyReportError.unreadableEntry(idx: idx)
        }
        return event
    }
}

// MARK: - Transfers

/// Recognises the transfers in a decided placement: for each regulated source (data carrying a regime), the
/// placement is a transfer when its destination is in another country than the data, or outside the territory of
/// one of the data's regimes (`RegimeTerritory`: the EEA, the UAE, the DIFC…), or at a location the catalog does
/// not know (nothing shows it stays). Data declared at the destination itself (a data set registered or ingested
/// there) has no recorded origin: it is a transfer only when the destination is outside its regimes' territory.
struct TransferRecognizer {
    let catalog: LocationCatalog
    let territory: RegimeTerritory

    func transfers(_ p: DecidedPlacement) -> [ResidencyReport.Transfer] {
        guard let code = p.decision["target"]?["code"]?.stringValue else { return [] }
        let destination = recordedLocation(p.decision["target"]?["location"]) ?? catalog.location(code)
        let to = ResidencyReport.Place(code: code, country: destination?.country, zone: destination?.zone)
        var seen = Set<String>()
        return p.sources.compactMap { source in
            guard !source.regimes.isEmpty, seen.insert(source.ref).inserted else { return nil }
            // Data declared at the destination itself (a registration, an ingest) comes from no recorded place.
            let from = source.location.flatMap { $0 == code ? nil : catalog.place($0) }
            let leaves = source.regimes.filter { regime in
                destination.map { territory.leaves(regime, to: $0) } ?? true
            }
            guard crossesBorder(from: from, to: to) || !leaves.isEmpty else { return nil }
            return transfer(p, source: source, from: from, to: to, leaves: leaves)
        }
    }

    private func crossesBorder(from: ResidencyReport.Place?, to: ResidencyReport.Place) -> Bool {
        guard let destination = to.country else { return true }
        guard let origin = from?.country else { return false }
        return origin != destination
    }

    private func transfer(_ p: DecidedPlacement, source: DataSource, from: ResidencyReport.Place?,
                          to: ResidencyReport.Place, leaves: [String]) -> ResidencyReport.Transfer {
        var ruleIDs: [String] = []
        for id in p.rules.compactMap({ $0["id"]?.stringValue }) where !ruleIDs.contains(id) { ruleIDs.append(id) }
        return ResidencyReport.Transfer(
            time: p.time, eventIdx: p.eventIdx, decisionIdx: p.decisionIdx, eventID: p.event.id,
            eventType: p.event.type, subject: p.event.subject, data: source.ref, lineage: source.lineage, from: from,
            to: to, regimes: source.regimes, leaves: leaves, ground: Self.ground(p.event.data["transfer"]),
            effect: p.effect, rules: ruleIDs, policyRevision: p.revision)
    }

    /// The catalog entry the decision recorded for its target (the catalog of its revision).
    private func recordedLocation(_ json: JSONValue?) -> Location? {
        guard let json, let code = json["code"]?.stringValue, let country = json["country"]?.stringValue else {
            return nil
        }
        return Location(code: code, name: json["name"]?.stringValue ?? code, country: country,
                        subdivision: json["subdivision"]?.stringValue, zone: json["zone"]?.stringValue,
                        city: json["city"]?.stringValue)
    }

    /// `data.transfer`'s members as text (a non-string member as compact JSON).
    static func ground(_ json: JSONValue?) -> ResidencyReport.TransferGround {
        guard case .object(let t)? = json else { return .none }
        func text(_ key: String) -> String? {
            switch t[key] {
            case nil, .null?: return nil
            case .string(let s)?: return s
            case let v?: return v.jsonString()
            }
        }
        return ResidencyReport.TransferGround(basis: text("basis"), evidence: text("evidence"), tia: text("tia"),
                                              consent: text("consent"), approval: text("approval"),
                                              exception: text("exception"))
    }
}

// MARK: - Findings

/// The flags and denials of a decided placement: one finding per fired rule whose applied effect is not allow.
enum FindingReader {
    static func findings(_ p: DecidedPlacement) -> [ResidencyReport.Finding] {
        p.rules.compactMap { rule in
            guard let outcome = rule["outcome"]?.stringValue, outcome == "flag" || outcome == "deny" else { return nil }
            let regime = rule["regime"]?.stringValue ?? ""
            let source = rule["source"]?.stringValue
            let concerned = regime == Rule.anyRegime
                ? p.sources.first(where: { $0.ref == source })?.regimes ?? [] : [regime]
            return ResidencyReport.Finding(
                time: p.time, eventIdx: p.eventIdx, decisionIdx: p.decisionIdx, eventID: p.event.id,
                eventType: p.event.type, subject: p.event.subject, rule: rule["id"]?.stringValue ?? "",
                regime: regime, regimes: concerned, law: rule["citation"]?["law"]?.stringValue ?? "",
                article: rule["citation"]?["article"]?.stringValue ?? "", effect: outcome,
                declaredEffect: rule["effect"]?.stringValue ?? outcome, mode: rule["mode"]?.stringValue ?? "",
                disposition: disposition(outcome, eventType: p.event.type), message: rule["message"]?.stringValue ?? "",
                data: source, lineage: rule["lineage"].strings, target: p.decision["target"]?["code"]?.stringValue,
                policyRevision: p.revision)
        }
    }

    static func disposition(_ outcome: String, eventType: String) -> ResidencyReport.Disposition {
        guard outcome == "deny" else { return .flagged }
        return PolicyDecider.isRequest(eventType) ? .refused : .violation
    }
}
