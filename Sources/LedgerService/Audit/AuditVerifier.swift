import Foundation
import LedgerCore
import LedgerCrypto
import LedgerStore

/// The result of `mlledger audit verify`.
public struct AuditReport: Sendable {
    /// Appends a failure, up to `AuditVerifier.maxFailures` (the first is what matters; the count shows the extent).
    static func record(_ idx: UInt64?, _ reason: String, in failures: inout [Failure]) {
        if failures.count < AuditVerifier.maxFailures { failures.append(.init(idx: idx, reason: reason)) }
    }

    /// Failures by index (whole-log failures last), keeping the order they were found in for the same index.
    static func inLogOrder(_ failures: [Failure]) -> [Failure] {
        failures.enumerated().sorted { a, b in
            let x = a.element.idx ?? .max, y = b.element.idx ?? .max
            return x != y ? x < y : a.offset < b.offset
        }.map(\.element)
    }

    public struct Failure: Sendable, Equatable {
        /// The entry index, or nil for a failure of the log as a whole (its root or size).
        public var idx: UInt64?
        public var reason: String

        public init(idx: UInt64?, reason: String) {
            self.idx = idx
            self.reason = reason
        }
    }

    public var entries: UInt64
    /// The root recomputed from the stored envelope bytes.
    public var root: [UInt8]
    public var failures: [Failure]
    /// For a verification that started from a kept checkpoint (`--since-checkpoint`), that checkpoint's size.
    public var sinceCheckpoint: UInt64?
    public var ok: Bool { failures.isEmpty }

    public init(entries: UInt64, root: [UInt8], failures: [Failure], sinceCheckpoint: UInt64? = nil) {
        self.entries = entries
        self.root = root
        self.failures = failures
        self.sinceCheckpoint = sinceCheckpoint
    }

    /// `{"ok": …, "entries": N, "root": "<hex>", "failures": [{"idx": I, "reason": "…"}]}`, plus
    /// `"since_checkpoint": K` for an incremental verification.
    public var json: JSONValue {
        var o = JSONObject([
            "ok": .bool(ok),
            "entries": .number(JSONNumber(Int64(entries))),
            "root": .string(Hex.encode(root)),
            "failures": .array(failures.map { f in
                .object(JSONObject(["idx": f.idx.map { .number(JSONNumber(Int64($0))) } ?? .null, "reason": .string(f.reason)]))
            }),
        ])
        if let sinceCheckpoint { o["since_checkpoint"] = .number(JSONNumber(Int64(sinceCheckpoint))) }
        return .object(o)
    }
}

/// Verifies the log from the stored bytes alone:
/// - every leaf hash against its envelope (RFC 6962: SHA-256(0x00 || envelope)), and dense indexes;
/// - every signature against the key trusted at that index, replaying the trust entries of the log itself
///   (wire format §5), on all cores;
/// - the stored interior nodes (`ledger.tree_nodes`) against the tree recomputed from the stored leaf hashes,
///   naming the first subtree that disagrees;
/// - the root against the log head, and every signed checkpoint (C2SP tlog-checkpoint, wire format §7) against the
///   tree recomputed at its size: a note for the same size with another root is a fork, a note for more entries than
///   the log holds is a truncation.
///
/// `verify(_:sinceCheckpoint:)` verifies only the growth since a checkpoint the auditor kept: the stored tree at the
/// kept size must have the kept root, the genesis and trust entries before it are proven included in it
/// (RFC 9162 §2.1.3), the new entries are verified as above, and the consistency proof (RFC 9162 §2.1.4) from the
/// kept checkpoint to the recomputed head must verify.
///
/// `failures` is sorted by index; the first is the first offending index.
public struct AuditVerifier: Sendable {
    /// Stop collecting failures after this many (the first is what matters; the count shows the extent).
    public static let maxFailures = 100
    public var pageSize = 4000
    /// When set, the genesis entry must name this ledger key.
    public var pinnedLedgerKey: Ed25519PublicKey?

