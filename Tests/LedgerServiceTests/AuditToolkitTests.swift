import Foundation
import LedgerCore
import LedgerCrypto
import LedgerKafka
import LedgerService
import LedgerStore
import LedgerTestSupport
import Testing

// MARK: - Helpers shared with TamperMatrixTests

/// A ledger without Kafka: a fresh database, the ledger identity and its genesis, a trusted producer key.
/// Entries are appended directly with `withAppendTransaction`, as the ingest service would.
final class AuditLedger: @unchecked Sendable {
    let database: TestDatabaseHandle
    let db: LedgerDatabase
    let identity: LedgerIdentity
    let directory: String
    let producer: Ed25519PrivateKey

    init() throws {
        database = try TestDatabase.create()
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("mlledger-audit-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let key = Ed25519PrivateKey.generate()
        try KeyFiles.writePrivateKey(key, to: directory + "/ledger.key")
        identity = LedgerIdentity(key: key, origin: "audit.test/\(database.name)")
        db = try LedgerDatabase(url: database.url)
        try db.migrate()
        try identity.ensureGenesis(db)
        producer = Ed25519PrivateKey.generate()
        try TrustAdmin(identity: identity).trust(producer.publicKey, name: "producer", scope: TrustScope(), in: db)
    }

    var ledgerKeyPath: String { directory + "/ledger.key" }

    func close() {
        db.connection.close()
        database.drop()
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Appends `count` producer events in one transaction; returns their indexes.
    @discardableResult
    func append(_ count: Int, type: String = "mlops.training.started", subject: (Int) -> String = { "run/r\($0 % 3)" },
                key: Ed25519PrivateKey? = nil) throws -> [UInt64] {
        let envelopes = (0..<count).map { i in producerEnvelope(key ?? producer, type: type, subject: subject(i)) }
        return try appendEnvelopes(envelopes)
    }

    @discardableResult
    func appendEnvelopes(_ envelopes: [[UInt8]]) throws -> [UInt64] {
        let entries = try envelopes.map(newEntry)
        db.resetCache()
        return try db.withAppendTransaction { tx in tx.append(entries) }
    }

    func size() throws -> UInt64 { try db.head().size }

    func signer(everyEntries: UInt64 = 0, everySeconds: Double = 0) throws -> CheckpointSigner {
        try CheckpointSigner(identity: identity, everyEntries: everyEntries, everySeconds: everySeconds)
    }

    @discardableResult
    func sign() throws -> SignedCheckpoint { try signer().sign(db) }

    /// Runs SQL as a superuser attacker would: with the append-only triggers disabled.
    func tamper(_ sql: String) throws {
        try db.connection.execute("""
            ALTER TABLE ledger.entries DISABLE TRIGGER entries_append_only;
            ALTER TABLE ledger.tree_nodes DISABLE TRIGGER tree_nodes_append_only;
            ALTER TABLE ledger.checkpoints DISABLE TRIGGER checkpoints_append_only;
            \(sql);
            ALTER TABLE ledger.entries ENABLE TRIGGER entries_append_only;
            ALTER TABLE ledger.tree_nodes ENABLE TRIGGER tree_nodes_append_only;
            ALTER TABLE ledger.checkpoints ENABLE TRIGGER checkpoints_append_only;
            """)
        db.resetCache()
    }

    /// The attacker covers their tracks: recomputes every tree node and the head from the stored leaf hashes.
    func rewriteTree() throws {
        var frontier = MerkleFrontier()
        var nodes: [(MerkleNodeID, [UInt8])] = []
        for row in try db.connection.query("SELECT leaf_hash FROM ledger.entries ORDER BY idx") {
            nodes += frontier.append(leafHash: row.bytes(0)!)
        }
        try tamper("DELETE FROM ledger.tree_nodes")
        try db.connection.query("""
            INSERT INTO ledger.tree_nodes (level, idx, hash) SELECT * FROM unnest($1::int[], $2::bigint[], $3::bytea[])
            """, [.int32Array(nodes.map { Int32($0.0.level) }), .int64Array(nodes.map { Int64($0.0.index) }),
                  .byteaArray(nodes.map(\.1))])
        try db.connection.query("UPDATE ledger.log_head SET size = $1, root = $2",
                                [.int64(Int64(frontier.size)), .bytea(frontier.root())])
        db.resetCache()
    }

    /// Every stored envelope, by index.
    func envelopes() throws -> [[UInt8]] {
        try db.connection.query("SELECT envelope FROM ledger.entries ORDER BY idx").map { $0.bytes(0)! }
    }

    func entry(_ idx: UInt64) throws -> (envelope: [UInt8], eventID: String) {
        let row = try db.connection.query("SELECT envelope, event_id FROM ledger.entries WHERE idx = $1", [.int64(Int64(idx))])[0]
        return (row.bytes(0)!, row.string(1)!)
    }
}

/// A producer's signed envelope with an explicit time.
func producerEnvelope(_ key: Ed25519PrivateKey, id: String = EventIDs.uuidV7(), source: String = "ci://github.com/acme/fraud",
                      type: String = "mlops.training.started", subject: String = "run/r1",
                      timeMicros: Int64 = LedgerIdentity.nowMicros()) -> [UInt8] {
    let attrs = CloudEvent.make(id: id, source: source, type: type, subject: subject,
                                time: EventTime.format(micros: timeMicros),
                                data: ["run_id": "r1", "node": "gpu-1", "region": "azure:uaenorth"])
    return EnvelopeSigner(key: key).envelope(for: attrs).envelope
}

func newEntry(_ envelope: [UInt8]) throws -> NewEntry {
    let env = try DSSEEnvelope.parse(envelope)
    return NewEntry(envelope: envelope, payload: env.payload, leafHash: Merkle.leafHash(envelope),
                    event: try CloudEvent.parse(env.payload), signerKeyIDs: env.signatures.map(\.keyID), kafka: nil)
}

/// An independent RFC 6962 §2.1 implementation, written from the RFC's recursive definitions (MTH, PATH, PROOF and
/// SUBPROOF) and used as the oracle for proofs served by the ledger. It shares nothing with LedgerCore's Merkle but
/// SHA-256 itself, and is itself checked against the RFC 6962 vectors.
enum ReferenceMerkle {
    static func node(_ l: [UInt8], _ r: [UInt8]) -> [UInt8] { SHA256.hash([0x01] + l + r) }
    static func leaf(_ data: [UInt8]) -> [UInt8] { SHA256.hash([0x00] + data) }

    /// The largest power of two smaller than n.
    static func split(_ n: Int) -> Int {
        var k = 1
        while k * 2 < n { k *= 2 }
        return k
    }

    /// MTH over leaf hashes.
    static func mth(_ d: ArraySlice<[UInt8]>) -> [UInt8] {
        if d.isEmpty { return SHA256.hash([UInt8]()) }
        if d.count == 1 { return d[d.startIndex] }
        let k = split(d.count)
        return node(mth(d.prefix(k)), mth(d.dropFirst(k)))
    }

    /// PATH(m, D[n]).
    static func path(_ m: Int, _ d: ArraySlice<[UInt8]>) -> [[UInt8]] {
        if d.count <= 1 { return [] }
        let k = split(d.count)
        if m < k { return path(m, d.prefix(k)) + [mth(d.dropFirst(k))] }
        return path(m - k, d.dropFirst(k)) + [mth(d.prefix(k))]
    }

    /// PROOF(m, D[n]).
    static func proof(_ m: Int, _ d: ArraySlice<[UInt8]>) -> [[UInt8]] {
        m == 0 || m == d.count ? [] : subproof(m, d, true)
    }

    static func subproof(_ m: Int, _ d: ArraySlice<[UInt8]>, _ b: Bool) -> [[UInt8]] {
        if m == d.count { return b ? [] : [mth(d)] }
        let k = split(d.count)
        if m <= k { return subproof(m, d.prefix(k), b) + [mth(d.dropFirst(k))] }
        return subproof(m - k, d.dropFirst(k), false) + [mth(d.prefix(k))]
    }

    /// The root an inclusion proof implies, by unwinding PATH's recursion (the last hash is the top sibling).
    static func root(leaf: [UInt8], index m: Int, size n: Int, proof: ArraySlice<[UInt8]>) -> [UInt8]? {
        if n == 1 { return proof.isEmpty ? leaf : nil }
        guard let top = proof.last else { return nil }
        let k = split(n)
        if m < k {
            return root(leaf: leaf, index: m, size: k, proof: proof.dropLast()).map { node($0, top) }
        }
        return root(leaf: leaf, index: m - k, size: n - k, proof: proof.dropLast()).map { node(top, $0) }
    }

    /// The (old, new) roots a consistency proof implies, unwinding SUBPROOF; `old` is the known old root when the
    /// recursion stays on the old tree's left edge.
    static func roots(_ m: Int, _ n: Int, _ proof: ArraySlice<[UInt8]>, _ b: Bool, old: [UInt8]) -> ([UInt8], [UInt8])? {
        if m == n {
            if b { return proof.isEmpty ? (old, old) : nil }
            return proof.count == 1 ? (proof[proof.startIndex], proof[proof.startIndex]) : nil
        }
        guard let top = proof.last else { return nil }
        let k = split(n)
        if m <= k {
            return roots(m, k, proof.dropLast(), b, old: old).map { ($0.0, node($0.1, top)) }
        }
        return roots(m - k, n - k, proof.dropLast(), false, old: old).map { (node(top, $0.0), node(top, $0.1)) }
    }

    static func verifyConsistency(_ m: Int, _ n: Int, _ proof: [[UInt8]], old: [UInt8], new: [UInt8]) -> Bool {
        if m == 0 { return proof.isEmpty }
        if m == n { return proof.isEmpty && old == new }
        guard let (o, r) = roots(m, n, proof[...], true, old: old) else { return false }
        return o == old && r == new
    }
}

/// `<package>/../shared/testdata/rfc6962-vectors.json`.
struct RFCVectors {
    var leafInputs: [[UInt8]]
    var roots: [[UInt8]]
    var inclusion: [(index: Int, size: Int, proof: [[UInt8]])]
    var consistency: [(size1: Int, size2: Int, proof: [[UInt8]])]

    static func load() throws -> RFCVectors {
        let url = try KnownAnswers.url("rfc6962-vectors.json")
        let json = try JSONParser.parse(Array(try Data(contentsOf: url)))
        func hexList(_ v: JSONValue?) throws -> [[UInt8]] {
            try #require(v?.arrayValue).map { try #require($0.stringValue.flatMap { Hex.decode($0) }) }
        }
        func int(_ v: JSONValue?) throws -> Int { Int(try #require(v?.numberValue?.int64Value)) }
        return RFCVectors(
            leafInputs: try hexList(json["leaf_inputs_hex"]),
            roots: try hexList(json["root_by_tree_size_hex"]),
            inclusion: try #require(json["inclusion_proofs"]?.arrayValue).map {
                (try int($0["leaf_index"]), try int($0["tree_size"]), try hexList($0["proof_hex"]))
            },
            consistency: try #require(json["consistency_proofs"]?.arrayValue).map {
                (try int($0["size1"]), try int($0["size2"]), try hexList($0["proof_hex"]))
            })
    }
}

/// Parses CLI JSON output.
func parseJSON(_ text: String) throws -> JSONValue { try JSONParser.parse(Array(text.utf8)) }

/// Changes one byte of a file: the character at `offset` of line `line` (1-based) becomes `replacement`.
func flipByte(in path: String, line: Int, offset: Int) throws -> (old: UInt8, new: UInt8) {
    var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
    var lineStart = 0, current = 1
    while current < line {
        lineStart = bytes[lineStart...].firstIndex(of: 0x0a)! + 1
        current += 1
    }
    let i = lineStart + offset
    let old = bytes[i]
    // The next character of the same class (a-z, A-Z, 0-9, wrapping), so the line stays JSON and base64.
    func rotate(_ c: UInt8, _ first: Character, _ count: UInt8) -> UInt8? {
        let base = first.asciiValue!
        return c >= base && c < base + count ? base + (c - base + 1) % count : nil
    }
    let new = rotate(old, "a", 26) ?? rotate(old, "A", 26) ?? rotate(old, "0", 10) ?? UInt8(ascii: "x")
    bytes[i] = new
    try Data(bytes).write(to: URL(fileURLWithPath: path))
    return (old, new)
}

func copyDirectory(_ from: String, _ to: String) throws {
    try? FileManager.default.removeItem(atPath: to)
    try FileManager.default.copyItem(atPath: from, toPath: to)
}

/// golang.org/x/mod/sumdb/note's known answers (its note_test.go): the PeterNeumann key and note.
enum NoteKnownAnswers {
    static let vkey = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
    static let skey = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
    static let text = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
    static let note = text + "\n\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
}

// MARK: - Tests

@Suite("Auditor's toolkit: checkpoints, proofs, evidence bundles", .serialized)
struct AuditToolkitTests {
    @Test("the independent reference implementation reproduces the RFC 6962 vectors (so it is a valid oracle)")
    func referenceMatchesVectors() throws {
        let v = try RFCVectors.load()
        let leaves = v.leafInputs.map(ReferenceMerkle.leaf)
        for n in 0...leaves.count { #expect(ReferenceMerkle.mth(leaves[..<n]) == v.roots[n], "root of \(n)") }
        for t in v.inclusion {
            #expect(ReferenceMerkle.path(t.index, leaves[..<t.size]) == t.proof, "PATH(\(t.index), \(t.size))")
            #expect(ReferenceMerkle.root(leaf: leaves[t.index], index: t.index, size: t.size, proof: t.proof[...]) == v.roots[t.size])
        }
        for t in v.consistency {
            #expect(ReferenceMerkle.proof(t.size1, leaves[..<t.size2]) == t.proof, "PROOF(\(t.size1), \(t.size2))")
            #expect(ReferenceMerkle.verifyConsistency(t.size1, t.size2, t.proof, old: v.roots[t.size1], new: v.roots[t.size2]))
            #expect(!ReferenceMerkle.verifyConsistency(t.size1, t.size2, t.proof, old: v.roots[t.size2], new: v.roots[t.size2])
                    || t.size1 == t.size2)
        }
    }

    @Test("proofs served from a live ledger's stored nodes equal Merkle's and the reference's over the recomputed leaves")
    func servedProofsEqualRecomputed() throws {
        let l = try AuditLedger()
        defer { l.close() }
        for batch in [1, 4, 9, 13, 6] { try l.append(batch) }   // several transactions: 2 + 33 entries
        let n = Int(try l.size())
        #expect(n == 35)
        let leaves = try l.envelopes().map(ReferenceMerkle.leaf)
        #expect(try l.db.head().root == ReferenceMerkle.mth(leaves[...]))
        // Merkle over the recomputed leaf hashes, in memory: every node a frontier completes, plus the leaves.
        var memory: [MerkleNodeID: [UInt8]] = [:]
        var frontier = MerkleFrontier()
        for (i, leaf) in leaves.enumerated() {
            memory[MerkleNodeID(level: 0, index: UInt64(i))] = leaf
            for (id, hash) in frontier.append(leafHash: leaf) { memory[id] = hash }
        }
        var checked = 0
        for size in 1...n {
            let root = ReferenceMerkle.mth(leaves[..<size])
            #expect(try l.db.rootHash(size: size == 0 ? 0 : UInt64(size)) == root, "root at \(size)")
            for idx in 0..<size {
                let served = try l.db.inclusionProof(index: UInt64(idx), size: UInt64(size))
                let computed = try Merkle.assemble(try Merkle.inclusionPlan(index: UInt64(idx), size: UInt64(size)), hashes: memory)
                #expect(served == computed, "PATH(\(idx), \(size)) vs Merkle")
                #expect(served == ReferenceMerkle.path(idx, leaves[..<size]), "PATH(\(idx), \(size)) vs reference")
                #expect(ReferenceMerkle.root(leaf: leaves[idx], index: idx, size: size, proof: served[...]) == root)
                checked += 1
            }
            for size1 in 0...size {
                let served = try l.db.consistencyProof(from: UInt64(size1), to: UInt64(size))
                let computed = try Merkle.assemble(try Merkle.consistencyPlan(from: UInt64(size1), to: UInt64(size)), hashes: memory)
                #expect(served == computed, "PROOF(\(size1), \(size)) vs Merkle")
                #expect(served == ReferenceMerkle.proof(size1, leaves[..<size]), "PROOF(\(size1), \(size)) vs reference")
                #expect(ReferenceMerkle.verifyConsistency(size1, size, served, old: ReferenceMerkle.mth(leaves[..<size1]), new: root))
            }
        }
        #expect(checked == n * (n + 1) / 2)
        #expect(throws: LogProofError.self) { try l.db.inclusionProof(index: 3, size: UInt64(n + 1)) }
        #expect(throws: LogProofError.merkle(.indexOutOfRange(index: 5, size: 5))) { try l.db.inclusionProof(index: 5, size: 5) }
    }

    @Test("a served inclusion proof verifies, with the independent check, against the signed checkpoint an auditor opens")
    func proofAgainstSignedCheckpoint() throws {
        let l = try AuditLedger()
        defer { l.close() }
        try l.append(10)
        let first = try l.sign()
        #expect(first.size == 12)
        try l.append(7)
        let signer = try l.signer()
        let second = try signer.sign(l.db)
        #expect(second.size == 19)

        // The auditor has only the verifier key string and the receipt.
        let vkey = signer.verifierKey.description
        #expect(vkey.hasPrefix(l.identity.origin + "+"))
        let receipt = try Receipts.inclusion(idx: 7, in: l.db)
        #expect(receipt.treeSize == 19)
        let note = try #require(receipt.checkpointNote)
        let checkpoint = try Checkpoint.parse(try NoteVerifier(try NoteVerifierKey.parse(vkey)).open(note).text)
        #expect(checkpoint.size == receipt.treeSize)
        #expect(checkpoint.origin == l.identity.origin)
        let envelope = try l.entry(7).envelope
        #expect(receipt.leafHash == ReferenceMerkle.leaf(envelope))
        #expect(ReferenceMerkle.root(leaf: receipt.leafHash, index: 7, size: 19, proof: receipt.proof[...]) == checkpoint.root)
        var wrong = receipt.proof
        wrong[1][0] ^= 1
        #expect(ReferenceMerkle.root(leaf: receipt.leafHash, index: 7, size: 19, proof: wrong[...]) != checkpoint.root)

        // JSON shape of `audit prove --json`.
        let json = receipt.json
        #expect(json["idx"]?.numberValue?.int64Value == 7)
        #expect(json["tree_size"]?.numberValue?.int64Value == 19)
        #expect(json["leaf_hash"]?.stringValue == Hex.encode(receipt.leafHash))
        #expect(json["proof"]?.arrayValue?.count == receipt.proof.count)
        #expect(json["checkpoint"]?.stringValue == note)

        // In an earlier tree, against the earlier checkpoint; consistency between the two checkpoints.
        let early = try Receipts.inclusion(idx: 7, size: 12, in: l.db)
        #expect(early.checkpointNote == first.note)
        #expect(ReferenceMerkle.root(leaf: early.leafHash, index: 7, size: 12, proof: early.proof[...]) == first.root)
        let consistency = try Receipts.consistency(from: 12, in: l.db)
        #expect(consistency.size2 == 19)
        #expect(ReferenceMerkle.verifyConsistency(12, 19, consistency.proof, old: first.root, new: second.root))
        #expect(consistency.json["size1"]?.numberValue?.int64Value == 12)
        #expect(consistency.json["proof"]?.arrayValue?.count == consistency.proof.count)

        // By event id; newer than the checkpoint is refused with a hint.
        let id = try l.entry(9).eventID
        #expect(try Receipts.index(ofEvent: id, source: nil, in: l.db) == 9)
        try l.append(1)
        #expect(throws: ReceiptError.notCovered(idx: 19, checkpointSize: 19)) { try Receipts.inclusion(idx: 19, in: l.db) }
        #expect(throws: ReceiptError.noSuchEvent(id: "nope", source: nil)) { try Receipts.index(ofEvent: "nope", source: nil, in: l.db) }
        // The same id from two sources needs --source.
        let shared = EventIDs.uuidV7()
        try l.appendEnvelopes([producerEnvelope(l.producer, id: shared, source: "ci://a"),
                               producerEnvelope(l.producer, id: shared, source: "ci://b")])
        #expect(throws: ReceiptError.self) { try Receipts.index(ofEvent: shared, source: nil, in: l.db) }
        #expect(try Receipts.index(ofEvent: shared, source: "ci://b", in: l.db) == 21)
    }

    @Test("notes: the Go reference's PeterNeumann key signs its known note byte for byte; verification follows C2SP")
    func noteSigningKnownAnswer() throws {
        let blob = try #require(Base64.decode(NoteKnownAnswers.skey.split(separator: "+", maxSplits: 4)[4]))
        #expect(blob.first == 0x01)
        let signer = try NoteSigner(name: "PeterNeumann", key: try Ed25519PrivateKey(seed: Array(blob.dropFirst())))
        #expect(signer.verifierKey.description == NoteKnownAnswers.vkey)
        #expect(try signer.sign(NoteKnownAnswers.text).formatted == NoteKnownAnswers.note)

        let verifier = try NoteVerifier(try NoteVerifierKey.parse(NoteKnownAnswers.vkey))
        #expect(try verifier.open(NoteKnownAnswers.note).text == NoteKnownAnswers.text)
        #expect(throws: NoteError.invalidSignature(name: "PeterNeumann", keyID: "c74f20a3")) {
            try verifier.open(NoteKnownAnswers.note.replacingOccurrences(of: "cryptography", with: "cryptographY"))
        }
        // Another key's signature is ignored; a note without ours is refused.
        let other = try NoteSigner(name: "someone.else/log", key: Ed25519PrivateKey.generate())
        var cosigned = try SignedNote.parse(NoteKnownAnswers.note)
        cosigned.signatures.insert(try other.signature(for: cosigned.text), at: 0)
        #expect(try verifier.open(cosigned.formatted).text == NoteKnownAnswers.text)
        #expect(throws: NoteError.noSignatureFromKey(name: "PeterNeumann", keyID: "c74f20a3")) {
            try verifier.open(try other.sign(NoteKnownAnswers.text).formatted)
        }
        // Same name and id but another key (a collision) fails verification rather than being ignored.
        let impostor = SignedNote(text: NoteKnownAnswers.text, signatures: [.init(name: "PeterNeumann", keyID: 0xc74f_20a3,
            signature: Ed25519PrivateKey.generate().sign(Array(NoteKnownAnswers.text.utf8)))])
        #expect(throws: NoteError.invalidSignature(name: "PeterNeumann", keyID: "c74f20a3")) { try verifier.verify(impostor) }
    }

