import Foundation
import LedgerCore
import LedgerCrypto
import LedgerStore

/// The result of `mlledger audit verify`.
public struct AuditReport: Sendable {
    public struct Failure: Sendable, Equatable {
        /// The entry index, or nil for a failure of the log as a whole (its root or size).
        public var idx: UInt64?
        public var reason: String
    }

    public var entries: UInt64
    /// The root recomputed from the stored envelope bytes.
    public var root: [UInt8]
    public var failures: [Failure]
    public var ok: Bool { failures.isEmpty }

    /// `{"ok": …, "entries": N, "root": "<hex>", "failures": [{"idx": I, "reason": "…"}]}`.
    public var json: JSONValue {
        .object(JSONObject([
            "ok": .bool(ok),
            "entries": .number(JSONNumber(Int64(entries))),
            "root": .string(Hex.encode(root)),
            "failures": .array(failures.map { f in
                .object(JSONObject(["idx": f.idx.map { .number(JSONNumber(Int64($0))) } ?? .null, "reason": .string(f.reason)]))
            }),
        ]))
    }
}

/// Verifies the whole log from the stored bytes alone: every leaf hash, dense indexes, every signature against
/// the key trusted at that index (replaying the trust entries of the log itself), and the root against the head.
public struct AuditVerifier: Sendable {
    /// Stop collecting failures after this many (the first is what matters; the count shows the extent).
    public static let maxFailures = 100
    public var pageSize = 4000
    /// When set, the genesis entry must name this ledger key.
    public var pinnedLedgerKey: Ed25519PublicKey?

    public init(pinnedLedgerKey: Ed25519PublicKey? = nil) { self.pinnedLedgerKey = pinnedLedgerKey }

    /// One entry's checks, computed on all cores.
    private struct Checked: Sendable {
        var leafHash: [UInt8]
        var envelope: DSSEEnvelope?
        var event: CloudEvent?
        var problem: String?
    }

    public func verify(_ db: LedgerDatabase, progress: ((UInt64, UInt64) -> Void)? = nil) throws -> AuditReport {
        let head = try db.head()
        var failures: [AuditReport.Failure] = []
        func fail(_ idx: UInt64?, _ reason: String) {
            if failures.count < Self.maxFailures { failures.append(.init(idx: idx, reason: reason)) }
        }
        var frontier = MerkleFrontier()
        var ring = KeyRing()
        var ledgerKey: Ed25519PublicKey?
        var expected: UInt64 = 0
        while true {
            let page = try db.entries(from: expected, limit: pageSize)
            if page.isEmpty { break }
            let checked = ParallelMap.map(page) { Self.check($0) }
            // Which signatures each entry must carry, decided in log order (trust changes as the log goes).
            var jobs: [(Int, Ed25519PublicKey, [UInt8])] = []
            for (i, e) in page.enumerated() {
                if e.idx != expected {
                    fail(expected, "index gap: expected entry \(expected), found \(e.idx)")
                    expected = e.idx
                }
                let c = checked[i]
                if c.leafHash != e.leafHash { fail(e.idx, "leaf hash does not match the stored envelope bytes") }
                frontier.append(leafHash: c.leafHash)
                defer { expected += 1 }
                if let p = c.problem {
                    fail(e.idx, p)
                    continue
                }
                let env = c.envelope!, event = c.event!
                if e.idx == 0 {
                    do {
                        let genesis = try GenesisRecord.parse(envelope: e.envelope)
                        if let pin = pinnedLedgerKey, pin != genesis.publicKey {
                            fail(0, "genesis names ledger key \(genesis.publicKey.keyID), not the pinned \(pin.keyID)")
                        }
                        ledgerKey = genesis.publicKey
                    } catch {
                        fail(0, error.description)
                    }
                    continue
                }
                if EventCatalog.isLedgerType(event.type) {
                    guard let lk = ledgerKey, let s = env.signatures.first(where: { $0.keyID == lk.keyID }),
                          lk.verify(signature: s.sig, message: env.signedBytes)
                    else {
                        fail(e.idx, "\(event.type) entry is not signed by the ledger key")
                        continue
                    }
                    Self.applyTrustChange(event, at: e.idx, to: &ring, fail: fail)
                    continue
                }
                let known = env.signatures.filter { ring.records[$0.keyID] != nil }
                if known.isEmpty {
                    fail(e.idx, "unknown_key: no signature from a key trusted at this index")
                    continue
                }
                if let reason = ring.authorize(keyIDs: known.map(\.keyID), event: event, at: e.idx) {
                    fail(e.idx, "\(reason.code): the signing key was not trusted for this event at this index")
                }
                for s in known { jobs.append((i, ring.records[s.keyID]!.last!.publicKey, s.sig)) }
            }
            // Signature checks, the expensive part, on all cores.
            let messages = ParallelMap.map(Array(Set(jobs.map(\.0)))) { ($0, checked[$0].envelope!.signedBytes) }
            let signed = Dictionary(uniqueKeysWithValues: messages)
            let results = ParallelMap.map(jobs) { job in job.1.verify(signature: job.2, message: signed[job.0]!) }
            for (j, ok) in results.enumerated() where !ok {
                fail(page[jobs[j].0].idx, "signature_invalid: a signature does not verify over the stored envelope")
            }
            progress?(expected, head.size)
        }
        let root = frontier.root()
        if expected != head.size {
            fail(expected < head.size ? expected : head.size,
                 "the log head says \(head.size) entries, the table holds entries up to \(expected)")
        } else if root != head.root {
            fail(nil, "the root recomputed from the entries (\(Hex.encode(root))) differs from the log head's (\(Hex.encode(head.root)))")
        }
        failures.sort { ($0.idx ?? .max) < ($1.idx ?? .max) }
        return AuditReport(entries: expected, root: root, failures: failures)
    }

