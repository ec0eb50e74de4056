import Foundation
import LedgerCore
import LedgerCrypto

/// Verifies an evidence bundle offline, with no database (docs/evidence-bundle.md, "The checks"):
/// the manifest's SHA-256 digests, the checkpoint's signature by the ledger key (C2SP signed-note), an RFC 9162
/// §2.1.3 inclusion proof of every entry against the checkpoint, the genesis, every signature against the key trusted
/// at that index (replaying `trust.jsonl`), and the policy decisions. Failures name the file, the line and the index.
public struct BundleVerifier: Sendable {
    /// When set, the bundle's ledger key must be this one (an auditor should pin the key they got out of band).
    public var pinnedLedgerKey: Ed25519PublicKey?

    public init(pinnedLedgerKey: Ed25519PublicKey? = nil) { self.pinnedLedgerKey = pinnedLedgerKey }

    /// Verifies the bundle in `directory`. `entries` is the number of lines of entries.jsonl, `root` the checkpoint's.
    public func verify(directory: String) -> AuditReport {
        let run = BundleRun(directory: directory, pinned: pinnedLedgerKey)
        run.verify()
        return run.report()
    }
}

/// One line of an entry file.
struct BundleEntry: Sendable {
    var file: String
    var line: Int
    var idx: UInt64
    var envelope: [UInt8]
    var label: String { "\(file) line \(line) (idx \(idx))" }
}

/// One line of proofs.jsonl.
struct BundleProof {
    var line: Int
    var leafHash: [UInt8]
    var treeSize: UInt64
    var proof: [[UInt8]]
}

final class BundleRun {
    typealias File = EvidenceBundle.File
    let directory: String
    let pinned: Ed25519PublicKey?
    private(set) var failures: [AuditReport.Failure] = []
    var entryCount: UInt64 = 0
    var root: [UInt8] = []
    /// Files read and checked against the manifest.
    var contents: [String: [UInt8]] = [:]

    init(directory: String, pinned: Ed25519PublicKey?) {
        self.directory = directory
        self.pinned = pinned
    }

    func fail(_ idx: UInt64?, _ reason: String) {
        AuditReport.record(idx, reason, in: &failures)
    }

    func report() -> AuditReport {
        let sorted = AuditReport.inLogOrder(failures)
        return AuditReport(entries: entryCount, root: root, failures: sorted)
    }

    private func path(_ name: String) -> String { (directory as NSString).appendingPathComponent(name) }

    private func read(_ name: String) -> [UInt8]? {
        FileManager.default.contents(atPath: path(name)).map { [UInt8]($0) }
    }

    func verify() {
        guard let manifest = readManifest() else { return }
        checkDigests(manifest)
        guard let key = ledgerKey(manifest) else { return }
        guard let checkpoint = readCheckpoint(key, manifest) else { return }
        root = checkpoint.root
        let proofs = readProofs()
        let entries = readEntries(File.entries)
        let trust = readEntries(File.trust)
        let decisions = readEntries(File.decisions)
        entryCount = UInt64(entries.count)
        let counts = manifest["counts"]
        for (key, file, list) in [("entries", File.entries, entries), ("trust", File.trust, trust), ("decisions", File.decisions, decisions)]
            where counts?[key]?.numberValue?.int64Value != Int64(list.count)
        {
            fail(nil, "\(File.manifest): counts.\(key) is not the \(list.count) entries of \(file)")
        }
        var used = Set<UInt64>()
        for e in trust + entries + decisions {
            used.insert(e.idx)
            checkInclusion(e, proofs, checkpoint)
        }
        for (idx, p) in proofs where !used.contains(idx) {
            fail(idx, "\(File.proofs) line \(p.line): idx \(idx) is in none of the entry files")
        }
        let ledger = checkGenesis(trust, key: key.publicKey, checkpoint: checkpoint)
        var ring = KeyRing()
        var keys: [String: Ed25519PublicKey] = [key.publicKey.keyID: key.publicKey]
        for e in trust.sorted(by: { $0.idx < $1.idx }) where e.idx > 0 {
            guard let (env, event) = parse(e) else { continue }
            guard event.type == EventCatalog.LedgerType.keyTrusted || event.type == EventCatalog.LedgerType.keyRevoked else {
                fail(e.idx, "\(e.label): \(event.type) is not a trust entry")
                continue
            }
            guard signedByLedger(env, ledger) else {
                fail(e.idx, "\(e.label): \(event.type) entry is not signed by the ledger key")
                continue
            }
            if let k = AuditVerifier.trustedKey(event) { keys[k.publicKey.keyID] = k.publicKey }
            AuditVerifier.applyTrustChange(event, at: e.idx, to: &ring) { idx, why in
                fail(idx, "\(e.label): \(why)")
            }
        }
        checkEntries(entries, ring: ring, keys: keys, ledger: ledger, manifest: manifest)
        checkDecisions(decisions, entries: Set(entries.map(\.idx)), ledger: ledger)
    }

