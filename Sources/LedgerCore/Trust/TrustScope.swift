/// What a producer key may sign (wire format §5): source and type patterns, an optional tenant, a validity
/// window, and the log indexes at which trust began and, if revoked, ended.
public struct TrustScope: Sendable, Equatable {
    public var sources: [Glob]
    public var types: [Glob]
    /// When set, events must carry this tenant.
    public var tenant: String?
    /// Validity window over the event's `time`, microseconds since the epoch.
    public var notBefore: Int64?
    public var notAfter: Int64?

    public init(sources: [Glob] = [Glob("*")], types: [Glob] = [Glob("mlops.*")], tenant: String? = nil,
                notBefore: Int64? = nil, notAfter: Int64? = nil) {
        self.sources = sources
        self.types = types
        self.tenant = tenant
        self.notBefore = notBefore
        self.notAfter = notAfter
    }

    /// Whether this scope covers the event.
    public func covers(_ event: CloudEvent) -> Bool {
        guard Glob.any(sources, match: event.source), Glob.any(types, match: event.type) else { return false }
        if let tenant, tenant != event.tenant { return false }
        if let notBefore, event.timeMicros < notBefore { return false }
        if let notAfter, event.timeMicros > notAfter { return false }
        return true
    }

    /// The scope as the JSON object recorded in `ledger.key.trusted` entries.
    public var json: JSONObject {
        var o = JSONObject([
            "sources": .array(sources.map { .string($0.pattern) }),
            "types": .array(types.map { .string($0.pattern) }),
        ])
        if let tenant { o["tenant"] = .string(tenant) }
        if let notBefore { o["not_before"] = .string(EventTime.format(micros: notBefore)) }
        if let notAfter { o["not_after"] = .string(EventTime.format(micros: notAfter)) }
        return o
    }

    /// Reads the JSON form written by `json`.
    public init?(json o: JSONObject) {
        guard let s = o["sources"]?.arrayValue?.compactMap(\.stringValue),
              let t = o["types"]?.arrayValue?.compactMap(\.stringValue)
        else { return nil }
        self.init(sources: s.map(Glob.init), types: t.map(Glob.init), tenant: o["tenant"]?.stringValue,
                  notBefore: o["not_before"]?.stringValue.flatMap(EventTime.parse),
                  notAfter: o["not_after"]?.stringValue.flatMap(EventTime.parse))
    }
}