    public init(pinnedLedgerKey: Ed25519PublicKey? = nil) { self.pinnedLedgerKey = pinnedLedgerKey }

    /// Verifies the whole log. `progress` gets (entries verified, log size) after each page.
    public func verify(_ db: LedgerDatabase, progress: ((UInt64, UInt64) -> Void)? = nil) throws -> AuditReport {
        let run = AuditRun(verifier: self, head: try db.head())
        try run.pass(db, progress: progress)
        try run.finish(db)
        return run.report()
    }

    /// Verifies the growth of the log since the checkpoint in `note` (a signed note the auditor kept).
    public func verify(_ db: LedgerDatabase, sinceCheckpoint note: String,
                       progress: ((UInt64, UInt64) -> Void)? = nil) throws -> AuditReport {
        let run = AuditRun(verifier: self, head: try db.head())
        if try run.startFromCheckpoint(db, note: note) {
            try run.pass(db, progress: progress)
            try run.finish(db)
        }
        return run.report()
    }

    /// Replays a `ledger.key.trusted` / `ledger.key.revoked` entry into the ring.
    static func applyTrustChange(_ event: CloudEvent, at idx: UInt64, to ring: inout KeyRing,
                                 fail: (UInt64?, String) -> Void) {
        switch event.type {
        case EventCatalog.LedgerType.keyTrusted:
            guard let key = trustedKey(event) else {
                fail(idx, "malformed ledger.key.trusted entry")
                return
            }
            ring.add(TrustedKey(name: key.name, publicKey: key.publicKey, scope: key.scope, trustedAt: idx))
        case EventCatalog.LedgerType.keyRevoked:
            guard let name = event.data["name"]?.stringValue, ring.revoke(name: name, at: idx) else {
                fail(idx, "ledger.key.revoked names no key trusted at this index")
                return
            }
        default:
            break
        }
    }

    /// The key a `ledger.key.trusted` event trusts, if it is well formed.
    static func trustedKey(_ event: CloudEvent) -> (name: String, publicKey: Ed25519PublicKey, scope: TrustScope)? {
        guard let name = event.data["name"]?.stringValue,
              let raw = event.data["public_key"]?.stringValue.flatMap({ Base64.decode($0) }),
              let key = try? Ed25519PublicKey(raw: raw),
              let scope = event.data["scope"]?.objectValue.flatMap({ TrustScope(json: $0) })
        else { return nil }
        return (name, key, scope)
    }

    /// One entry's checks, computed on all cores: parsing, the leaf hash, and every signature whose key id is known
    /// (a key id is the SHA-256 of its key, so the result does not depend on trust, only on which key it is).
    struct Checked: Sendable {
        var leafHash: [UInt8]
        var envelope: DSSEEnvelope?
        var event: CloudEvent?
        var problem: String?
        /// Per signature of the envelope: whether it verifies, nil when its key is not known.
        var valid: [Bool?] = []
    }

    static func check(_ e: StoredEntry, keys: [String: Ed25519PublicKey]) -> Checked {
        let leaf = LeafHash.of(e.envelope)
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
        var message: [UInt8]?
        let valid: [Bool?] = env.signatures.map { s in
            guard let key = keys[s.keyID] else { return nil }
            if message == nil { message = env.signedBytes }
            return key.verify(signature: s.sig, message: message!)
        }
        return Checked(leafHash: leaf, envelope: env, event: event, valid: valid)
    }
}

