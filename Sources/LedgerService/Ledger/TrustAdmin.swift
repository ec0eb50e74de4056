import LedgerCore
import LedgerCrypto
import LedgerStore

/// Trust changes (wire format §5): each is a `ledger.key.trusted` or `ledger.key.revoked` entry signed by the
/// ledger key, and `ledger.keys` is kept in the same transaction.
public struct TrustAdmin: Sendable {
    public let identity: LedgerIdentity

    public init(identity: LedgerIdentity) { self.identity = identity }

    /// Trusts `publicKey` under `name` with `scope`. Returns the index of the trust entry.
    @discardableResult
    public func trust(_ publicKey: Ed25519PublicKey, name: String, scope: TrustScope, in db: LedgerDatabase) throws -> UInt64 {
        try db.withAppendTransaction { tx in
            if try tx.connection.query("SELECT 1 FROM ledger.keys WHERE name = $1 AND revoked_idx IS NULL",
                                       [.text(name)]).count > 0 {
                throw LedgerServiceError.keyNameInUse(name)
            }
            let data = JSONObject([
                "name": .string(name),
                "key_id": .string(publicKey.keyID),
                "public_key": .string(Base64.encode(publicKey.raw)),
                "scope": .object(scope.json),
            ])
            let idx = tx.append([identity.entry(type: EventCatalog.LedgerType.keyTrusted, subject: "key/\(name)", data: data)])[0]
            try tx.recordTrust(idx: idx, name: name, keyID: publicKey.keyID, publicKey: publicKey.raw,
                               scopeJSON: JSONValue.object(scope.json).jsonString())
            return idx
        }
    }

    /// Revokes the current key named `name`. Entries already in the log stay valid.
    @discardableResult
    public func revoke(name: String, reason: String?, in db: LedgerDatabase) throws -> UInt64 {
        try db.withAppendTransaction { tx in
            let rows = try tx.connection.query("SELECT key_id FROM ledger.keys WHERE name = $1 AND revoked_idx IS NULL",
                                               [.text(name)])
            guard let keyID = rows.first?.string(0) else { throw LedgerServiceError.noSuchKey(name) }
            var data = JSONObject(["name": .string(name), "key_id": .string(keyID)])
            if let reason { data["reason"] = .string(reason) }
            let idx = tx.append([identity.entry(type: EventCatalog.LedgerType.keyRevoked, subject: "key/\(name)", data: data)])[0]
            try tx.recordRevocation(idx: idx, name: name)
            return idx
        }
    }

    /// The key ring as `ledger.keys` records it.
    public static func keyRing(from db: LedgerDatabase) throws -> KeyRing {
        KeyRing(try db.trustedKeys().compactMap(trustedKey))
    }

    static func trustedKey(_ k: StoredKey) -> TrustedKey? {
        guard let pk = try? Ed25519PublicKey(raw: k.publicKey),
              let json = try? JSONParser.parse(k.scopeJSON), let o = json.objectValue, let scope = TrustScope(json: o)
        else { return nil }
        return TrustedKey(name: k.name, publicKey: pk, scope: scope, trustedAt: k.trustedIdx, revokedAt: k.revokedIdx)
    }
}
