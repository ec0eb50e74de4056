import LedgerCore

/// Maps the log's training runs and deployments to OpenLineage RunEvents (spec 2-0-2), so Marquez or any
/// OpenLineage consumer can import the history:
///
/// | log event | RunEvent |
/// |---|---|
/// | `mlops.training.started` | START, inputs = the request's data sets and feature sets |
/// | `mlops.training.completed` | COMPLETE, outputs = the model versions written |
/// | `mlops.training.failed` | FAIL |
/// | `mlops.deployment.started` / `.traffic_shifted` | START / RUNNING, input = the model version deployed |
/// | `mlops.deployment.completed` | COMPLETE, output = the deployment |
/// | `mlops.deployment.rolled_back` / `.failed` | FAIL |
///
/// Data sets are named from their URI as OpenLineage's naming conventions ask (`s3://bucket` + key path); a
/// reference the log never registered is named `mlledger` / `dataset/<name>@<version>`. Run ids are the
/// producer's when they are UUIDs, otherwise a name-based UUID (version 8, from SHA-256) of the run or of the
/// deployment request, so repeated exports give the same ids. Every RunEvent carries an `mlledger` run facet with
/// the log index and id of the event it came from, which `mlledger audit prove --idx` proves.
///
/// Feed every entry in log order to `consume`; it keeps what later events need (data set URIs, run inputs).
public struct OpenLineageExporter {
    public static let schemaURL = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
    static let versionFacetURL =
        "https://openlineage.io/spec/facets/1-0-1/DatasetVersionDatasetFacet.json#/$defs/DatasetVersionDatasetFacet"
    static let ledgerFacetURL = "https://mlledger.dev/spec/facets/1-0-0/LedgerEntryRunFacet.json"

    /// URI of the software that produced the events: this ledger.
    public let producer: String
    private var uris: [String: String] = [:]           // "dataset/name@v", "model/name@v" -> uri
    private var runInputs: [String: [String]] = [:]    // run id -> input refs (kind/name@v)
    private var runModels: [String: String] = [:]      // run id -> model name
    private var deployments: [String: (model: String, requestIdx: UInt64)] = [:]

    public init(origin: String) { producer = "mlledger://" + origin }

    /// The RunEvents this entry maps to (none for most).
    public mutating func consume(idx: UInt64, event: CloudEvent) -> [JSONObject] {
        let d = event.data
        func string(_ k: String) -> String? { d[k]?.stringValue }
        func ref(_ kind: String, name: String?, version: JSONValue?) -> String? {
            guard let name, let version else { return nil }
            let v = version.stringValue ?? version.numberValue?.text ?? ""
            return "\(kind)/\(name)@\(v)"
        }
        switch event.type {
        case "mlops.dataset.registered":
            if let r = ref("dataset", name: string("name"), version: d["version"]), let uri = string("uri") { uris[r] = uri }
        case "mlops.featureset.published":
            if let r = ref("featureset", name: string("name"), version: d["version"]) {
                uris[r] = uris[r] ?? "mlledger:\(r)"
            }
        case "mlops.model.registered":
            if let m = string("model"), let uri = string("uri") { uris["model/" + m] = uri }
        case "mlops.training.requested":
            guard let run = string("run_id") else { return [] }
            runInputs[run] = (d["inputs"]?.arrayValue ?? []).compactMap(\.stringValue).map(resolveInput)
            runModels[run] = string("model")
        case "mlops.training.started":
            guard let run = string("run_id") else { return [] }
            return [runEvent("START", idx, event, runID: run, job: trainingJob(run, event),
                             inputs: (runInputs[run] ?? []).map(dataset), outputs: [])]
        case "mlops.training.completed":
            guard let run = string("run_id") else { return [] }
            let outputs: [JSONValue] = (d["outputs"]?.arrayValue ?? []).compactMap { o in
                guard let r = ref("model", name: o["model"]?.stringValue, version: o["version"]) else { return nil }
                if let uri = o["uri"]?.stringValue { uris[r] = uri }
                return dataset(r)
            }
            return [runEvent("COMPLETE", idx, event, runID: run, job: trainingJob(run, event),
                             inputs: (runInputs[run] ?? []).map(dataset), outputs: outputs)]
        case "mlops.training.failed":
            guard let run = string("run_id") else { return [] }
            return [runEvent("FAIL", idx, event, runID: run, job: trainingJob(run, event),
                             inputs: (runInputs[run] ?? []).map(dataset), outputs: [])]
        case "mlops.deployment.requested":
            guard let id = string("deployment_id"), let model = string("model") else { return [] }
            deployments[id] = ("model/" + model, idx)
        case "mlops.deployment.started", "mlops.deployment.traffic_shifted", "mlops.deployment.completed",
             "mlops.deployment.rolled_back", "mlops.deployment.failed":
            guard let id = string("deployment_id") else { return [] }
            let known = deployments[id]
            let type = switch event.type {
            case "mlops.deployment.started": "START"
            case "mlops.deployment.traffic_shifted": "RUNNING"
            case "mlops.deployment.completed": "COMPLETE"
            default: "FAIL"
            }
            let runKey = "deployment/\(id)#\(known?.requestIdx ?? idx)"
            let job: JSONObject = ["namespace": .string(namespace(event)), "name": .string("deploy." + id)]
            let output: JSONObject = ["namespace": .string("mlledger"), "name": .string("deployment/" + id)]
            return [runEvent(type, idx, event, runID: runKey, job: job, inputs: known.map { [dataset($0.model)] } ?? [],
                             outputs: type == "COMPLETE" ? [.object(output)] : [])]
        default:
            break
        }
        return []
    }

