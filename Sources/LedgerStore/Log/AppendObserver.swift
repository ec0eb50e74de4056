import LedgerCore

/// An entry appended in the current transaction, as the work that follows it needs it.
public struct AppendedEntry: Sendable {
    public var idx: UInt64
    public var type: String
    /// The CloudEvent JSON bytes of the entry's payload.
    public var payload: [UInt8]
    /// The entry's RFC 6962 leaf hash.
    public var leafHash: [UInt8]
    /// The CloudEvent as parsed when the entry was made; nil when replayed from stored bytes.
    public var event: CloudEvent?

    public init(idx: UInt64, type: String, payload: [UInt8], leafHash: [UInt8], event: CloudEvent? = nil) {
        self.idx = idx
        self.type = type
        self.payload = payload
        self.leafHash = leafHash
        self.event = event
    }
}

/// Work that commits with the entries it follows, or not at all: projections, policy decisions, worker jobs
/// (DESIGN: "everything derived is written in the append transaction").
///
/// `entriesAppended` runs once the appended rows are written and before the new head; it may append further
/// entries (a decision about an event), and is then called again with those.
public protocol AppendObserver: AnyObject, Sendable {
    func entriesAppended(_ entries: [AppendedEntry], in transaction: AppendTransaction) throws
}