    // MARK: Files

    private func readManifest() -> JSONObject? {
        guard let bytes = read(File.manifest) else {
            fail(nil, "\(File.manifest): missing from \(directory)")
            return nil
        }
        guard let json = try? JSONParser.parse(bytes), case .object(let o) = json else {
            fail(nil, "\(File.manifest): not a JSON object")
            return nil
        }
        guard o["format"]?.stringValue == EvidenceBundle.format else {
            fail(nil, "\(File.manifest): format is not \(EvidenceBundle.format)")
            return nil
        }
        return o
    }

    /// Every file listed with its digest; every file present is listed; every file of the format is there.
    private func checkDigests(_ manifest: JSONObject) {
        var listed = Set<String>()
        for (i, item) in (manifest["files"]?.arrayValue ?? []).enumerated() {
            guard let name = item["path"]?.stringValue, let digest = item["sha256"]?.stringValue,
                  !name.contains("/"), name != File.manifest, !name.hasPrefix(".")
            else {
                fail(nil, "\(File.manifest): files[\(i)] is not a {path, sha256} of a file in the bundle")
                continue
            }
            listed.insert(name)
            guard let bytes = read(name) else {
                fail(nil, "\(name): listed in the manifest but missing")
                continue
            }
            contents[name] = bytes
            let actual = Hex.encode(SHA256.hash(bytes))
            if actual != digest.lowercased() {
                fail(nil, "\(name): SHA-256 is \(actual), the manifest says \(digest): the file was changed")
            }
        }
        for name in File.listed where !listed.contains(name) {
            fail(nil, "\(File.manifest): does not list \(name)")
        }
        let present = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        for name in present.sorted() where name != File.manifest && !listed.contains(name) {
            fail(nil, "\(name): present in the bundle but not listed in the manifest")
        }
    }

    /// The key checkpoints and ledger entries are checked with: the pinned one, else the bundle's own.
    private func ledgerKey(_ manifest: JSONObject) -> NoteVerifier? {
        guard let text = contents[File.verifierKey].map({ String(decoding: $0, as: UTF8.self) }) else {
            fail(nil, "\(File.verifierKey): missing")
            return nil
        }
        let trimmed = text.hasSuffix("\n") ? String(text.dropLast()) : text
        let vkey: NoteVerifierKey
        let verifier: NoteVerifier
        do {
            vkey = try NoteVerifierKey.parse(trimmed)
            verifier = try NoteVerifier(vkey)
        } catch {
            fail(nil, "\(File.verifierKey): \(error)")
            return nil
        }
        if manifest["ledger_key"]?.stringValue != vkey.description {
            fail(nil, "\(File.manifest): ledger_key differs from \(File.verifierKey)")
        }
        if let pem = contents[File.publicKey].map({ String(decoding: $0, as: UTF8.self) }) {
            if (try? Ed25519PublicKey(pem: pem)) != verifier.publicKey {
                fail(nil, "\(File.publicKey): not the key of \(File.verifierKey)")
            }
        }
        if let pinned, pinned != verifier.publicKey {
            fail(nil, "\(File.verifierKey): the bundle's ledger key \(verifier.publicKey.keyID) is not the pinned key "
                + "\(pinned.keyID)")
            return try? NoteVerifier(name: vkey.name, publicKey: pinned)
        }
        return verifier
    }

    private func readCheckpoint(_ key: NoteVerifier, _ manifest: JSONObject) -> Checkpoint? {
        guard let bytes = contents[File.checkpoint] else {
            fail(nil, "\(File.checkpoint): missing")
            return nil
        }
        let checkpoint: Checkpoint
        do {
            checkpoint = try Checkpoint.parse(key.open(String(decoding: bytes, as: UTF8.self)).text)
        } catch {
            fail(nil, "\(File.checkpoint): \(error)")
            return nil
        }
        if checkpoint.origin != key.verifierKey.name {
            fail(nil, "\(File.checkpoint): origin \(checkpoint.origin) is not the key name \(key.verifierKey.name)")
        }
        if manifest["origin"]?.stringValue != checkpoint.origin {
            fail(nil, "\(File.manifest): origin \(manifest["origin"]?.stringValue ?? "(none)") is not the "
                + "checkpoint's \(checkpoint.origin)")
        }
        if manifest["tree_size"]?.numberValue?.int64Value != Int64(checkpoint.size)
            || manifest["root"]?.stringValue != Hex.encode(checkpoint.root)
        {
            fail(nil, "\(File.manifest): tree_size and root differ from \(File.checkpoint)'s")
        }
        return checkpoint
    }