/// The state of one verification pass.
final class AuditRun {
    let verifier: AuditVerifier
    let head: LogHead
    private(set) var failures: [AuditReport.Failure] = []
    /// The tree of the leaf hashes recomputed from the envelopes: the root auditors compare.
    var frontier = MerkleFrontier()
    /// The tree of the stored leaf hashes, once they first differ from the recomputed ones (nil while identical):
    /// the stored interior nodes were computed from these.
    var storedFrontier: MerkleFrontier?
    var ring = KeyRing()
    /// Every key ever trusted (and the ledger's), by key id, for the parallel signature checks.
    var keys: [String: Ed25519PublicKey] = [:]
    var ledgerKey: Ed25519PublicKey?
    var origin: String?
    /// The next index expected.
    var expected: UInt64 = 0
    /// Where the pass starts (0, or the kept checkpoint's size).
    var start: UInt64 = 0
    /// An index gap or duplicate was seen: positions no longer match indexes, stop comparing tree nodes.
    var structural = false
    var treeNodeReported = false
    /// Roots recomputed at the sizes of stored checkpoints (and of the head).
    var targets: Set<UInt64> = []
    var rootsAt: [UInt64: [UInt8]] = [:]
    var checkpoints: [StoredCheckpoint] = []
    /// The kept checkpoint of an incremental verification.
    var kept: Checkpoint?
    /// Authorization results while the ring is at `authorizationsVersion` (see `authorize`).
    private var authorizations: [String: QuarantineReason?] = [:]
    private var authorizationsVersion: UInt64 = .max

    init(verifier: AuditVerifier, head: LogHead) {
        self.verifier = verifier
        self.head = head
    }

    func fail(_ idx: UInt64?, _ reason: String) {
        AuditReport.record(idx, reason, in: &failures)
    }

    func report() -> AuditReport {
        let sorted = AuditReport.inLogOrder(failures)
        return AuditReport(entries: frontier.size, root: frontier.root(), failures: sorted, sinceCheckpoint: kept?.size)
    }

    // MARK: Incremental start

    /// Sets the state to the kept checkpoint's, after checking it against the stored log. Returns false when the
    /// pass cannot start (the failures say why).
    func startFromCheckpoint(_ db: LedgerDatabase, note: String) throws -> Bool {
        guard let first = try db.entries(from: 0, limit: 1).first, first.idx == 0 else {
            fail(0, "the log has no entry 0 (genesis)")
            return false
        }
        let genesis: GenesisRecord
        do { genesis = try GenesisRecord.parse(envelope: first.envelope) } catch {
            fail(0, error.description)
            return false
        }
        if let pin = verifier.pinnedLedgerKey, pin != genesis.publicKey {
            fail(0, "genesis names ledger key \(genesis.publicKey.keyID), not the pinned \(pin.keyID)")
            return false
        }
        let noteVerifier = try NoteVerifier(name: genesis.origin, publicKey: genesis.publicKey)
        let checkpoint: Checkpoint
        do {
            checkpoint = try Checkpoint.parse(noteVerifier.open(note).text)
        } catch {
            fail(nil, "the kept checkpoint is not a checkpoint signed by this ledger (\(noteVerifier.verifierKey)): \(error)")
            return false
        }
        guard checkpoint.origin == genesis.origin else {
            fail(nil, "the kept checkpoint is for origin \(checkpoint.origin), this log is \(genesis.origin)")
            return false
        }
        kept = checkpoint
        let size = checkpoint.size
        let rows = try db.entryCount()
        if head.size < size || rows < size {
            let have = min(head.size, rows)
            fail(have, "the log was truncated at index \(have): the kept checkpoint covers \(size) entries, the log "
                + "head says \(head.size) and ledger.entries holds \(rows) rows")
            return false
        }
        for stored in try db.checkpoints() where stored.size == size && stored.root != checkpoint.root {
            fail(nil, "checkpoint fork at size \(size): the kept checkpoint has root \(Hex.encode(checkpoint.root)), "
                + "ledger.checkpoints row \(stored.id) has root \(Hex.encode(stored.root))")
        }
        do {
            frontier = try LedgerDatabase.frontier(db.connection, size: size)
        } catch {
            fail(nil, "the stored tree at size \(size) cannot be read: \(error)")
            return false
        }
        if frontier.root() != checkpoint.root {
            fail(nil, "the stored tree at size \(size) has root \(Hex.encode(frontier.root())), the kept checkpoint "
                + "has \(Hex.encode(checkpoint.root)): entries before index \(size) were rewritten after the "
                + "checkpoint was signed")
        }
        ledgerKey = genesis.publicKey
        origin = genesis.origin
        keys[genesis.publicKey.keyID] = genesis.publicKey

        // The genesis and the trust history before the kept size, each proven included in the kept checkpoint.
        let history = try db.entries(ofTypes: [EventCatalog.LedgerType.genesis, EventCatalog.LedgerType.keyTrusted,
                                               EventCatalog.LedgerType.keyRevoked]).filter { $0.idx < size }
        for e in history {
            let leaf = Merkle.leafHash(e.envelope)
            if leaf != e.leafHash { fail(e.idx, "leaf hash does not match the stored envelope bytes") }
            do {
                let proof = try db.inclusionProof(index: e.idx, size: size)
                try Merkle.verifyInclusion(leafHash: leaf, index: e.idx, size: size, proof: proof, root: checkpoint.root)
            } catch {
                fail(e.idx, "\(e.type) entry is not included in the kept checkpoint (size \(size)): \(error)")
                continue
            }
            guard e.idx > 0 else { continue }
            guard let env = try? DSSEEnvelope.parse(e.envelope), let event = try? CloudEvent.parse(env.payload),
                  event.type == e.type
            else {
                fail(e.idx, "stored \(e.type) entry does not parse")
                continue
            }
            guard env.signatures.contains(where: { $0.keyID == genesis.publicKey.keyID
                && genesis.publicKey.verify(signature: $0.sig, message: env.signedBytes) })
            else {
                fail(e.idx, "\(event.type) entry is not signed by the ledger key")
                continue
            }
            if let k = AuditVerifier.trustedKey(event) { keys[k.publicKey.keyID] = k.publicKey }
            AuditVerifier.applyTrustChange(event, at: e.idx, to: &ring, fail: fail)
        }
        expected = size
        start = size
        return true
    }