    @Test("checkpoints are signed every N entries or T seconds, not when nothing is due, and stored once per size")
    func checkpointPolicy() throws {
        let l = try AuditLedger()
        defer { l.close() }
        let byCount = try l.signer(everyEntries: 10)
        #expect(try byCount.signIfDue(l.db) == nil, "2 entries, nothing due")
        try l.append(5)
        #expect(try byCount.signIfDue(l.db) == nil, "7 entries")
        try l.append(3)
        let first = try #require(try byCount.signIfDue(l.db, logSize: try l.size()))
        #expect(first.size == 10)
        #expect(try byCount.signIfDue(l.db) == nil)
        try l.append(9)
        #expect(try byCount.signIfDue(l.db) == nil, "19 entries, 9 since the last")
        try l.append(1)
        #expect(try byCount.signIfDue(l.db)?.size == 20)

        let byTime = try l.signer(everySeconds: 60)
        #expect(try byTime.signIfDue(l.db) == nil, "the log did not grow")
        try l.append(2)
        #expect(try byTime.signIfDue(l.db) == nil, "grew, but the last checkpoint is fresh")
        let later = try #require(try byTime.signIfDue(l.db, now: Date().addingTimeInterval(61)))
        #expect(later.size == 22)
        #expect(try byTime.signIfDue(l.db, now: Date().addingTimeInterval(200)) == nil, "no growth since")
        #expect(try CheckpointSigner(identity: l.identity).signIfDue(l.db) == nil, "disabled")

        // Signing again at the same size returns the stored checkpoint; one row per size.
        #expect(try l.sign() == later)
        let stored = try l.db.checkpoints()
        #expect(stored.map(\.size) == [10, 20, 22])
        #expect(try l.db.latestCheckpoint()?.note == later.note)
        #expect(later.json["size"]?.numberValue?.int64Value == 22)
        #expect(later.json["root"]?.stringValue == Hex.encode(try l.db.head().root))
        #expect(later.json["note"]?.stringValue == later.note)
        #expect(later.note.hasPrefix("\(l.identity.origin)\n22\n\(Base64.encode(try l.db.head().root))\n\n\u{2014} \(l.identity.origin) "))
        // A key that is not the genesis's cannot sign.
        let stranger = LedgerIdentity(key: Ed25519PrivateKey.generate(), origin: l.identity.origin)
        #expect(throws: LedgerServiceError.self) { try CheckpointSigner(identity: stranger).sign(l.db) }
    }