    /// An input named without its kind (`customer-txns@3`) is a data set unless a feature set of that name was
    /// published (data sets first, as the projections resolve it).
    private func resolveInput(_ raw: String) -> String {
        if raw.contains("/") { return raw }
        if uris["dataset/" + raw] != nil { return "dataset/" + raw }
        if uris["featureset/" + raw] != nil { return "featureset/" + raw }
        return "dataset/" + raw
    }

    private func namespace(_ event: CloudEvent) -> String { "mlledger/" + event.tenant }

    private func trainingJob(_ run: String, _ event: CloudEvent) -> JSONObject {
        ["namespace": .string(namespace(event)), "name": .string("train." + (runModels[run] ?? "unknown-model"))]
    }

    /// An OpenLineage dataset for a ref, named from its URI when the log registered one.
    private func dataset(_ ref: String) -> JSONValue {
        let (namespace, name) = Self.split(uri: uris[ref]) ?? ("mlledger", ref)
        var facets: JSONObject = [:]
        if let version = ref.split(separator: "@").last, ref.contains("@") {
            facets["version"] = .object(["_producer": .string(producer), "_schemaURL": .string(Self.versionFacetURL),
                                         "datasetVersion": .string(String(version))])
        }
        return .object(["namespace": .string(namespace), "name": .string(name), "facets": .object(facets)])
    }

    /// `s3://bucket/a/b/` -> ("s3://bucket", "a/b"); nil for anything that is not scheme://authority/path.
    static func split(uri: String?) -> (String, String)? {
        guard let uri, let schemeEnd = uri.range(of: "://") else { return nil }
        let rest = uri[schemeEnd.upperBound...]
        guard let slash = rest.firstIndex(of: "/"), slash != rest.startIndex else { return nil }
        let path = rest[rest.index(after: slash)...].trimmingSlashes()
        guard !path.isEmpty else { return nil }
        return (String(uri[..<slash]), path)
    }

    private func runEvent(_ type: String, _ idx: UInt64, _ event: CloudEvent, runID: String, job: JSONObject,
                          inputs: [JSONValue], outputs: [JSONValue]) -> JSONObject {
        let ledgerFacet: JSONObject = [
            "_producer": .string(producer), "_schemaURL": .string(Self.ledgerFacetURL),
            "idx": .number(JSONNumber(Int64(idx))), "eventId": .string(event.id), "eventSource": .string(event.source),
            "eventType": .string(event.type),
        ]
        return [
            "eventType": .string(type),
            "eventTime": .string(event.time),
            "run": .object(["runId": .string(Self.uuid(for: runID)), "facets": .object(["mlledger": .object(ledgerFacet)])]),
            "job": .object(job),
            "inputs": .array(inputs),
            "outputs": .array(outputs),
            "producer": .string(producer),
            "schemaURL": .string(Self.schemaURL),
        ]
    }

    /// `id` itself when it is a UUID, otherwise a UUID version 8 from the first 16 bytes of SHA-256("mlledger:" + id).
    public static func uuid(for id: String) -> String {
        let hex = Array(id.lowercased().utf8)
        let isUUID = hex.count == 36 && hex.enumerated().allSatisfy { i, c in
            [8, 13, 18, 23].contains(i) ? c == UInt8(ascii: "-") : (48...57).contains(c) || (97...102).contains(c)
        }
        if isUUID { return id.lowercased() }
        var b = Array(SHA256.hash(Array("mlledger:\(id)".utf8)).prefix(16))
        b[6] = (b[6] & 0x0F) | 0x80
        b[8] = (b[8] & 0x3F) | 0x80
        let h = Hex.encode(b)
        let c = Array(h)
        return String(c[0..<8]) + "-" + String(c[8..<12]) + "-" + String(c[12..<16]) + "-" + String(c[16..<20]) + "-"
            + String(c[20..<32])
    }
}

private extension Substring {
    func trimmingSlashes() -> String {
        var s = self
        while s.first == "/" { s.removeFirst() }
        while s.last == "/" { s.removeLast() }
        return String(s)
    }
}