    // MARK: The pass

    /// Verifies the entries from `expected` on, in pages read ahead on another thread.
    func pass(_ db: LedgerDatabase, progress: ((UInt64, UInt64) -> Void)?) throws {
        checkpoints = try db.checkpoints()
        targets = Set(checkpoints.map(\.size).filter { $0 > start })
        targets.insert(head.size)
        if start == 0 { rootsAt[0] = Merkle.emptyRoot }
        let pipeline = VerificationPipeline(db: db, from: expected, pageSize: verifier.pageSize, keys: keys)
        defer { pipeline.stop() }
        while let page = try pipeline.next() {
            for (i, e) in page.entries.enumerated() {
                verifyEntry(e, page.checked[i], nodes: page.nodes)
            }
            progress?(expected, head.size)
        }
    }

    private func verifyEntry(_ e: StoredEntry, _ c: AuditVerifier.Checked, nodes: [MerkleNodeID: [UInt8]]) {
        if e.idx != expected {
            if e.idx > expected {
                let missing = e.idx - expected == 1 ? "entry \(expected) is missing" : "entries \(expected)..<\(e.idx) are missing"
                fail(expected, "index gap: \(missing) (expected entry \(expected), found \(e.idx))")
            } else {
                fail(e.idx, "index \(e.idx) appears again after \(expected - 1)")
            }
            structural = true
            expected = e.idx
        }
        defer { expected += 1 }
        let leafMatches = c.leafHash == e.leafHash
        if !leafMatches {
            fail(e.idx, "leaf hash does not match the stored envelope bytes")
            if storedFrontier == nil { storedFrontier = frontier }
        }
        let completed = frontier.append(leafHash: c.leafHash)
        var storedCompleted = completed
        if storedFrontier != nil {
            storedCompleted = storedFrontier!.append(leafHash: e.leafHash.count == SHA256.digestSize ? e.leafHash : c.leafHash)
        }
        if !structural, !treeNodeReported, e.idx < head.size {
            compareTreeNodes(storedCompleted, nodes)
        }
        if targets.contains(frontier.size) { rootsAt[frontier.size] = frontier.root() }

        if let p = c.problem {
            fail(e.idx, p)
            return
        }
        let env = c.envelope!, event = c.event!
        if e.idx == 0 {
            do {
                let genesis = try GenesisRecord.parse(envelope: e.envelope)
                if let pin = verifier.pinnedLedgerKey, pin != genesis.publicKey {
                    fail(0, "genesis names ledger key \(genesis.publicKey.keyID), not the pinned \(pin.keyID)")
                }
                ledgerKey = genesis.publicKey
                origin = genesis.origin
            } catch {
                fail(0, error.description)
            }
            return
        }
        if EventCatalog.isLedgerType(event.type) {
            guard let lk = ledgerKey, signatureVerifies(env, c, keyID: lk.keyID, key: lk) else {
                fail(e.idx, "\(event.type) entry is not signed by the ledger key")
                return
            }
            AuditVerifier.applyTrustChange(event, at: e.idx, to: &ring, fail: fail)
            return
        }
        let known = env.signatures.indices.filter { ring.records[env.signatures[$0].keyID] != nil }
        if known.isEmpty {
            fail(e.idx, "unknown_key: no signature from a key trusted at this index")
            return
        }
        if let reason = authorize(known.map { env.signatures[$0].keyID }, event, at: e.idx) {
            fail(e.idx, "\(reason.code): the signing key was not trusted for this event at this index")
        }
        for k in known {
            let s = env.signatures[k]
            let ok = c.valid[k] ?? ring.records[s.keyID]!.last!.publicKey.verify(signature: s.sig, message: env.signedBytes)
            if !ok {
                fail(e.idx, "signature_invalid: the signature of key \(s.keyID) does not verify over the stored envelope")
                break
            }
        }
    }