    @Test("the checkpoint ticker signs on its own connection when due, also after the log went quiet")
    func checkpointTicker() throws {
        let l = try AuditLedger()
        defer { l.close() }
        let signed = Box<[UInt64]>([])
        let errors = Box<[String]>([])
        let lock = NSLock()
        let ticker = CheckpointTicker(signer: try l.signer(everyEntries: 5, everySeconds: 1), databaseURL: l.database.url,
                                      tick: 0.05,
                                      onSigned: { c in lock.lock(); signed.value.append(c.size); lock.unlock() },
                                      onError: { e in lock.lock(); errors.value.append("\(e)"); lock.unlock() })
        defer { ticker.stop() }
        func latest() throws -> UInt64? { try l.db.latestCheckpoint()?.size }
        try l.append(6)   // 8 entries: due by count
        var deadline = Date().addingTimeInterval(10)
        while try latest() != 8, Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        #expect(try latest() == 8)
        try l.append(2)   // 10 entries: not due by count, due by time a second later
        deadline = Date().addingTimeInterval(10)
        while try latest() != 10, Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        #expect(try latest() == 10)
        ticker.stop()
        lock.lock()
        #expect(signed.value == [8, 10])
        #expect(errors.value.isEmpty, "\(errors.value)")
        lock.unlock()
    }

