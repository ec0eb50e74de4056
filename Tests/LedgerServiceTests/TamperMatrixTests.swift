import Foundation
import LedgerCore
import LedgerCrypto
import LedgerService
import LedgerStore
import Testing

/// A superuser attacker changes the stored log (append-only triggers disabled); `audit verify` must find each
/// change and say what and where. Every ledger here holds the genesis, a trusted producer and 22 producer events
/// (24 entries), with a checkpoint signed at 16 and at 24.
@Suite("Tamper matrix", .serialized)
struct TamperMatrixTests {
    func ledger() throws -> AuditLedger {
        let l = try AuditLedger()
        try l.append(14)
        try l.sign()
        try l.append(8)
        try l.sign()
        #expect(try AuditVerifier().verify(l.db).ok, "the untouched ledger verifies")
        return l
    }

    func verify(_ l: AuditLedger) throws -> AuditReport {
        let report = try AuditVerifier().verify(l.db)
        #expect(!report.ok, "the tampering went unnoticed")
        return report
    }

    @Test("an envelope's bytes changed: the leaf hash at that index")
    func envelopeChanged() throws {
        let l = try ledger()
        defer { l.close() }
        try l.tamper("UPDATE ledger.entries SET envelope = overlay(envelope placing 'Q' from 80 for 1) WHERE idx = 9")
        let r = try verify(l)
        #expect(r.failures[0].idx == 9)
        #expect(r.failures[0].reason == "leaf hash does not match the stored envelope bytes")
        #expect(r.failures.contains { $0.idx == nil && $0.reason.contains("differs from the log head's") })
        #expect(r.failures.contains { $0.reason.contains("ledger.checkpoints row") && $0.reason.contains("an entry in 0..<16 was changed") })
    }

    @Test("a row deleted: the index gap")
    func rowDeleted() throws {
        let l = try ledger()
        defer { l.close() }
        try l.tamper("DELETE FROM ledger.entries WHERE idx = 7")
        let r = try verify(l)
        #expect(r.failures[0].idx == 7)
        #expect(r.failures[0].reason == "index gap: entry 7 is missing (expected entry 7, found 8)")
    }

    @Test("a row inserted at the end: beyond the log head")
    func rowInsertedAtEnd() throws {
        let l = try ledger()
        defer { l.close() }
        let envelope = producerEnvelope(l.producer)
        try l.tamper("""
            INSERT INTO ledger.entries (idx, leaf_hash, envelope, event_id, source, type, subject, event_time, tenant, signer_key_ids)
            VALUES (24, '\\x\(Hex.encode(Merkle.leafHash(envelope)))', '\\x\(Hex.encode(envelope))', 'forged', 'ci://x',
                    'mlops.training.started', 'run/r1', now(), 'default', '{}')
            """)
        let r = try verify(l)
        #expect(r.failures[0].idx == 24)
        #expect(r.failures[0].reason == "the log head says 24 entries, the table holds entries up to 25")
    }

    @Test("a row inserted in the middle (later rows shifted): the first subtree that disagrees")
    func rowInsertedInMiddle() throws {
        let l = try ledger()
        defer { l.close() }
        let envelope = producerEnvelope(l.producer)
        try l.tamper("""
            UPDATE ledger.entries SET idx = idx + 1000000 WHERE idx >= 11;
            UPDATE ledger.entries SET idx = idx - 999999 WHERE idx >= 1000000;
            INSERT INTO ledger.entries (idx, leaf_hash, envelope, event_id, source, type, subject, event_time, tenant, signer_key_ids)
            VALUES (11, '\\x\(Hex.encode(Merkle.leafHash(envelope)))', '\\x\(Hex.encode(envelope))', 'forged', 'ci://x',
                    'mlops.training.started', 'run/r1', now(), 'default', '{}')
            """)
        let r = try verify(l)
        #expect(r.failures[0].idx == 10)
        #expect(r.failures[0].reason.hasPrefix("the stored tree node level 1 index 5 (entries 10..<12) differs"), "\(r.failures[0])")
        #expect(r.failures.contains { $0.idx == 24 && $0.reason == "the log head says 24 entries, the table holds entries up to 25" })
    }

    @Test("two rows swapped: the first subtree that disagrees")
    func rowsSwapped() throws {
        let l = try ledger()
        defer { l.close() }
        try l.tamper("""
            UPDATE ledger.entries SET idx = 1000000 WHERE idx = 13;
            UPDATE ledger.entries SET idx = 13 WHERE idx = 19;
            UPDATE ledger.entries SET idx = 19 WHERE idx = 1000000
            """)
        let r = try verify(l)
        #expect(r.failures[0].idx == 12)
        #expect(r.failures[0].reason.hasPrefix("the stored tree node level 1 index 6 (entries 12..<14) differs"), "\(r.failures[0])")
        #expect(r.failures.contains { $0.idx == nil && $0.reason.contains("differs from the log head's") })
    }