    /// JSON lines of `name`, with their 1-based line numbers.
    private func lines(_ name: String) -> [(Int, JSONObject)] {
        guard let bytes = contents[name] else { return [] }
        if !bytes.isEmpty && bytes.last != 0x0a { fail(nil, "\(name): the last line does not end with a newline") }
        var out: [(Int, JSONObject)] = []
        for (i, raw) in bytes.split(separator: 0x0a, omittingEmptySubsequences: false).enumerated() {
            if raw.isEmpty { continue }
            guard let json = try? JSONParser.parse(Array(raw)), case .object(let o) = json else {
                fail(nil, "\(name) line \(i + 1): not a JSON object")
                continue
            }
            out.append((i + 1, o))
        }
        return out
    }

    private func index(_ o: JSONObject) -> UInt64? {
        guard let n = o["idx"]?.numberValue?.int64Value, n >= 0 else { return nil }
        return UInt64(n)
    }

    private func readProofs() -> [UInt64: BundleProof] {
        var out: [UInt64: BundleProof] = [:]
        for (n, o) in lines(File.proofs) {
            guard let idx = index(o), let leaf = o["leaf_hash"]?.stringValue.flatMap({ Hex.decode($0) }),
                  let size = o["tree_size"]?.numberValue?.int64Value, size >= 0,
                  let items = o["proof"]?.arrayValue
            else {
                fail(nil, "\(File.proofs) line \(n): not {idx, leaf_hash, tree_size, proof}")
                continue
            }
            let proof = items.compactMap { $0.stringValue.flatMap { Hex.decode($0) } }
            guard proof.count == items.count else {
                fail(idx, "\(File.proofs) line \(n) (idx \(idx)): a proof hash is not hex")
                continue
            }
            if let earlier = out[idx] {
                fail(idx, "\(File.proofs) line \(n): a second proof for idx \(idx) (first on line \(earlier.line))")
                continue
            }
            out[idx] = BundleProof(line: n, leafHash: leaf, treeSize: UInt64(size), proof: proof)
        }
        return out
    }

    private func readEntries(_ name: String) -> [BundleEntry] {
        var out: [BundleEntry] = []
        var last: UInt64?
        for (n, o) in lines(name) {
            guard let idx = index(o), let text = o["envelope"]?.stringValue else {
                fail(nil, "\(name) line \(n): not {idx, envelope}")
                continue
            }
            guard let envelope = Base64.decode(text) else {
                fail(idx, "\(name) line \(n) (idx \(idx)): the envelope is not base64")
                continue
            }
            if let last, idx <= last { fail(idx, "\(name) line \(n) (idx \(idx)): not in increasing index order") }
            last = idx
            out.append(BundleEntry(file: name, line: n, idx: idx, envelope: envelope))
        }
        return out
    }

    // MARK: Checks

    /// RFC 6962 leaf hash of the exact envelope bytes, and RFC 9162 §2.1.3.2 against the checkpoint.
    private func checkInclusion(_ e: BundleEntry, _ proofs: [UInt64: BundleProof], _ checkpoint: Checkpoint) {
        let leaf = Merkle.leafHash(e.envelope)
        guard let p = proofs[e.idx] else {
            fail(e.idx, "\(e.label): \(File.proofs) has no proof for it")
            return
        }
        if p.leafHash != leaf {
            fail(e.idx, "\(e.label): the envelope's leaf hash \(Hex.encode(leaf)) differs from \(File.proofs) line "
                + "\(p.line)'s \(Hex.encode(p.leafHash)): the envelope bytes were changed")
        }
        if p.treeSize != checkpoint.size {
            fail(e.idx, "\(File.proofs) line \(p.line) (idx \(e.idx)): tree_size \(p.treeSize) is not the "
                + "checkpoint's \(checkpoint.size)")
            return
        }
        do {
            try Merkle.verifyInclusion(leafHash: leaf, index: e.idx, size: checkpoint.size, proof: p.proof, root: checkpoint.root)
        } catch {
            fail(e.idx, "\(e.label): not included in the checkpoint (size \(checkpoint.size)): \(error)")
        }
    }

