import LedgerCore
import Yams

/// Reading the inputs of an evaluation from YAML or JSON (JSON is YAML): a state (the list of sources) and an
/// event written as a CloudEvent or its short form (`type`, `subject`, `tenant`, `region`, `data`).
public enum PolicyInput {
    /// Parses a state file: a list of sources, each `{ref, location, classification, regimes, categories, lineage, validated}`.
    public static func state(_ bytes: [UInt8], file: String) throws(PolicyLoadError) -> [DataSource] {
        let diagnostics = Diagnostics()
        let reader = YAMLReader(file: file, diagnostics: diagnostics)
        let sources = reader.parse(bytes).map { readSources($0, "$", reader) } ?? []
        guard diagnostics.errors.isEmpty else { throw PolicyLoadError(diagnostics.errors) }
        return sources ?? []
    }

    /// Parses an event; `specversion`, `id`, `source`, `time` and the other CloudEvent attributes are accepted
    /// and ignored, anything else is an error.
    public static func event(_ bytes: [UInt8], file: String) throws(PolicyLoadError) -> PolicyEvent {
        let diagnostics = Diagnostics()
        let reader = YAMLReader(file: file, diagnostics: diagnostics)
        let event = reader.parse(bytes).flatMap { readEvent($0, "$", reader) }
        guard diagnostics.errors.isEmpty, let event else { throw PolicyLoadError(diagnostics.errors) }
        return event
    }

    static let eventKeys = ["specversion", "id", "source", "type", "subject", "time", "datacontenttype",
                            "dataschema", "tenant", "actor", "region", "correlationid", "causationid", "data"]

    static func readEvent(_ node: Node, _ path: String, _ reader: YAMLReader) -> PolicyEvent? {
        guard let m = reader.mapping(node, path, allowed: eventKeys, required: ["type", "data"]),
              let type = reader.string(m["type"], "\(path).type"), let dataNode = m["data"]
        else { return nil }
        if !EventCatalog.isCatalogType(type) {
            reader.fail(.unknownEventType, m["type"], "\(path).type",
                        "\"\(type)\" is not a catalog event type\(hint(type, EventCatalog.producerTypes))")
        }
        guard case .object(let data)? = reader.json(dataNode, "\(path).data") else {
            reader.fail(.invalidValue, dataNode, "\(path).data", "data must be a mapping")
            return nil
        }
        let prefix = EventCatalog.subjectPrefixes[type] ?? ""
        return PolicyEvent(type: type, subject: reader.string(m["subject"], "\(path).subject") ?? "\(prefix)example",
                           tenant: reader.string(m["tenant"], "\(path).tenant") ?? CloudEvent.defaultTenant,
                           region: reader.string(m["region"], "\(path).region"), data: data)
    }

    static func readSources(_ node: Node, _ path: String, _ reader: YAMLReader) -> [DataSource]? {
        guard let items = reader.sequence(node, path) else { return nil }
        var out: [DataSource] = []
        for (i, item) in items.enumerated() {
            let at = "\(path)[\(i)]"
            guard let m = reader.mapping(item, at,
                                         allowed: ["ref", "location", "classification", "regimes", "categories", "lineage",
                                                   "validated"],
                                         required: ["ref"]),
                  let ref = reader.string(m["ref"], "\(at).ref")
            else { continue }
            func closed(_ key: String, _ vocabulary: [String]) -> [String] {
                let values = reader.strings(m[key], "\(at).\(key)") ?? []
                for v in values where !vocabulary.contains(v) {
                    reader.fail(.unknownValue, m[key], "\(at).\(key)",
                                "\"\(v)\" is not one of the \(key)\(hint(v, vocabulary))")
                }
                return values
            }
            let classification = reader.string(m["classification"], "\(at).classification")
            if let c = classification, !PolicyVocabulary.classifications.contains(c) {
                reader.fail(.unknownValue, m["classification"], "\(at).classification",
                            "\"\(c)\" is not a classification (\(PolicyVocabulary.classifications.joined(separator: ", ")))")
            }
            let location = reader.string(m["location"], "\(at).location")
            if let l = location, !CatalogLoader.isLocationCode(l) {
                reader.fail(.invalidValue, m["location"], "\(at).location",
                            "\"\(l)\" is not a location code provider:region")
            }
            out.append(DataSource(ref: ref, location: location, classification: classification,
                                  regimes: closed("regimes", PolicyVocabulary.regimes),
                                  categories: closed("categories", PolicyVocabulary.categories),
                                  lineage: reader.strings(m["lineage"], "\(at).lineage") ?? [],
                                  validated: reader.bool(m["validated"], "\(at).validated")))
        }
        return out
    }
}