    @Test("an envelope replaced together with its recomputed leaf hash: the stored tree nodes and the checkpoint")
    func replacedWithLeafHash() throws {
        let l = try ledger()
        defer { l.close() }
        let replacement = producerEnvelope(l.producer, subject: "run/innocent")
        try l.tamper("""
            UPDATE ledger.entries SET envelope = '\\x\(Hex.encode(replacement))',
                leaf_hash = '\\x\(Hex.encode(Merkle.leafHash(replacement)))' WHERE idx = 19
            """)
        let r = try verify(l)
        #expect(r.failures[0].idx == 18)
        #expect(r.failures[0].reason.hasPrefix("the stored tree node level 1 index 9 (entries 18..<20) differs from the hash recomputed"),
                "\(r.failures[0])")
        #expect(!r.failures.contains { $0.reason.contains("leaf hash does not match") }, "the leaf hash itself is consistent")
        #expect(r.failures.contains { $0.idx == 18 && $0.reason.contains("(size 24) has root") && $0.reason.contains("an entry in 16..<24 was changed") },
                "the latest signed checkpoint: \(r.failures)")

        // The attacker also recomputes every tree node and the head: only the signed checkpoint remains, and it
        // bounds the change to the entries after the last checkpoint that still matches.
        try l.rewriteTree()
        let r2 = try verify(l)
        #expect(r2.failures.count == 1, "\(r2.failures)")
        #expect(r2.failures[0].idx == 16)
        #expect(r2.failures[0].reason.contains("an entry in 16..<24 was changed after the checkpoint was signed"))
    }

    @Test("the log truncated: the head, the signed checkpoints, and a kept checkpoint when everything else was rewritten")
    func truncated() throws {
        let l = try ledger()
        defer { l.close() }
        let kept = try #require(try l.db.latestCheckpoint()).note
        try l.tamper("DELETE FROM ledger.entries WHERE idx >= 20")
        let r = try verify(l)
        #expect(r.failures[0].idx == 20)
        #expect(r.failures[0].reason == "the log head says 24 entries, the table holds entries up to 20")
        #expect(r.failures.contains { $0.idx == 20 && $0.reason.hasPrefix("the log was truncated at index 20: a checkpoint was signed for 24 entries") })

        // The attacker fixes the head and the tree and deletes the checkpoints: the log is self-consistent again,
        // but the auditor's kept checkpoint shows the truncation.
        try l.rewriteTree()
        try l.tamper("DELETE FROM ledger.checkpoints WHERE size > 20")
        #expect(try AuditVerifier().verify(l.db).ok, "nothing left in the database contradicts it")
        let since = try AuditVerifier().verify(l.db, sinceCheckpoint: kept)
        #expect(since.failures.first?.idx == 20)
        #expect(since.failures.first?.reason.hasPrefix("the log was truncated at index 20: the kept checkpoint covers 24 entries") == true,
                "\(since.failures)")
    }

    @Test("a checkpoint forked: a second, different note for the same size, stored or kept by the auditor")
    func checkpointForked() throws {
        let l = try ledger()
        defer { l.close() }
        let genuine = try #require(try l.db.checkpoint(size: 16))
        // Someone with the ledger key signs another tree of 16 entries.
        let signer = try NoteSigner(name: l.identity.origin, key: l.identity.key)
        let otherRoot = SHA256.hash(Array("another history".utf8))
        let forkNote = try signer.sign(Checkpoint(origin: l.identity.origin, size: 16, root: otherRoot).text).formatted
        try l.tamper("""
            ALTER TABLE ledger.checkpoints DROP CONSTRAINT checkpoints_size_unique;
            INSERT INTO ledger.checkpoints (size, root, note) VALUES (16, '\\x\(Hex.encode(otherRoot))', $fork$\(forkNote)$fork$)
            """)
        let r = try verify(l)
        let fork = try #require(r.failures.first { $0.reason.hasPrefix("checkpoint fork at size 16") }, "\(r.failures)")
        #expect(fork.reason.contains("rows \(genuine.id) and "))
        #expect(fork.reason.contains(Hex.encode(otherRoot)))
        #expect(fork.reason.contains("(the entries give \(Hex.encode(genuine.root)))"))

        // The auditor kept the forked note (a split view): the stored log disagrees with it.
        let fresh = try ledger()
        defer { fresh.close() }
        let freshSigner = try NoteSigner(name: fresh.identity.origin, key: fresh.identity.key)
        let kept = try freshSigner.sign(Checkpoint(origin: fresh.identity.origin, size: 16, root: otherRoot).text).formatted
        let since = try AuditVerifier().verify(fresh.db, sinceCheckpoint: kept)
        #expect(since.failures.contains { $0.reason.hasPrefix("checkpoint fork at size 16: the kept checkpoint has root \(Hex.encode(otherRoot))") },
                "\(since.failures)")
        #expect(since.failures.contains { $0.reason.contains("the stored tree at size 16 has root") })
    }

    @Test("a stored tree node altered: named with the entries it covers; proofs through it are refused")
    func treeNodeAltered() throws {
        let l = try ledger()
        defer { l.close() }
        try l.tamper("UPDATE ledger.tree_nodes SET hash = sha256(hash) WHERE level = 2 AND idx = 1")
        let r = try verify(l)
        #expect(r.failures[0].idx == 4)
        #expect(r.failures[0].reason.hasPrefix("the stored tree node level 2 index 1 (entries 4..<8) differs"), "\(r.failures[0])")
        // A proof through that node no longer verifies against the signed checkpoint, so it is not served.
        #expect(throws: ReceiptError.self) { try Receipts.inclusion(idx: 1, in: l.db) }
        #expect(throws: Never.self) { try Receipts.inclusion(idx: 9, in: l.db) }
    }
}