    /// The genesis (idx 0 of trust.jsonl) must name the ledger key and the checkpoint's origin.
    private func checkGenesis(_ trust: [BundleEntry], key: Ed25519PublicKey, checkpoint: Checkpoint) -> Ed25519PublicKey {
        guard let g = trust.first(where: { $0.idx == 0 }) else {
            fail(0, "\(File.trust): has no genesis entry (idx 0)")
            return key
        }
        do {
            let genesis = try GenesisRecord.parse(envelope: g.envelope)
            if genesis.publicKey != key {
                fail(0, "\(g.label): the genesis names ledger key \(genesis.publicKey.keyID), the checkpoint is "
                    + "signed by \(key.keyID)")
            }
            if genesis.origin != checkpoint.origin {
                fail(0, "\(g.label): the genesis names origin \(genesis.origin), the checkpoint \(checkpoint.origin)")
            }
        } catch {
            fail(0, "\(g.label): \(error)")
        }
        return key
    }

    private func parse(_ e: BundleEntry) -> (DSSEEnvelope, CloudEvent)? {
        let env: DSSEEnvelope
        do { env = try DSSEEnvelope.parse(e.envelope) } catch {
            fail(e.idx, "\(e.label): the envelope is not DSSE: \(error)")
            return nil
        }
        do { return (env, try CloudEvent.parse(env.payload)) } catch {
            fail(e.idx, "\(e.label): the payload is not a CloudEvent: \(error)")
            return nil
        }
    }

    private func signedByLedger(_ env: DSSEEnvelope, _ key: Ed25519PublicKey) -> Bool {
        env.signatures.contains { $0.keyID == key.keyID && key.verify(signature: $0.sig, message: env.signedBytes) }
    }

    /// Signatures (on all cores), trust at each index, and the manifest's selection.
    private func checkEntries(_ entries: [BundleEntry], ring: KeyRing, keys: [String: Ed25519PublicKey],
                              ledger: Ed25519PublicKey, manifest: JSONObject) {
        let selection = EvidenceSelection(json: manifest["selection"])
        if selection == nil { fail(nil, "\(File.manifest): selection is malformed") }
        let checked = ParallelMap.map(entries, chunk: 32) { e -> (DSSEEnvelope, CloudEvent, [Bool?])? in
            guard let env = try? DSSEEnvelope.parse(e.envelope), let event = try? CloudEvent.parse(env.payload) else { return nil }
            let message = env.signedBytes
            return (env, event, env.signatures.map { s in keys[s.keyID].map { $0.verify(signature: s.sig, message: message) } })
        }
        for (i, e) in entries.enumerated() {
            guard let (env, event, valid) = checked[i] else {
                _ = parse(e)  // reports why
                continue
            }
            if let selection, !selection.matches(timeMicros: event.timeMicros, subject: event.subject, type: event.type) {
                fail(e.idx, "\(e.label): \(event.type) about \(event.subject) at \(event.time) is outside the "
                    + "manifest's selection")
            }
            if EventCatalog.isLedgerType(event.type) {
                let k = env.signatures.firstIndex { $0.keyID == ledger.keyID }
                if k.flatMap({ valid[$0] }) != true {
                    fail(e.idx, "\(e.label): \(event.type) entry is not signed by the ledger key")
                }
                continue
            }
            // Keys known at this index: trusted (maybe since revoked) by an earlier entry, as the online verifier sees them.
            let known = env.signatures.indices.filter { k in
                ring.records[env.signatures[k].keyID]?.contains { $0.trustedAt < e.idx } == true
            }
            if known.isEmpty {
                fail(e.idx, "\(e.label): unknown_key: no signature from a key trusted in \(File.trust)")
                continue
            }
            if let reason = ring.authorize(keyIDs: known.map { env.signatures[$0].keyID }, event: event, at: e.idx) {
                fail(e.idx, "\(e.label): \(reason.code): the signing key was not trusted for this event at this index")
            }
            if let bad = known.first(where: { valid[$0] != true }) {
                fail(e.idx, "\(e.label): signature_invalid: the signature of key \(env.signatures[bad].keyID) does not verify")
            }
        }
    }

    private func checkDecisions(_ decisions: [BundleEntry], entries: Set<UInt64>, ledger: Ed25519PublicKey) {
        for e in decisions {
            guard let (env, event) = parse(e) else { continue }
            guard event.type == EvidenceBundle.policyDecisionType else {
                fail(e.idx, "\(e.label): \(event.type) is not \(EvidenceBundle.policyDecisionType)")
                continue
            }
            if !signedByLedger(env, ledger) { fail(e.idx, "\(e.label): the decision is not signed by the ledger key") }
            guard let target = EvidenceBundle.decidedIndex(event), entries.contains(target) else {
                fail(e.idx, "\(e.label): data.entry_idx names no entry of \(File.entries)")
                continue
            }
        }
    }
}