    /// `KeyRing.authorize`, remembered while the ring does not change. Between two trust entries every record of the
    /// ring was made at an earlier index, so the answer depends only on the keys and the event's source, type and
    /// tenant, unless a scope has a validity window (then the event's time matters and nothing is remembered).
    private func authorize(_ keyIDs: [String], _ event: CloudEvent, at idx: UInt64) -> QuarantineReason? {
        if authorizationsVersion != ring.version {
            authorizations.removeAll(keepingCapacity: true)
            authorizationsVersion = ring.version
        }
        let timed = keyIDs.contains { id in
            ring.records[id]?.contains { $0.scope.notBefore != nil || $0.scope.notAfter != nil } ?? false
        }
        if timed { return ring.authorize(keyIDs: keyIDs, event: event, at: idx) }
        let key = keyIDs.joined(separator: ",") + "\u{0}" + event.source + "\u{0}" + event.type + "\u{0}" + event.tenant
        if let known = authorizations[key] { return known }
        let reason = ring.authorize(keyIDs: keyIDs, event: event, at: idx)
        authorizations[key] = reason
        return reason
    }

    private func signatureVerifies(_ env: DSSEEnvelope, _ c: AuditVerifier.Checked, keyID: String, key: Ed25519PublicKey) -> Bool {
        guard let k = env.signatures.firstIndex(where: { $0.keyID == keyID }) else { return false }
        return c.valid[k] ?? key.verify(signature: env.signatures[k].sig, message: env.signedBytes)
    }