    @Test("the ledger refuses to sign a checkpoint inconsistent with the last one: rewrite, truncation, fork, head mismatch")
    func refusesInconsistentCheckpoint() throws {
        let l = try AuditLedger()
        defer { l.close() }
        try l.append(10)
        let signed = try l.sign()
        #expect(signed.size == 12)
        try l.append(4)

        // Head changed without the tree.
        try l.db.connection.query("UPDATE ledger.log_head SET root = $1", [.bytea([UInt8](repeating: 7, count: 32))])
        #expect(throws: CheckpointSigningError.self) { try l.sign() }
        do { _ = try l.sign() } catch let e as CheckpointSigningError {
            guard case .headMismatch(size: 16, _, _) = e else { Issue.record("\(e)"); return }
        }
        try l.rewriteTree()

        // An old entry replaced (with a validly signed one) and the whole tree recomputed: not consistent.
        let replacement = producerEnvelope(l.producer)
        try l.tamper("UPDATE ledger.entries SET envelope = '\\x\(Hex.encode(replacement))', leaf_hash = '\\x\(Hex.encode(Merkle.leafHash(replacement)))' WHERE idx = 5")
        try l.rewriteTree()
        do {
            _ = try l.sign()
            Issue.record("signed an inconsistent checkpoint")
        } catch let e as CheckpointSigningError {
            guard case .inconsistent(previousSize: 12, size: 16, _) = e else { Issue.record("\(e)"); return }
            #expect(e.description.contains("not consistent with the checkpoint signed for size 12"))
        }

        // Truncated below the last checkpoint.
        try l.tamper("DELETE FROM ledger.entries WHERE idx >= 9")
        try l.rewriteTree()
        #expect(throws: CheckpointSigningError.truncated(previousSize: 12, size: 9)) { try l.sign() }

        // Same size as the last checkpoint, another root: a fork.
        try l.appendEnvelopes((0..<3).map { _ in producerEnvelope(l.producer) })
        #expect(try l.size() == 12)
        do {
            _ = try l.sign()
            Issue.record("signed a fork")
        } catch let e as CheckpointSigningError {
            guard case .forked(size: 12, let signedRoot, _) = e else { Issue.record("\(e)"); return }
            #expect(signedRoot == Hex.encode(signed.root))
        }
        #expect(try l.db.checkpoints().count == 1, "nothing was stored")
    }

