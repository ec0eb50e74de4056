import LedgerCore

/// The part of a CloudEvent (wire format §3) the policies read.
public struct PolicyEvent: Sendable, Equatable {
    public var type: String
    public var subject: String
    public var tenant: String
    /// The CloudEvent `region` extension: where the action physically ran.
    public var region: String?
    public var data: JSONObject

    public init(type: String, subject: String, tenant: String = CloudEvent.defaultTenant, region: String? = nil,
                data: JSONObject) {
        self.type = type
        self.subject = subject
        self.tenant = tenant
        self.region = region
        self.data = data
    }

    public init(_ event: CloudEvent) {
        self.init(type: event.type, subject: event.subject, tenant: event.tenant, region: event.region,
                  data: event.data)
    }

    /// Where the event places what it touches: `data.location`, else `data.region`, else the `region` extension.
    public var placementCode: (field: String, code: String)? {
        if case .string(let s)? = data["location"] { return ("data.location", s) }
        if case .string(let s)? = data["region"] { return ("data.region", s) }
        if let region { return ("region", region) }
        return nil
    }

    /// What the event carries, as refs whose facts the state supplies: what it names (`referencedRefs`), the run
    /// of a start or GPU allocation, the model version registered, the data set ingested. A registration carries
    /// its own facts in its data.
    public var carriedRefs: [String] {
        switch type {
        case "mlops.deployment.requested":
            return referencedRefs.map { "model/" + $0 }
        case "mlops.training.started", "mlops.gpu.allocated":
            return data["run_id"]?.stringValue.map { ["run/" + $0] } ?? []
        case "mlops.model.registered":
            return data["model"]?.stringValue.map { ["model/" + $0] } ?? []
        case "mlops.dataset.ingested":
            guard let name = data["name"]?.stringValue, let v = data["version"] else { return [] }
            return ["dataset/\(name)@\(v.stringValue ?? v.numberValue?.text ?? "")"]
        default:
            return referencedRefs
        }
    }

    /// The refs the event itself names (`inputs` of a feature set or a training request, `model` of a deployment),
    /// which the state should explain.
    public var referencedRefs: [String] {
        switch type {
        case "mlops.featureset.published", "mlops.training.requested":
            return data["inputs"]?.arrayValue?.compactMap(\.stringValue) ?? []
        case "mlops.deployment.requested":
            return data["model"]?.stringValue.map { [$0] } ?? []
        default:
            return []
        }
    }
}

/// A data set, feature set or model version an event touches, with what the ledger knows about it: the state an
/// event is decided with. The residency projection supplies these (a training run's inputs, a model's training
/// data, a deployment's model), each with the lineage that explains inherited regimes; policy tests write the same
/// list under `state:`.
public struct DataSource: Sendable, Codable, Equatable {
    /// `kind/name@version`, e.g. `dataset/customer-txns@3` (the bare `name@version` is accepted too).
    public var ref: String
    /// The location code where it is stored.
    public var location: String?
    /// Wire format §4 classification; nil when unknown.
    public var classification: String?
    public var regimes: [String]
    public var categories: [String]
    /// The chain of refs from what the event names to this source (both ends included) when the regimes are
    /// inherited, e.g. `[model/fraud-detector@7, run/0196…, dataset/customer-txns@3]`; empty when the event names
    /// the source itself. A source inherited from several origins appears once per origin.
    public var lineage: [String]
    /// For a model version: whether a validation gate passed for it (the registry's answer); nil when unknown or
    /// not a model.
    public var validated: Bool?

    public init(ref: String, location: String? = nil, classification: String? = nil, regimes: [String] = [],
                categories: [String] = [], lineage: [String] = [], validated: Bool? = nil) {
        self.ref = ref
        self.location = location
        self.classification = classification
        self.regimes = regimes
        self.categories = categories
        self.lineage = lineage
        self.validated = validated
    }

    enum CodingKeys: String, CodingKey {
        case ref, location, classification, regimes, categories, lineage, validated
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        ref = try c.decode(String.self, forKey: .ref)
        location = try c.decodeIfPresent(String.self, forKey: .location)
        classification = try c.decodeIfPresent(String.self, forKey: .classification)
        regimes = try c.decodeIfPresent([String].self, forKey: .regimes) ?? []
        categories = try c.decodeIfPresent([String].self, forKey: .categories) ?? []
        lineage = try c.decodeIfPresent([String].self, forKey: .lineage) ?? []
        validated = try c.decodeIfPresent(Bool.self, forKey: .validated)
    }

    /// `name@version` without the `kind/` prefix.
    public var bareRef: String { Self.bare(ref) }

    /// `dataset`, `featureset`, `model`… from the ref's prefix; nil for a bare ref.
    public var kind: String? {
        guard let at = ref.firstIndex(of: "@"), let slash = ref[..<at].firstIndex(of: "/") else { return nil }
        let k = String(ref[..<slash])
        return ["dataset", "featureset", "model", "run", "deployment"].contains(k) ? k : nil
    }

    static func bare(_ ref: String) -> String {
        for prefix in ["dataset/", "featureset/", "model/", "run/", "deployment/"] where ref.hasPrefix(prefix) {
            return String(ref.dropFirst(prefix.count))
        }
        return ref
    }

    /// The source a `mlops.dataset.registered` event describes: the data set version itself.
    public static func registered(by event: PolicyEvent) -> DataSource? {
        guard event.type == "mlops.dataset.registered", let name = event.data["name"]?.stringValue else { return nil }
        let version = event.data["version"]?.stringValue ?? "?"
        return DataSource(
            ref: "dataset/\(name)@\(version)",
            location: event.data["location"]?.stringValue,
            classification: event.data["classification"]?.stringValue,
            regimes: event.data["regimes"]?.arrayValue?.compactMap(\.stringValue) ?? [],
            categories: event.data["categories"]?.arrayValue?.compactMap(\.stringValue) ?? [])
    }
}