    /// Compares the subtrees an append completed with the stored ones; reports the first that differs or is missing.
    private func compareTreeNodes(_ completed: [(MerkleNodeID, [UInt8])], _ nodes: [MerkleNodeID: [UInt8]]) {
        for (id, hash) in completed {
            let range = "entries \(id.firstLeaf)..<\(id.firstLeaf + id.leafCount)"
            guard let stored = nodes[id] else {
                fail(id.firstLeaf, "tree node level \(id.level) index \(id.index) (\(range)) is missing from ledger.tree_nodes")
                treeNodeReported = true
                return
            }
            if stored != hash {
                fail(id.firstLeaf, "the stored tree node level \(id.level) index \(id.index) (\(range)) differs from "
                    + "the hash recomputed from the stored leaf hashes: an entry in \(range) was replaced or moved, "
                    + "or the node was altered")
                treeNodeReported = true
                return
            }
        }
    }

    // MARK: After the pass

    func finish(_ db: LedgerDatabase) throws {
        let root = frontier.root()
        if expected != head.size {
            fail(expected < head.size ? expected : head.size,
                 "the log head says \(head.size) entries, the table holds entries up to \(expected)")
        } else if root != head.root {
            fail(nil, "the root recomputed from the entries (\(Hex.encode(root))) differs from the log head's "
                + "(\(Hex.encode(head.root)))")
        }
        if !structural {
            let n = min(frontier.size, head.size)
            let expectedNodes = n - UInt64(n.nonzeroBitCount)
            let stored = try db.treeNodeCount()
            if stored > expectedNodes, let extra = try db.treeNodes(beyond: n).first {
                fail(min(extra.firstLeaf, n), "ledger.tree_nodes holds node level \(extra.level) index "
                    + "\(extra.index), which covers entries beyond the log's \(n)")
            }
        }
        if let kept {
            checkConsistency(db, from: kept)
        }
        checkCheckpoints()
    }

    /// RFC 9162 §2.1.4: the stored consistency proof from the kept checkpoint to the recomputed head.
    private func checkConsistency(_ db: LedgerDatabase, from kept: Checkpoint) {
        guard let root2 = rootsAt[head.size] ?? (head.size == kept.size ? kept.root : nil) else { return }
        do {
            let proof = try db.consistencyProof(from: kept.size, to: head.size)
            try Merkle.verifyConsistency(size1: kept.size, size2: head.size, proof: proof, root1: kept.root, root2: root2)
        } catch {
            fail(nil, "the consistency proof from the kept checkpoint (size \(kept.size)) to the log (size "
                + "\(head.size)) does not verify: \(error)")
        }
    }

    /// Every stored checkpoint must be signed by the ledger key and have the root of the entries at its size.
    private func checkCheckpoints() {
        guard let ledgerKey, let origin, let noteVerifier = try? NoteVerifier(name: origin, publicKey: ledgerKey) else {
            return
        }
        var lastGood: UInt64 = start
        var bySize: [UInt64: StoredCheckpoint] = [:]
        for stored in checkpoints where stored.size >= start {
            let label = "ledger.checkpoints row \(stored.id) (size \(stored.size))"
            let opened: SignedCheckpoint
            do {
                opened = try SignedCheckpoint.open(stored, verifier: noteVerifier)
            } catch {
                fail(nil, "\(label): \(error)")
                continue
            }
            if let other = bySize[stored.size] {
                if other.root != opened.root {
                    let entries = rootsAt[stored.size].map { " (the entries give \(Hex.encode($0)))" } ?? ""
                    fail(nil, "checkpoint fork at size \(stored.size): ledger.checkpoints rows \(other.id) and "
                        + "\(stored.id) are both signed by the ledger key with different roots, "
                        + "\(Hex.encode(other.root)) and \(Hex.encode(opened.root))\(entries)")
                }
                continue
            }
            bySize[stored.size] = stored
            if stored.size > frontier.size {
                fail(frontier.size, "the log was truncated at index \(frontier.size): a checkpoint was signed for "
                    + "\(stored.size) entries (\(label)), the log holds \(frontier.size)")
                continue
            }
            guard stored.size > start else { continue }
            guard let root = rootsAt[stored.size] else { continue }
            if root != opened.root {
                // The change lies in lastGood..<size; a failure already pinned inside that range is where it is.
                let pinned = failures.compactMap(\.idx).filter { $0 >= lastGood && $0 < stored.size }.min()
                fail(pinned ?? lastGood, "\(label) has root \(Hex.encode(opened.root)), the entries give "
                    + "\(Hex.encode(root)): an entry in \(lastGood)..<\(stored.size) was changed after the checkpoint was signed")
            } else {
                lastGood = stored.size
            }
        }
    }
}

