/// The event types of wire format §4 and the ledger's own entry types. Per-type field rules live in the JSON
/// Schemas under `events/`; this is the list of names and the subject each type is about.
public enum EventCatalog {
    /// Catalog type -> the subject prefix its events carry (`dataset/`, `run/`...).
    public static let subjectPrefixes: [String: String] = {
        var m: [String: String] = [
            "mlops.dataset.registered": "dataset/",
            "mlops.dataset.ingested": "dataset/",
            "mlops.featureset.published": "featureset/",
            "mlops.training.requested": "run/",
            "mlops.training.started": "run/",
            "mlops.training.completed": "run/",
            "mlops.training.failed": "run/",
            "mlops.gpu.allocated": "gpu/",
            "mlops.gpu.released": "gpu/",
            "mlops.validation.passed": "model/",
            "mlops.validation.failed": "model/",
            "mlops.model.registered": "model/",
            "mlops.model.promoted": "model/",
            "mlops.drift.detected": "model/",
            "mlops.access.granted": "access/",
            "mlops.access.revoked": "access/",
            "mlops.erasure.requested": "erasure/",
            "mlops.erasure.completed": "erasure/",
        ]
        for t in ["requested", "started", "traffic_shifted", "completed", "rolled_back", "failed"] {
            m["mlops.deployment.\(t)"] = "deployment/"
        }
        return m
    }()

    /// Every producer-facing type, sorted.
    public static var producerTypes: [String] { subjectPrefixes.keys.sorted() }

    public static func isCatalogType(_ type: String) -> Bool { subjectPrefixes[type] != nil }

    /// Types only the ledger's own key may sign.
    public static func isLedgerType(_ type: String) -> Bool { type.hasPrefix(ledgerPrefix) }

    public static let ledgerPrefix = "ledger."

    /// Entry types the ledger appends itself.
    public enum LedgerType {
        public static let keyTrusted = "ledger.key.trusted"
        public static let keyRevoked = "ledger.key.revoked"
        /// The first entry of a log: the ledger's own key, self-signed.
        public static let genesis = "ledger.genesis"
    }
}
