import Foundation
import LedgerCore
import LedgerCrypto
import LedgerStore

/// An inclusion proof of one entry (RFC 9162 §2.1.3), served from stored subtree hashes, with the signed
/// checkpoint it verifies against: what `mlledger audit prove` prints.
public struct InclusionReceipt: Sendable, Equatable {
    public var idx: UInt64
    public var treeSize: UInt64
    /// SHA-256(0x00 || envelope bytes).
    public var leafHash: [UInt8]
    public var proof: [[UInt8]]
    /// The signed checkpoint note for `treeSize`, when one was signed for that size.
    public var checkpointNote: String?

    /// `{"idx": I, "tree_size": N, "leaf_hash": "<hex>", "proof": ["<hex>", ...], "checkpoint": "<note>"}`.
    public var json: JSONValue {
        .object(JSONObject([
            "idx": .number(JSONNumber(Int64(idx))),
            "tree_size": .number(JSONNumber(Int64(treeSize))),
            "leaf_hash": .string(Hex.encode(leafHash)),
            "proof": .array(proof.map { .string(Hex.encode($0)) }),
            "checkpoint": checkpointNote.map(JSONValue.string) ?? .null,
        ]))
    }
}

/// A consistency proof between two tree sizes (RFC 9162 §2.1.4), served from stored subtree hashes.
public struct ConsistencyReceipt: Sendable, Equatable {
    public var size1: UInt64
    public var size2: UInt64
    public var proof: [[UInt8]]

    /// `{"size1": N1, "size2": N2, "proof": ["<hex>", ...]}`.
    public var json: JSONValue {
        .object(JSONObject([
            "size1": .number(JSONNumber(Int64(size1))),
            "size2": .number(JSONNumber(Int64(size2))),
            "proof": .array(proof.map { .string(Hex.encode($0)) }),
        ]))
    }
}

/// Why a proof was not served.
public enum ReceiptError: Error, Sendable, Equatable, CustomStringConvertible {
    case noCheckpoint
    case notCovered(idx: UInt64, checkpointSize: UInt64)
    case noSuchEvent(id: String, source: String?)
    case ambiguousEvent(id: String, sources: [String])
    case noSuchEntry(UInt64)
    case leafMismatch(idx: UInt64)
    case proofDoesNotVerify(what: String, reason: String)

    public var description: String {
        switch self {
        case .noCheckpoint:
            return "no checkpoint has been signed yet; the ledger operator signs one with `mlledger audit checkpoint --sign`"
        case .notCovered(let idx, let size):
            return "entry \(idx) is newer than the latest signed checkpoint (size \(size)); wait for the next checkpoint, "
                + "ask the operator for one (`mlledger audit checkpoint --sign`), or pass --size"
        case .noSuchEvent(let id, let source):
            return "no entry has event id \(id)\(source.map { " and source \($0)" } ?? "")"
        case .ambiguousEvent(let id, let sources):
            return "event id \(id) is recorded for several sources (\(sources.joined(separator: ", "))); pass --source"
        case .noSuchEntry(let idx): return "the log has no entry \(idx)"
        case .leafMismatch(let idx):
            return "entry \(idx)'s stored leaf hash does not match its envelope bytes: the log was changed; run "
                + "`mlledger audit verify`"
        case .proofDoesNotVerify(let what, let why):
            return "the \(what) served from the stored tree does not verify: \(why); run `mlledger audit verify`"
        }
    }
}

/// Proofs for auditors, from the stored tree (`LedgerDatabase.inclusionProof` / `consistencyProof`): never by
/// recomputing the tree. Each proof is checked before it is handed out.
public enum Receipts {
    /// The index of the entry with `eventID` (and `source`, to disambiguate).
    public static func index(ofEvent eventID: String, source: String?, in db: LedgerDatabase) throws -> UInt64 {
        let found = try db.entries(eventID: eventID, source: source)
        guard let first = found.first else { throw ReceiptError.noSuchEvent(id: eventID, source: source) }
        guard found.count == 1 else { throw ReceiptError.ambiguousEvent(id: eventID, sources: found.map(\.source)) }
        return first.idx
    }

    /// The inclusion proof of entry `idx` in the tree of `size` entries; by default the latest signed checkpoint's.
    public static func inclusion(idx: UInt64, size: UInt64? = nil, in db: LedgerDatabase) throws -> InclusionReceipt {
        let treeSize: UInt64
        let note: String?
        let root: [UInt8]
        if let size {
            let head = try db.head()
            guard size <= head.size else { throw LogProofError.sizeBeyondLog(size: size, logSize: head.size) }
            treeSize = size
            let stored = try db.checkpoint(size: size)
            note = stored?.note
            root = try stored?.root ?? db.rootHash(size: size)
        } else {
            guard let latest = try db.latestCheckpoint() else { throw ReceiptError.noCheckpoint }
            treeSize = latest.size
            note = latest.note
            root = latest.root
        }
        guard idx < treeSize else {
            if size == nil { throw ReceiptError.notCovered(idx: idx, checkpointSize: treeSize) }
            throw LogProofError.merkle(.indexOutOfRange(index: idx, size: treeSize))
        }
        guard let entry = try db.entries(at: [idx]).first else { throw ReceiptError.noSuchEntry(idx) }
        guard Merkle.leafHash(entry.envelope) == entry.leafHash else { throw ReceiptError.leafMismatch(idx: idx) }
        let proof = try db.inclusionProof(index: idx, size: treeSize)
        do {
            try Merkle.verifyInclusion(leafHash: entry.leafHash, index: idx, size: treeSize, proof: proof, root: root)
        } catch {
            throw ReceiptError.proofDoesNotVerify(what: "inclusion proof of entry \(idx) in tree size "
                + "\(treeSize)", reason: "\(error)")
        }
        return InclusionReceipt(idx: idx, treeSize: treeSize, leafHash: entry.leafHash, proof: proof, checkpointNote: note)
    }

    /// The consistency proof from `size1` to `size2` (default: the latest signed checkpoint's size).
    public static func consistency(from size1: UInt64, to size2: UInt64? = nil, in db: LedgerDatabase) throws -> ConsistencyReceipt {
        let to: UInt64
        if let size2 {
            to = size2
        } else {
            guard let latest = try db.latestCheckpoint() else { throw ReceiptError.noCheckpoint }
            to = latest.size
        }
        let head = try db.head()
        guard to <= head.size else { throw LogProofError.sizeBeyondLog(size: to, logSize: head.size) }
        guard size1 <= to else { throw LogProofError.merkle(.invalidSizes(size1: size1, size2: to)) }
        let proof = try db.consistencyProof(from: size1, to: to)
        let root1 = try db.checkpoint(size: size1)?.root ?? db.rootHash(size: size1)
        let root2 = try db.checkpoint(size: to)?.root ?? db.rootHash(size: to)
        do {
            try Merkle.verifyConsistency(size1: size1, size2: to, proof: proof, root1: root1, root2: root2)
        } catch {
            throw ReceiptError.proofDoesNotVerify(what: "consistency proof from \(size1) to \(to)", reason: "\(error)")
        }
        return ConsistencyReceipt(size1: size1, size2: to, proof: proof)
    }
}