/// The verification pass as three stages on their own threads, so that no core waits for another stage:
/// a reader fetches pages of entries (and the stored tree nodes they complete) from PostgreSQL, a checker parses
/// them and verifies their signatures on all cores, and the caller replays trust and the tree in log order.
/// Owns the database connection until `stop`.
final class VerificationPipeline: @unchecked Sendable {
    struct Page: Sendable {
        var entries: [StoredEntry]
        var nodes: [MerkleNodeID: [UInt8]]
        var checked: [AuditVerifier.Checked] = []
    }

    private let fetched = BoundedQueue<Result<Page?, Error>>(capacity: 2)
    private let checked = BoundedQueue<Result<Page?, Error>>(capacity: 2)
    private let finished = DispatchSemaphore(value: 0)
    private var stopped = false

    init(db: LedgerDatabase, from: UInt64, pageSize: Int, keys: [String: Ed25519PublicKey]) {
        let reader = Thread { [fetched, finished] in
            defer { finished.signal() }
            var next = from
            while true {
                let item: Result<Page?, Error>
                do {
                    let entries = try db.entries(from: next, limit: pageSize)
                    if let last = entries.last {
                        item = .success(Page(entries: entries, nodes: try db.completedTreeNodes(from: entries[0].idx, to: last.idx + 1)))
                        next = last.idx + 1
                    } else {
                        item = .success(nil)
                    }
                } catch {
                    item = .failure(error)
                }
                guard fetched.push(item), case .success(let page) = item, page != nil else { return }
            }
        }
        let checker = Thread { [fetched, checked, finished] in
            defer { finished.signal() }
            var keys = keys
            while let item = fetched.pop() {
                guard case .success(var page?) = item else {
                    _ = checked.push(item)
                    return
                }
                Self.learnKeys(page.entries, into: &keys)
                let known = keys
                page.checked = ParallelMap.map(page.entries, chunk: 32) { AuditVerifier.check($0, keys: known) }
                guard checked.push(.success(page)) else { return }
            }
        }
        reader.name = "mlledger-audit-reader"
        checker.name = "mlledger-audit-checker"
        reader.start()
        checker.start()
    }

    /// Keys trusted (or the ledger's, in a genesis) by entries of this page, so that the signatures they make are
    /// verified in the parallel stage too. Whether a key was trusted for an entry is decided later, in log order.
    private static func learnKeys(_ entries: [StoredEntry], into keys: inout [String: Ed25519PublicKey]) {
        for e in entries where e.type == EventCatalog.LedgerType.keyTrusted || e.type == EventCatalog.LedgerType.genesis {
            guard let env = try? DSSEEnvelope.parse(e.envelope), let event = try? CloudEvent.parse(env.payload),
                  let raw = event.data["public_key"]?.stringValue.flatMap({ Base64.decode($0) }),
                  let key = try? Ed25519PublicKey(raw: raw)
            else { continue }
            keys[key.keyID] = key
        }
    }

    /// The next checked page; nil at the end of the table.
    func next() throws -> Page? {
        guard let item = checked.pop() else { return nil }
        return try item.get()
    }

    /// Stops both stages and waits until neither uses the connection any more.
    func stop() {
        guard !stopped else { return }
        stopped = true
        fetched.close()
        checked.close()
        finished.wait()
        finished.wait()
    }
}