    @Test("a bundle exported from a running ledger verifies offline; one byte changed fails, naming the file and entry")
    func bundleFromRunningLedger() throws {
        let f = try LedgerFixture()
        defer { f.close() }
        let key = try f.trustedProducer(name: "ci")
        let producer = try KafkaProducer(bootstrapServers: f.cluster.bootstrapServers)
        defer { producer.close() }
        let stop = f.start(f.service())
        var stopped = false
        defer { if !stopped { stop() } }
        let base = try f.size()
        for i in 0..<24 {
            let type = i % 3 == 0 ? "mlops.model.promoted" : "mlops.training.started"
            let subject = i % 3 == 0 ? "model/fraud-detector" : "run/r\(i)"
            _ = try producer.send(topic: f.topic, key: Array(subject.utf8),
                                  value: signedEvent(key, type: type, subject: subject,
                                                     data: ["model": .string("fraud-detector@\(i)"), "from": "staging", "to": "prod",
                                                            "evidence": ["CAB-2026-0188"], "run_id": .string("r\(i)"), "node": "n",
                                                            "region": "azure:uaenorth"]))
        }
        #expect(try f.wait { try f.size() == base + 24 }, "\(f.state)")
        let checkpoint = try CheckpointSigner(identity: f.identity).sign(f.db)
        #expect(checkpoint.size == base + 24)

        let dir = f.directory + "/bundle"
        let summary = try EvidenceBundle.export(from: f.db, to: dir, selection: EvidenceSelection(type: Glob("mlops.model.*")))
        stop()
        stopped = true
        #expect(summary.entries == 8)
        #expect(summary.trustEntries == 2, "the genesis and the trust of ci")
        #expect(summary.decisions == 0)
        #expect(Set(try FileManager.default.contentsOfDirectory(atPath: dir)) == Set(summary.files))
        #expect(try String(contentsOfFile: dir + "/decisions.jsonl", encoding: .utf8).isEmpty)

        let verifier = BundleVerifier(pinnedLedgerKey: f.identity.key.publicKey)
        let report = verifier.verify(directory: dir)
        #expect(report.ok, "\(report.failures)")
        #expect(report.entries == 8)
        #expect(report.root == checkpoint.root)

        // One byte of the second entry's envelope (inside its base64) changed.
        let secondIdx = try #require(try parseJSON(String(contentsOfFile: dir + "/entries.jsonl", encoding: .utf8)
            .split(separator: "\n")[1].description)["idx"]?.numberValue?.int64Value)
        let broken = f.directory + "/broken"
        try copyDirectory(dir, broken)
        _ = try flipByte(in: broken + "/entries.jsonl", line: 2, offset: 60)
        let bad = verifier.verify(directory: broken)
        #expect(!bad.ok)
        #expect(bad.failures.contains { $0.idx == nil && $0.reason.hasPrefix("entries.jsonl: SHA-256") }, "\(bad.failures)")
        let entryFailure = try #require(bad.failures.first { $0.idx != nil })
        #expect(entryFailure.idx == UInt64(secondIdx))
        #expect(entryFailure.reason.contains("entries.jsonl line 2 (idx \(secondIdx))"), "\(entryFailure.reason)")
        #expect(bad.failures[0].idx == UInt64(secondIdx), "the first failure is the entry: \(bad.failures)")

        // A wrong pinned key refuses the bundle.
        let otherKey = BundleVerifier(pinnedLedgerKey: Ed25519PrivateKey.generate().publicKey).verify(directory: dir)
        #expect(otherKey.failures.contains { $0.reason.contains("is not the pinned key") })
        #expect(otherKey.failures.contains { $0.reason.hasPrefix("checkpoint.note:") })
    }

    @Test("every file of a bundle is covered: one byte changed in any of them is detected and named")
    func bundleByteFlips() throws {
        let l = try AuditLedger()
        defer { l.close() }
        try l.append(6)
        try l.sign()
        let dir = l.directory + "/bundle"
        _ = try EvidenceBundle.export(from: l.db, to: dir, selection: EvidenceSelection())
        #expect(BundleVerifier().verify(directory: dir).ok)
        // (file, line, offset within the line) of a byte whose change must be caught.
        let flips: [(String, Int, Int, String)] = [
            ("entries.jsonl", 3, 40, "entries.jsonl line 3 (idx 2)"),
            ("trust.jsonl", 1, 40, "trust.jsonl line 1 (idx 0)"),
            ("proofs.jsonl", 2, 30, "proofs.jsonl line 2"),
            ("checkpoint.note", 2, 0, "checkpoint.note:"),
            ("ledger.vkey", 1, 60, "ledger.vkey:"),
            ("manifest.json", 3, 15, "manifest.json: origin"),
        ]
        for (file, line, offset, named) in flips {
            let copy = l.directory + "/flip-\(file)"
            try copyDirectory(dir, copy)
            _ = try flipByte(in: copy + "/" + file, line: line, offset: offset)
            let report = BundleVerifier().verify(directory: copy)
            #expect(!report.ok, "\(file)")
            #expect(report.failures.contains { $0.reason.contains(named) }, "\(file): \(report.failures)")
        }
        // A file added or removed.
        let extra = l.directory + "/extra"
        try copyDirectory(dir, extra)
        try Data("x".utf8).write(to: URL(fileURLWithPath: extra + "/notes.txt"))
        #expect(BundleVerifier().verify(directory: extra).failures.contains { $0.reason.hasPrefix("notes.txt: present") })
        let missing = l.directory + "/missing"
        try copyDirectory(dir, missing)
        try FileManager.default.removeItem(atPath: missing + "/proofs.jsonl")
        #expect(BundleVerifier().verify(directory: missing).failures.contains { $0.reason.hasPrefix("proofs.jsonl: listed") })
    }

    @Test("export selects by time, subject and type; brings the trust history of the signing keys and their decisions")
    func bundleSelection() throws {
        let l = try AuditLedger()
        defer { l.close() }
        let t0: Int64 = 1_577_836_800_000_000   // 2020-01-01T00:00:00Z
        let hour: Int64 = 3_600_000_000
        let rotated = Ed25519PrivateKey.generate()
        func early(_ i: Int) -> [UInt8] {
            let promoted = i % 2 == 0
            return producerEnvelope(l.producer, type: promoted ? "mlops.model.promoted" : "mlops.training.started",
                                    subject: promoted ? "model/fraud" : "run/r\(i)", timeMicros: t0 + Int64(i) * hour)
        }
        try l.appendEnvelopes((0..<6).map(early))  // idx 2...7
        try TrustAdmin(identity: l.identity).revoke(name: "producer", reason: "rotated", in: l.db)   // idx 8
        try TrustAdmin(identity: l.identity).trust(rotated.publicKey, name: "producer-2", scope: TrustScope(), in: l.db)  // 9
        try l.appendEnvelopes((0..<4).map { i in
            producerEnvelope(rotated, type: "mlops.model.promoted", subject: "model/fraud", timeMicros: t0 + Int64(10 + i) * hour)
        })  // idx 10...13
        let decision = l.identity.entry(type: EvidenceBundle.policyDecisionType, subject: "model/fraud",
                                        data: ["entry_idx": 10, "effect": "allow", "policy": "residency@3"])
        let decided = try l.db.withAppendTransaction { tx in tx.append([decision]) }[0]   // idx 14
        #expect(decided == 14)
        try l.sign()
        try l.append(2, type: "mlops.model.promoted", subject: { _ in "model/fraud" })   // newer than the checkpoint

        let dir = l.directory + "/model"
        let s = try EvidenceBundle.export(from: l.db, to: dir, selection: EvidenceSelection(
            sinceMicros: t0 + hour, subject: "model/fraud", type: Glob("mlops.model.*")))
        #expect(s.entries == 6, "idx 4, 6 (producer) and 10...13 (producer-2)")
        #expect(s.excludedNewer == 2)
        #expect(s.trustEntries == 4, "genesis, producer trusted and revoked, producer-2 trusted")
        #expect(s.decisions == 1)
        let lines = try String(contentsOfFile: dir + "/entries.jsonl", encoding: .utf8).split(separator: "\n")
        #expect(try lines.map { try parseJSON(String($0))["idx"]?.numberValue?.int64Value } == [4, 6, 10, 11, 12, 13])
        let trustIdx = try String(contentsOfFile: dir + "/trust.jsonl", encoding: .utf8).split(separator: "\n")
            .map { try parseJSON(String($0))["idx"]?.numberValue?.int64Value }
        #expect(trustIdx == [0, 1, 8, 9])
        let report = BundleVerifier(pinnedLedgerKey: l.identity.key.publicKey).verify(directory: dir)
        #expect(report.ok, "\(report.failures)")

        // The verifier replays exactly the trust history the bundle holds: removing the producer's trust entry
        // (and fixing the manifest's digest, as a forger would) leaves its entries unauthorised.
        let forged = l.directory + "/forged"
        try copyDirectory(dir, forged)
        let trustPath = forged + "/trust.jsonl"
        let kept = try String(contentsOfFile: trustPath, encoding: .utf8).split(separator: "\n").enumerated()
            .filter { $0.offset != 1 }.map { $0.element + "\n" }.joined()
        try Data(kept.utf8).write(to: URL(fileURLWithPath: trustPath))
        var manifest = try #require(try parseJSON(String(contentsOfFile: forged + "/manifest.json", encoding: .utf8)).objectValue)
        manifest["files"] = .array(try #require(manifest["files"]?.arrayValue).map { file in
            guard file["path"]?.stringValue == "trust.jsonl", var o = file.objectValue else { return file }
            o["sha256"] = .string(Hex.encode(SHA256.hash(Array(kept.utf8))))
            o["bytes"] = .number(JSONNumber(kept.utf8.count))
            return .object(o)
        })
        var counts = try #require(manifest["counts"]?.objectValue)
        counts["trust"] = .number(JSONNumber(3))
        manifest["counts"] = .object(counts)
        try Data(JSONValue.object(manifest).serialized(pretty: true)).write(to: URL(fileURLWithPath: forged + "/manifest.json"))
        let forgedReport = BundleVerifier(pinnedLedgerKey: l.identity.key.publicKey).verify(directory: forged)
        #expect(forgedReport.failures.contains { $0.idx == 4 && $0.reason.contains("entries.jsonl line 1 (idx 4): unknown_key") },
                "\(forgedReport.failures)")
        #expect(!forgedReport.failures.contains { $0.reason.contains("SHA-256") }, "the digests were fixed")

        // A time window before everything selects nothing but still verifies.
        let empty = try EvidenceBundle.export(from: l.db, to: l.directory + "/empty",
                                              selection: EvidenceSelection(untilMicros: 0))
        #expect(empty.entries == 0)
        #expect(BundleVerifier().verify(directory: l.directory + "/empty").ok)
        #expect(throws: EvidenceBundleError.directoryNotEmpty(dir)) {
            try EvidenceBundle.export(from: l.db, to: dir, selection: EvidenceSelection())
        }
    }

    /// A fenced code block of docs/evidence-bundle.md, found by the `<!-- mlledger-test: NAME -->` line before it.
    static func documentedBlock(_ name: String) throws -> String {
        let path = repositoryRoot + "/docs/evidence-bundle.md"
        let lines = try String(contentsOfFile: path, encoding: .utf8).components(separatedBy: "\n")
        let marker = try #require(lines.firstIndex(of: "<!-- mlledger-test: \(name) -->"), "no \(name) block in \(path)")
        let body = lines[(marker + 2)...].prefix { $0 != "```" }
        #expect(lines[marker + 1].hasPrefix("```"))
        return body.joined(separator: "\n") + "\n"
    }

    @Test("the documented openssl/jq steps and Python script verify an exported bundle, and fail when a byte changes")
    func documentedTools() throws {
        let l = try AuditLedger()
        defer { l.close() }
        try l.append(5)
        try TrustAdmin(identity: l.identity).revoke(name: "producer", reason: nil, in: l.db)
        let second = Ed25519PrivateKey.generate()
        try TrustAdmin(identity: l.identity).trust(second.publicKey, name: "second", scope: TrustScope(sources: [Glob("ci://*")]),
                                                   in: l.db)
        let late = try l.append(4, key: second)
        _ = try l.db.withAppendTransaction { tx in
            tx.append([l.identity.entry(type: EvidenceBundle.policyDecisionType, subject: "run/r1",
                                        data: ["entry_idx": .number(JSONNumber(Int64(late[0]))), "effect": "allow"])])
        }
        try l.sign()
        let dir = l.directory + "/bundle"
        let summary = try EvidenceBundle.export(from: l.db, to: dir, selection: EvidenceSelection(type: Glob("mlops.*")))
        #expect(summary.entries == 9 && summary.trustEntries == 4 && summary.decisions == 1)
        let vkey = try l.signer().verifierKey.description
        let python = l.directory + "/verify_bundle.py", shell = l.directory + "/check-bundle.sh"
        try Data(try Self.documentedBlock("python").utf8).write(to: URL(fileURLWithPath: python))
        try Data(try Self.documentedBlock("shell").utf8).write(to: URL(fileURLWithPath: shell))

        let py = try runProcess("/usr/bin/env", ["python3", python, dir, vkey])
        #expect(py.status == 0, "\(py.stdout)\(py.stderr)")
        #expect(py.stdout.hasPrefix("OK: 9 entries, 4 trust entries, 1 decisions"), "\(py.stdout)")
        let sh = try runProcess("/bin/bash", [shell, dir, vkey])
        #expect(sh.status == 0, "\(sh.stdout)\(sh.stderr)")
        #expect(sh.stdout.contains("entry 2: leaf "), "\(sh.stdout)")

        let broken = l.directory + "/broken"
        try copyDirectory(dir, broken)
        _ = try flipByte(in: broken + "/entries.jsonl", line: 1, offset: 60)
        let pyBad = try runProcess("/usr/bin/env", ["python3", python, broken, vkey])
        #expect(pyBad.status == 1)
        #expect(pyBad.stdout.contains("FAIL entries.jsonl: SHA-256 differs"), "\(pyBad.stdout)\(pyBad.stderr)")
        #expect(pyBad.stdout.contains("FAIL entries.jsonl line 1 (idx 2): its leaf hash differs"), "\(pyBad.stdout)")
        #expect(try runProcess("/bin/bash", [shell, broken, vkey]).status != 0)

        // A checkpoint signed by another key is refused by both.
        let other = try NoteSigner(name: l.identity.origin, key: Ed25519PrivateKey.generate()).verifierKey.description
        #expect(try runProcess("/usr/bin/env", ["python3", python, dir, other]).status != 0)
        #expect(try runProcess("/bin/bash", [shell, dir, other]).status != 0)
    }

    @Test("--since-checkpoint verifies only the growth, with a consistency proof from the kept checkpoint")
    func incrementalVerification() throws {
        let l = try AuditLedger()
        defer { l.close() }
        try l.append(20)
        let kept = try l.sign()
        let newKey = Ed25519PrivateKey.generate()
        try TrustAdmin(identity: l.identity).trust(newKey.publicKey, name: "late", scope: TrustScope(), in: l.db)
        try l.append(5, key: newKey)
        try l.append(7)
        let head = try l.size()
        let report = try AuditVerifier().verify(l.db, sinceCheckpoint: kept.note)
        #expect(report.ok, "\(report.failures)")
        #expect(report.sinceCheckpoint == 22)
        #expect(report.entries == head)
        #expect(report.root == (try l.db.head().root))
        #expect(report.json["since_checkpoint"]?.numberValue?.int64Value == 22)
        #expect(try AuditVerifier().verify(l.db, sinceCheckpoint: try l.sign().note).ok, "from the head itself")

        // A note from another log or key is refused.
        let stranger = try NoteSigner(name: l.identity.origin, key: Ed25519PrivateKey.generate())
        let forgedNote = try stranger.sign(Checkpoint(origin: l.identity.origin, size: 22, root: kept.root).text).formatted
        let refused = try AuditVerifier().verify(l.db, sinceCheckpoint: forgedNote)
        #expect(refused.failures.first?.reason.contains("not a checkpoint signed by this ledger") == true, "\(refused.failures)")

        // A new entry tampered with is found; so is a signature-invalid one.
        try l.tamper("UPDATE ledger.entries SET envelope = overlay(envelope placing 'Z' from 50 for 1) WHERE idx = 30")
        let bad = try AuditVerifier().verify(l.db, sinceCheckpoint: kept.note)
        #expect(bad.failures.first?.idx == 30, "\(bad.failures)")
        #expect(bad.failures.first?.reason == "leaf hash does not match the stored envelope bytes")
    }

    @Test("full verification reports progress page by page and checks the stored checkpoints")
    func verificationProgress() throws {
        let l = try AuditLedger()
        defer { l.close() }
        try l.append(30)
        try l.sign()
        try l.append(3)
        var verifier = AuditVerifier()
        verifier.pageSize = 7
        let seen = Box<[UInt64]>([])
        let report = try verifier.verify(l.db) { done, total in
            seen.value.append(done)
            #expect(total == 35)
        }
        #expect(report.ok, "\(report.failures)")
        #expect(seen.value == [7, 14, 21, 28, 35])
        #expect(report.json.objectValue?.keys == ["ok", "entries", "root", "failures"])
    }

    @Test("the CLI: keys ledger --vkey, audit checkpoint, prove, consistency, export, verify --bundle / --since-checkpoint")
    func commandLine() throws {
        let l = try AuditLedger()
        defer { l.close() }
        try l.append(12)
        let common = ["--database-url", l.database.url, "--state-dir", l.directory]
        func run(_ args: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
            try runProcess(mlledgerBinary, args + common)
        }
        let vkey = try run(["keys", "ledger", "--vkey", "--ledger-key", l.ledgerKeyPath])
        #expect(vkey.status == 0, "\(vkey.stderr)")
        #expect(vkey.stdout == (try l.signer().verifierKey.description) + "\n")

        let none = try run(["audit", "checkpoint"])
        #expect(none.status != 0)
        #expect(none.stderr.contains("no checkpoint has been signed yet"), "\(none.stderr)")

        let signed = try run(["audit", "checkpoint", "--sign", "--json", "--ledger-key", l.ledgerKeyPath])
        #expect(signed.status == 0, "\(signed.stderr)")
        let cp = try parseJSON(signed.stdout)
        #expect(cp.objectValue?.keys == ["size", "root", "note"])
        #expect(cp["size"]?.numberValue?.int64Value == 14)
        #expect(cp["root"]?.stringValue == Hex.encode(try l.db.head().root))

        let text = try run(["audit", "checkpoint"])
        #expect(text.stdout == cp["note"]?.stringValue)
        let keptPath = l.directory + "/kept.note"
        try Data(text.stdout.utf8).write(to: URL(fileURLWithPath: keptPath))

        let prove = try run(["audit", "prove", "--idx", "5", "--json"])
        #expect(prove.status == 0, "\(prove.stderr)")
        let p = try parseJSON(prove.stdout)
        #expect(p.objectValue?.keys == ["idx", "tree_size", "leaf_hash", "proof", "checkpoint"])
        let proof = try #require(p["proof"]?.arrayValue).map { try #require($0.stringValue.flatMap { Hex.decode($0) }) }
        let leaf = ReferenceMerkle.leaf(try l.entry(5).envelope)
        #expect(p["leaf_hash"]?.stringValue == Hex.encode(leaf))
        #expect(ReferenceMerkle.root(leaf: leaf, index: 5, size: 14, proof: proof[...]) == (try l.db.head().root))
        let byEvent = try run(["audit", "prove", "--event", try l.entry(5).eventID, "--json"])
        #expect(try parseJSON(byEvent.stdout)["idx"]?.numberValue?.int64Value == 5, "\(byEvent.stderr)")

        try l.append(4)
        try l.sign()
        let consistency = try run(["audit", "consistency", "--from", "14", "--json"])
        #expect(consistency.status == 0, "\(consistency.stderr)")
        let c = try parseJSON(consistency.stdout)
        #expect(c.objectValue?.keys == ["size1", "size2", "proof"])
        #expect(c["size2"]?.numberValue?.int64Value == 18)

        let since = try run(["audit", "verify", "--since-checkpoint", keptPath, "--json"])
        #expect(since.status == 0, "\(since.stdout)\(since.stderr)")
        #expect(try parseJSON(since.stdout)["ok"]?.boolValue == true)

        let dir = l.directory + "/bundle"
        let export = try run(["audit", "export", "--out", dir, "--type", "mlops.training.*"])
        #expect(export.status == 0, "\(export.stderr)")
        let ok = try runProcess(mlledgerBinary, ["audit", "verify", "--bundle", dir, "--json"])
        #expect(ok.status == 0, "\(ok.stdout)\(ok.stderr)")
        #expect(try parseJSON(ok.stdout)["entries"]?.numberValue?.int64Value == 16)
        _ = try flipByte(in: dir + "/entries.jsonl", line: 4, offset: 50)
        let bad = try runProcess(mlledgerBinary, ["audit", "verify", "--bundle", dir])
        #expect(bad.status == 1)
        #expect(bad.stdout.hasPrefix("FAILED at index 5: entries.jsonl line 4 (idx 5)"), "\(bad.stdout)")
    }
}

/// A mutable value a non-escaping test closure can update.
final class Box<T>: @unchecked Sendable {
    var value: T
    init(_ value: T) { self.value = value }
}
