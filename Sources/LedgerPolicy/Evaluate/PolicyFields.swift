import LedgerCore

/// The kind of value a field holds, which decides the operators it accepts.
public enum FieldType: String, Sendable, CaseIterable {
    case string, bool, number, list, object
    /// A location code resolved against the catalog; place sets match it by code, country, subdivision or zone.
    case place
    /// An ISO 3166-1 alpha-2 code.
    case country
    /// An ISO 3166-2 code.
    case subdivision
    /// A catalog zone code (`DIFC`, `ADGM`…).
    case zone

    /// Whether place sets (rather than value sets) apply to it.
    var isPlace: Bool { [.place, .country, .subdivision, .zone].contains(self) }
}

/// A field conditions and messages may name.
public struct FieldSpec: Sendable {
    public var type: FieldType
    /// The values the field can take, when closed; operands outside it are refused at load time.
    public var vocabulary: [String]?
    public var summary: String
}

/// The facts a rule sees for one event and one source. Rule files may name only these fields, so a typo is a load
/// error (`unknown_field`) instead of a condition that is silently never true.
public enum PolicyFields {
    private static func f(_ type: FieldType, _ summary: String, _ vocabulary: [String]? = nil) -> FieldSpec {
        FieldSpec(type: type, vocabulary: vocabulary, summary: summary)
    }

    /// Derived and context fields.
    public static let fields: [(String, FieldSpec)] = [
        ("event.type", f(.string, "the CloudEvent type", EventCatalog.producerTypes)),
        ("event.subject", f(.string, "the CloudEvent subject")),
        ("event.tenant", f(.string, "the tenant extension (`default` when absent)")),
        ("event.region", f(.string, "the CloudEvent `region` extension: where the action physically ran")),
        ("event.unresolved", f(.list, "refs the event names (inputs, model) that no source in the state explains")),
        ("target", f(.place, "the placement: data.location, else data.region, else the region extension")),
        ("target.code", f(.string, "the placement's location code as written")),
        ("target.field", f(.string, "which attribute the placement came from", ["data.location", "data.region", "region"])),
        ("target.known", f(.bool, "whether the placement's code is in the location catalog")),
        ("target.provider", f(.string, "the code's provider", PolicyVocabulary.providers)),
        ("target.name", f(.string, "the catalog name of the placement")),
        ("target.country", f(.country, "ISO 3166-1 country of the placement")),
        ("target.subdivision", f(.subdivision, "ISO 3166-2 subdivision of the placement, where known")),
        ("target.zone", f(.zone, "catalog zone of the placement (DIFC, ADGM, QFC)")),
        ("target.city", f(.string, "city of the placement, where known")),
        ("source.ref", f(.string, "the source's ref, e.g. dataset/customer-txns@3")),
        ("source.kind", f(.string, "dataset, featureset or model", ["dataset", "featureset", "model", "run", "deployment"])),
        ("source.origin", f(.string, "where the source's regimes come from: the last ref of its lineage, else its ref")),
        ("source.location", f(.place, "where the source is stored")),
        ("source.known", f(.bool, "whether the source's location is in the catalog")),
        ("source.country", f(.country, "ISO 3166-1 country of the source's location")),
        ("source.subdivision", f(.subdivision, "ISO 3166-2 subdivision of the source's location")),
        ("source.zone", f(.zone, "catalog zone of the source's location")),
        ("source.classification", f(.string, "the source's classification", PolicyVocabulary.classifications)),
        ("source.regimes", f(.list, "the source's regimes, own or inherited", PolicyVocabulary.regimes)),
        ("source.categories", f(.list, "the source's special categories", PolicyVocabulary.categories)),
        ("source.lineage", f(.list, "the refs from what the event names to the source")),
        ("source.validated", f(.bool, "for a model version: whether a validation gate passed for it")),
        ("categories", f(.list, "special categories touched: the source's and the event's data.categories",
                         PolicyVocabulary.categories)),
        ("personal", f(.bool, "classification personal or sensitive, or any special category")),
        ("transfer.basis", f(.string, "data.transfer.basis: the legal basis of a transfer", PolicyVocabulary.transferBases)),
        ("transfer.evidence", f(.string, "data.transfer.evidence: reference to the document behind the basis")),
        ("transfer.tia", f(.string, "data.transfer.tia: reference to the transfer impact assessment")),
        ("transfer.consent", f(.string, "data.transfer.consent: reference to the data subjects' consent records")),
        ("transfer.approval", f(.string, "data.transfer.approval: reference to a regulator's approval")),
        ("transfer.exception", f(.string, "data.transfer.exception: the listed exception a transfer relies on")),
    ]

