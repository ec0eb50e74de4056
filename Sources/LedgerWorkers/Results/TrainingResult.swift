import LedgerCore

/// What a training job produced, read from its output directory: the models (with digests the worker computed from
/// the files themselves) and the metrics.
///
/// The job writes `training.json` (`{"outputs": [{"model", "version", "file", "digest"?}]}`), the model files it
/// names, and `metrics.json` (an object). A digest the job claims must equal the file's.
public struct TrainingResult: Sendable, Hashable {
    /// One model artifact.
    public struct Output: Sendable, Hashable {
        public let model: String
        public let version: String
        /// `sha256:<hex>` of the file, computed by the worker.
        public let digest: String
        /// `file://` URI of the artifact in the job's output directory.
        public let uri: String
        /// The artifact's file name in the output directory.
        public let file: String
        public let bytes: Int64

        /// `name@version`.
        public var ref: String { "\(model)@\(version)" }

        /// The `{model, version, digest, uri}` item of `outputs` (wire format §4).
        public var json: JSONObject {
            ["model": .string(model), "version": .string(version), "digest": .string(digest), "uri": .string(uri)]
        }
    }

    public let outputs: [Output]
    public let metrics: JSONObject

    public static let manifestFile = "training.json"
    public static let metricsFile = "metrics.json"
    static let namePattern = "[A-Za-z0-9][A-Za-z0-9._/-]*"
    static let versionPattern = "[A-Za-z0-9._-]+"

    /// Reads the results in `outputDirectory`. `expectedModel`, when given, is the model the request named: every
    /// output must be a version of it.
    public static func read(outputDirectory: String, expectedModel: String? = nil) throws(ResultError) -> TrainingResult
    {
        let dir = OutputDirectory(outputDirectory)
        let manifest = ResultFields(try dir.jsonObject(manifestFile), file: manifestFile)
        var outputs: [Output] = []
        let items = try manifest.objects("outputs")
        guard !items.isEmpty else { throw manifest.fail("outputs", "no model was produced") }
        for item in items {
            let model = try item.string("model", pattern: namePattern)
            if let expectedModel, model != expectedModel {
                throw item.fail("model", "the request was for \(expectedModel)")
            }
            let version = try item.string("version", pattern: versionPattern)
            let file = try item.string("file")
            let (digest, bytes) = try dir.digest(file)
            if let claimed = try item.optionalString("digest"), claimed != digest {
                throw ResultError(.digestMismatch, file: file, "the job reported \(claimed), the file is \(digest)")
            }
            outputs.append(
                Output(model: model, version: version, digest: digest, uri: dir.fileURI(file), file: file, bytes: bytes)
            )
        }
        let metrics = try dir.jsonObject(metricsFile)
        return TrainingResult(outputs: outputs, metrics: metrics)
    }

    /// `data` of `mlops.training.completed` (wire format §4).
    public func completedEventData(runID: String) -> JSONObject {
        ["run_id": .string(runID), "outputs": .array(outputs.map { .object($0.json) }), "metrics": .object(metrics)]
    }

    /// `data` of one `mlops.model.registered` per output; `location` is where the artifact is stored (the node's
    /// location code).
    public func modelRegisteredEventData(runID: String, location: String) -> [JSONObject] {
        outputs.map {
            [
                "model": .string($0.ref), "run_id": .string(runID), "uri": .string($0.uri),
                "digest": .string($0.digest),
                "location": .string(location),
            ]
        }
    }

    /// The result events in order: `mlops.training.completed`, then the registrations.
    public func resultEvents(runID: String, location: String) -> [ResultEvent] {
        [ResultEvent(type: "mlops.training.completed", data: completedEventData(runID: runID))]
            + modelRegisteredEventData(runID: runID, location: location).map {
                ResultEvent(type: "mlops.model.registered", data: $0)
            }
    }
}
