import LedgerCore

/// A producer key as the log records it: trusted by a `ledger.key.trusted` entry at `trustedAt`, and revoked by a
/// `ledger.key.revoked` entry at `revokedAt` if it was.
public struct TrustedKey: Sendable, Equatable {
    public var name: String
    public var publicKey: Ed25519PublicKey
    public var scope: TrustScope
    public var trustedAt: UInt64
    public var revokedAt: UInt64?

    public init(name: String, publicKey: Ed25519PublicKey, scope: TrustScope, trustedAt: UInt64, revokedAt: UInt64? = nil) {
        self.name = name
        self.publicKey = publicKey
        self.scope = scope
        self.trustedAt = trustedAt
        self.revokedAt = revokedAt
    }

    public var keyID: String { publicKey.keyID }
}

/// The keys the ledger knows, with their trust history (wire format §5). Signature checks (`verifySignatures`)
/// are the expensive part of ingest and run in parallel, before the log index is known; `authorize` is the cheap
/// scope check made at the index where the event is appended.
public struct KeyRing: Sendable {
    /// Every trust record, by key id; a key may be trusted, revoked and trusted again.
    public private(set) var records: [String: [TrustedKey]] = [:]
    /// Changes with every trust change; a writer whose verification used another version verifies again.
    public private(set) var version: UInt64 = 0

    public init(_ keys: [TrustedKey] = []) {
        for k in keys { add(k) }
    }

    public mutating func add(_ key: TrustedKey) {
        records[key.keyID, default: []].append(key)
        version &+= 1
    }

    /// Marks the current trust of the key named `name` as revoked at `index`. Returns false if none is current.
    @discardableResult
    public mutating func revoke(name: String, at index: UInt64) -> Bool {
        for (id, list) in records {
            if let i = list.lastIndex(where: { $0.name == name && $0.revokedAt == nil }) {
                records[id]![i].revokedAt = index
                version &+= 1
                return true
            }
        }
        return false
    }

    /// The current (unrevoked) key with `name`, if any.
    public func current(named name: String) -> TrustedKey? {
        records.values.lazy.flatMap { $0 }.first { $0.name == name && $0.revokedAt == nil }
    }

    public var all: [TrustedKey] { records.values.flatMap { $0 }.sorted { $0.trustedAt < $1.trustedAt } }

    /// Outcome of checking an envelope's signatures.
    public enum SignatureCheck: Sendable, Equatable {
        /// Signatures from known keys all verified; these key ids signed.
        case verified(keyIDs: [String])
        case rejected(QuarantineReason)
    }

    /// Wire format §2: every signature from a known key must verify; signatures from unknown keys are ignored;
    /// at least one known key must have signed. Known means a trust record exists, revoked or not.
    public func verifySignatures(_ envelope: DSSEEnvelope) -> SignatureCheck {
        var signers: [String] = []
        var message: [UInt8]?
        for s in envelope.signatures {
            guard let key = records[s.keyID]?.last?.publicKey else { continue }
            if message == nil { message = envelope.signedBytes }
            guard key.verify(signature: s.sig, message: message!) else { return .rejected(.signatureInvalid) }
            signers.append(s.keyID)
        }
        return signers.isEmpty ? .rejected(.unknownKey) : .verified(keyIDs: signers)
    }

    /// Whether one of `keyIDs` is trusted for `event` when it is appended at `index`: trusted before `index`,
    /// not revoked before it, and its scope covers the event. Returns the reason when none is.
    public func authorize(keyIDs: [String], event: CloudEvent, at index: UInt64) -> QuarantineReason? {
        var sawRevoked = false
        var sawKnown = false
        for id in keyIDs {
            for rec in records[id] ?? [] where rec.trustedAt < index {
                sawKnown = true
                if let r = rec.revokedAt, r < index {
                    sawRevoked = true
                    continue
                }
                if rec.scope.covers(event) { return nil }
            }
        }
        if !sawKnown { return .unknownKey }
        return sawRevoked ? .keyRevoked : .keyOutOfScope
    }
}