    /// `event.data.<path>` fields: the catalog fields of the decided types (wire format §4) and the optional
    /// fields the policies read.
    public static let dataFields: [(String, FieldSpec)] = [
        ("name", f(.string, "data set or feature set name")),
        ("version", f(.string, "version")),
        ("uri", f(.string, "where the content lives")),
        ("source_uri", f(.string, "where ingested records came from")),
        ("digest", f(.string, "content digest")),
        ("location", f(.string, "location code where it is stored")),
        ("region", f(.string, "location code where it runs")),
        ("classification", f(.string, "classification of a registered data set", PolicyVocabulary.classifications)),
        ("regimes", f(.list, "regimes of a registered data set", PolicyVocabulary.regimes)),
        ("categories", f(.list, "special categories the event's data carries", PolicyVocabulary.categories)),
        ("records", f(.number, "records ingested")),
        ("inputs", f(.list, "refs of the inputs")),
        ("run_id", f(.string, "training run id")),
        ("model", f(.string, "model name or ref")),
        ("job", f(.string, "worker job template")),
        ("params", f(.object, "hyper-parameters")),
        ("gpus", f(.object, "requested GPUs")),
        ("gpus.count", f(.number, "requested GPU count")),
        ("gpus.type", f(.string, "requested GPU type")),
        ("node", f(.string, "node name")),
        ("gpu_type", f(.string, "allocated GPU type")),
        ("count", f(.number, "allocated GPU count")),
        ("allocation_id", f(.string, "GPU allocation id")),
        ("deployment_id", f(.string, "deployment id")),
        ("environment", f(.string, "deployment environment")),
        ("strategy", f(.string, "deployment strategy", ["canary", "blue-green", "rolling", "direct"])),
        ("transfer", f(.object, "transfer basis and evidence")),
        ("transfer.basis", f(.string, "transfer basis", PolicyVocabulary.transferBases)),
        ("transfer.evidence", f(.string, "transfer evidence")),
        ("transfer.tia", f(.string, "transfer impact assessment reference")),
        ("transfer.consent", f(.string, "consent records reference")),
        ("transfer.approval", f(.string, "regulator approval reference")),
        ("transfer.exception", f(.string, "listed exception relied on")),
        ("dpia", f(.string, "reference to the data protection impact assessment covering the processing")),
        ("copy_of", f(.string, "ref of the master record a registered data set copies")),
    ]

    private static let fixedIndex: [String: FieldSpec] = Dictionary(fields, uniquingKeysWith: { a, _ in a })
    private static let dataIndex: [String: FieldSpec] = Dictionary(dataFields, uniquingKeysWith: { a, _ in a })

    public static let dataPrefix = "event.data."

    /// The spec of a field, or nil when no event or state provides it.
    public static func spec(_ field: String) -> FieldSpec? {
        if field.hasPrefix(dataPrefix) { return dataIndex[String(field.dropFirst(dataPrefix.count))] }
        return fixedIndex[field]
    }

    /// Every field name, for suggestions and documentation.
    public static var allNames: [String] { fields.map(\.0) + dataFields.map { dataPrefix + $0.0 } }
}
