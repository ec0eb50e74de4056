import Foundation
import LedgerCore
import LedgerCrypto
import LedgerStore

/// The ledger's own signing identity: its Ed25519 key and its origin name. Entries the ledger appends itself
/// (`ledger.*` types) are CloudEvents from source `ledger://<origin>`, signed with this key.
public struct LedgerIdentity: Sendable {
    public let key: Ed25519PrivateKey
    public let origin: String

    public init(key: Ed25519PrivateKey, origin: String) {
        self.key = key
        self.origin = origin
    }

    public var source: String { "ledger://\(origin)" }
    public var signer: EnvelopeSigner { EnvelopeSigner(key: key) }

    /// A signed ledger entry of `type` about `subject`.
    public func entry(type: String, subject: String, data: JSONObject, at micros: Int64 = Self.nowMicros()) -> NewEntry {
        let attributes = CloudEvent.make(id: EventIDs.uuidV7(unixMillis: UInt64(micros / 1000)), source: source,
                                         type: type, subject: subject, time: EventTime.format(micros: micros), data: data)
        let (payload, envelope) = signer.envelope(for: attributes)
        // The attributes were just built by the ledger, so they are a valid CloudEvent (no need to parse the bytes).
        let event = try! CloudEvent(attributes: attributes)
        return NewEntry(envelope: envelope, payload: payload, leafHash: LeafHash.of(envelope), event: event,
                        signerKeyIDs: [key.publicKey.keyID], kafka: nil)
    }

    public static func nowMicros() -> Int64 { Int64(Date().timeIntervalSince1970 * 1_000_000) }

    /// Appends the genesis entry to an empty log, or checks that the log's genesis names this key.
    public func ensureGenesis(_ db: LedgerDatabase) throws {
        if try db.head().size > 0 {
            try checkGenesis(db)
            return
        }
        try db.withAppendTransaction { tx in
            guard tx.head.size == 0 else { return }
            let data = JSONObject([
                "origin": .string(origin),
                "key_id": .string(key.publicKey.keyID),
                "public_key": .string(Base64.encode(key.publicKey.raw)),
            ])
            tx.append([entry(type: EventCatalog.LedgerType.genesis, subject: "ledger/\(origin)", data: data)])
        }
        try checkGenesis(db)
    }

    func checkGenesis(_ db: LedgerDatabase) throws {
        let genesis = try GenesisRecord.read(db)
        guard genesis.publicKey == key.publicKey else {
            throw LedgerServiceError.ledgerKeyMismatch(logKeyID: genesis.publicKey.keyID, givenKeyID: key.publicKey.keyID)
        }
    }
}

/// What entry 0 of a log says about the ledger: its origin and public key.
public struct GenesisRecord: Sendable {
    public var origin: String
    public var publicKey: Ed25519PublicKey

    /// Parses entry 0's envelope and checks it is a self-signed `ledger.genesis`.
    public static func parse(envelope: [UInt8]) throws(LedgerServiceError) -> GenesisRecord {
        guard let env = try? DSSEEnvelope.parse(envelope), let event = try? CloudEvent.parse(env.payload),
              event.type == EventCatalog.LedgerType.genesis,
              let origin = event.data["origin"]?.stringValue,
              let keyText = event.data["public_key"]?.stringValue, let raw = Base64.decode(keyText),
              let key = try? Ed25519PublicKey(raw: raw)
        else { throw .badGenesis("entry 0 is not a ledger.genesis entry") }
        guard env.signatures.contains(where: { $0.keyID == key.keyID && key.verify(signature: $0.sig, message: env.signedBytes) })
        else { throw .badGenesis("entry 0 is not signed by the key it names") }
        return GenesisRecord(origin: origin, publicKey: key)
    }

    public static func read(_ db: LedgerDatabase) throws -> GenesisRecord {
        guard let first = try db.entries(from: 0, limit: 1).first, first.idx == 0 else {
            throw LedgerServiceError.badGenesis("the log has no entry 0")
        }
        return try parse(envelope: first.envelope)
    }
}

/// Errors of the service layer, with what an operator needs to act.
public enum LedgerServiceError: Error, Sendable, CustomStringConvertible, Equatable {
    case ledgerKeyMismatch(logKeyID: String, givenKeyID: String)
    case badGenesis(String)
    case keyNameInUse(String)
    case noSuchKey(String)
    case configuration(String)
    case postgres(String)

    public var description: String {
        switch self {
        case .ledgerKeyMismatch(let log, let given):
            return "the ledger key (key id \(given)) is not the one this log was started with (key id \(log)); pass that key with --ledger-key"
        case .badGenesis(let why): return "the log's genesis entry is unusable: \(why)"
        case .keyNameInUse(let name): return "a trusted key is already named \(name); revoke it first or choose another name"
        case .noSuchKey(let name): return "no trusted key is named \(name)"
        case .configuration(let why): return why
        case .postgres(let why): return why
        }
    }
}