    private static func check(_ e: StoredEntry) -> Checked {
        let leaf = Merkle.leafHash(e.envelope)
        let env: DSSEEnvelope
        do { env = try DSSEEnvelope.parse(e.envelope) } catch {
            return Checked(leafHash: leaf, problem: "stored envelope is not DSSE: \(error)")
        }
        let event: CloudEvent
        do { event = try CloudEvent.parse(env.payload) } catch {
            return Checked(leafHash: leaf, envelope: env, problem: "stored payload is not a CloudEvent: \(error)")
        }
        if event.type != e.type {
            return Checked(leafHash: leaf, envelope: env, event: event,
                           problem: "ledger.entries.type (\(e.type)) differs from the signed type (\(event.type))")
        }
        return Checked(leafHash: leaf, envelope: env, event: event)
    }

    /// Replays a `ledger.key.trusted` / `ledger.key.revoked` entry into the ring.
    static func applyTrustChange(_ event: CloudEvent, at idx: UInt64, to ring: inout KeyRing,
                                 fail: (UInt64?, String) -> Void) {
        switch event.type {
        case EventCatalog.LedgerType.keyTrusted:
            guard let name = event.data["name"]?.stringValue,
                  let raw = event.data["public_key"]?.stringValue.flatMap({ Base64.decode($0) }),
                  let key = try? Ed25519PublicKey(raw: raw),
                  let scope = event.data["scope"]?.objectValue.flatMap({ TrustScope(json: $0) })
            else {
                fail(idx, "malformed ledger.key.trusted entry")
                return
            }
            ring.add(TrustedKey(name: name, publicKey: key, scope: scope, trustedAt: idx))
        case EventCatalog.LedgerType.keyRevoked:
            guard let name = event.data["name"]?.stringValue, ring.revoke(name: name, at: idx) else {
                fail(idx, "ledger.key.revoked names no key trusted at this index")
                return
            }
        default:
            break
        }
    }
}
