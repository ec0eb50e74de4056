import Foundation
import LedgerCore
import LedgerCrypto
import LedgerStore

/// Which entries an evidence bundle holds: event time in `[since, until)`, an exact subject, a type glob.
public struct EvidenceSelection: Sendable, Equatable {
    public var sinceMicros: Int64?
    public var untilMicros: Int64?
    public var subject: String?
    public var type: Glob?

    public init(sinceMicros: Int64? = nil, untilMicros: Int64? = nil, subject: String? = nil, type: Glob? = nil) {
        self.sinceMicros = sinceMicros
        self.untilMicros = untilMicros
        self.subject = subject
        self.type = type
    }

    /// Whether an entry of this event time, subject and type is selected.
    public func matches(timeMicros: Int64, subject: String, type: String) -> Bool {
        if let s = sinceMicros, timeMicros < s { return false }
        if let u = untilMicros, timeMicros >= u { return false }
        if let want = self.subject, want != subject { return false }
        if let glob = self.type, !glob.matches(type) { return false }
        return true
    }

    /// `{"since", "until", "subject", "type"}`, null where not set; times as RFC 3339.
    public var json: JSONValue {
        .object(JSONObject([
            "since": sinceMicros.map { .string(EventTime.format(micros: $0)) } ?? .null,
            "until": untilMicros.map { .string(EventTime.format(micros: $0)) } ?? .null,
            "subject": subject.map(JSONValue.string) ?? .null,
            "type": type.map { .string($0.pattern) } ?? .null,
        ]))
    }

    init?(json: JSONValue?) {
        guard case .object(let o)? = json else { return nil }
        func time(_ key: String) -> (ok: Bool, value: Int64?) {
            switch o[key] {
            case nil, .null?: return (true, nil)
            case .string(let s)?: return EventTime.parse(s).map { (true, $0) } ?? (false, nil)
            default: return (false, nil)
            }
        }
        let since = time("since"), until = time("until")
        guard since.ok, until.ok else { return nil }
        self.init(sinceMicros: since.value, untilMicros: until.value, subject: o["subject"]?.stringValue,
                  type: o["type"]?.stringValue.map(Glob.init))
    }
}

/// What an export wrote.
public struct EvidenceExportSummary: Sendable {
    public var directory: String
    public var checkpointSize: UInt64
    public var entries: Int
    public var trustEntries: Int
    public var decisions: Int
    /// Selected entries newer than the latest checkpoint, left out because no signed checkpoint covers them yet.
    public var excludedNewer: Int
    public var files: [String]
}

/// Why an export was refused.
public enum EvidenceBundleError: Error, Sendable, Equatable, CustomStringConvertible {
    case noCheckpoint
    case directoryNotEmpty(String)
    case io(path: String, reason: String)
    case tamperedEntry(idx: UInt64, reason: String)

    public var description: String {
        switch self {
        case .noCheckpoint:
            return "no checkpoint has been signed yet; the ledger operator signs one with `mlledger audit checkpoint --sign`"
        case .directoryNotEmpty(let dir): return "\(dir) exists and is not empty; choose a new --out directory"
        case .io(let path, let why): return "\(path): \(why)"
        case .tamperedEntry(let idx, let why):
            return "entry \(idx) cannot be exported: \(why); run `mlledger audit verify`"
        }
    }
}

/// Evidence bundles (docs/evidence-bundle.md): a directory an auditor verifies offline, with no database, with
/// `mlledger audit verify --bundle` or with openssl, python and any RFC 6962 / C2SP implementation.
///
/// | file | content |
/// |---|---|
/// | `manifest.json` | format, origin, verifier key, selection, counts, and the SHA-256 of every other file |
/// | `checkpoint.note` | the latest signed checkpoint (C2SP tlog-checkpoint as a signed note, wire format §7) |
/// | `ledger.vkey` | the ledger's note verifier key, `<origin>+<key id>+<base64(0x01 || key)>` |
/// | `ledger.pub` | the same key as an SPKI PEM (RFC 8410), for openssl |
/// | `entries.jsonl` | the selected entries, `{"idx": I, "envelope": "<base64 of the exact stored bytes>"}` |
/// | `trust.jsonl` | the genesis and the `ledger.key.trusted` / `ledger.key.revoked` entries of every signing key |
/// | `decisions.jsonl` | the `ledger.policy.decision` entries whose `data.entry_idx` is a selected entry |
/// | `proofs.jsonl` | for every entry of the three files, `{"idx", "leaf_hash", "tree_size", "proof"}` (RFC 9162 §2.1.3) |
public enum EvidenceBundle {
    public static let format = "mlledger-evidence-bundle/1"
    /// The type of the ledger's policy decision entries; their `data.entry_idx` names the entry decided.
    public static let policyDecisionType = "ledger.policy.decision"

    public enum File {
        public static let manifest = "manifest.json"
        public static let checkpoint = "checkpoint.note"
        public static let verifierKey = "ledger.vkey"
        public static let publicKey = "ledger.pub"
        public static let entries = "entries.jsonl"
        public static let trust = "trust.jsonl"
        public static let decisions = "decisions.jsonl"
        public static let proofs = "proofs.jsonl"
        /// Every file but the manifest, in the order the manifest lists them.
        public static let listed = [checkpoint, verifierKey, publicKey, entries, trust, decisions, proofs]
    }

    /// The entry a policy decision is about: `data.entry_idx` (an integer).
    public static func decidedIndex(_ event: CloudEvent) -> UInt64? {
        guard let n = event.data["entry_idx"]?.numberValue?.int64Value, n >= 0 else { return nil }
        return UInt64(n)
    }

    /// Writes a bundle of the entries `selection` picks, proven against the latest signed checkpoint, to `directory`
    /// (created; it must not exist or be empty).
    public static func export(from db: LedgerDatabase, to directory: String, selection: EvidenceSelection) throws
        -> EvidenceExportSummary
    {
        try prepare(directory)
        let genesis = try GenesisRecord.read(db)
        let noteVerifier = try NoteVerifier(name: genesis.origin, publicKey: genesis.publicKey)
        guard let latest = try db.latestCheckpoint() else { throw EvidenceBundleError.noCheckpoint }
        let checkpoint = try SignedCheckpoint.open(latest, verifier: noteVerifier)
        let size = checkpoint.size

        // The columns narrow the search (with a margin: a stored timestamp may be rounded); the signed event decides,
        // as the bundle's verifier does.
        let prefix = selection.type.map { String($0.pattern.prefix { $0 != "*" && $0 != "?" }) }
        let candidates = try db.selectEntries(sinceMicros: selection.sinceMicros.map { $0 - 1000 },
                                              untilMicros: selection.untilMicros.map { $0 + 1000 },
                                              subject: selection.subject, typePrefix: prefix)
            .filter { e in
                guard let event = parseEvent(e.envelope) else { return false }
                return selection.matches(timeMicros: event.timeMicros, subject: event.subject, type: event.type)
            }
        let selected = candidates.filter { $0.idx < size }
        for e in selected where Merkle.leafHash(e.envelope) != e.leafHash {
            throw EvidenceBundleError.tamperedEntry(idx: e.idx, reason: "its stored leaf hash does not match its envelope")
        }
        let selectedIdx = Set(selected.map(\.idx))

        // The keys that signed the selected entries, and their trust history.
        var involved = Set<String>()
        for e in selected {
            if let env = try? DSSEEnvelope.parse(e.envelope) { involved.formUnion(env.signatures.map(\.keyID)) }
        }
        involved.insert(genesis.publicKey.keyID)
        let history = try db.entries(ofTypes: [EventCatalog.LedgerType.genesis, EventCatalog.LedgerType.keyTrusted,
                                               EventCatalog.LedgerType.keyRevoked])
        let trust = history.filter { e in
            guard e.idx < size else { return false }
            if e.idx == 0 { return true }
            guard let event = parseEvent(e.envelope) else { return false }
            if e.type == EventCatalog.LedgerType.keyTrusted, let k = AuditVerifier.trustedKey(event) {
                return involved.contains(k.publicKey.keyID)
            }
            return event.data["key_id"]?.stringValue.map(involved.contains) ?? false
        }
        let decisions = try db.entries(ofTypes: [policyDecisionType]).filter { e in
            guard e.idx < size, let event = parseEvent(e.envelope), let target = decidedIndex(event) else { return false }
            return selectedIdx.contains(target)
        }

        var all: [UInt64: EntrySummary] = [:]
        for e in selected + trust + decisions { all[e.idx] = e }
        let proofs = try inclusionProofs(db, indexes: all.keys.sorted(), size: size)
        var proofLines: [UInt8] = []
        for idx in all.keys.sorted() {
            let leaf = all[idx]!.leafHash
            do {
                try Merkle.verifyInclusion(leafHash: leaf, index: idx, size: size, proof: proofs[idx]!, root: checkpoint.root)
            } catch {
                throw EvidenceBundleError.tamperedEntry(idx: idx, reason: "its proof from the stored tree does not "
                    + "verify against the checkpoint: \(error)")
            }
            proofLines += line(.object(JSONObject([
                "idx": .number(JSONNumber(Int64(idx))),
                "leaf_hash": .string(Hex.encode(leaf)),
                "tree_size": .number(JSONNumber(Int64(size))),
                "proof": .array(proofs[idx]!.map { .string(Hex.encode($0)) }),
            ])))
        }

        let vkey = noteVerifier.verifierKey
        var digests: [(String, [UInt8])] = []
        func write(_ name: String, _ bytes: [UInt8]) throws {
            let path = (directory as NSString).appendingPathComponent(name)
            guard FileManager.default.createFile(atPath: path, contents: Data(bytes)) else {
                throw EvidenceBundleError.io(path: path, reason: "cannot write")
            }
            digests.append((name, bytes))
        }
        try write(File.checkpoint, Array(checkpoint.note.utf8))
        try write(File.verifierKey, Array((vkey.description + "\n").utf8))
        try write(File.publicKey, Array(genesis.publicKey.pem.utf8))
        try write(File.entries, selected.flatMap(entryLine))
        try write(File.trust, trust.flatMap(entryLine))
        try write(File.decisions, decisions.flatMap(entryLine))
        try write(File.proofs, proofLines)
        let manifest = JSONValue.object(JSONObject([
            "format": .string(format),
            "origin": .string(genesis.origin),
            "ledger_key": .string(vkey.description),
            "created_at": .string(EventTime.format(micros: LedgerIdentity.nowMicros())),
            "tree_size": .number(JSONNumber(Int64(size))),
            "root": .string(Hex.encode(checkpoint.root)),
            "selection": selection.json,
            "counts": .object(JSONObject([
                "entries": .number(JSONNumber(selected.count)),
                "trust": .number(JSONNumber(trust.count)),
                "decisions": .number(JSONNumber(decisions.count)),
                "excluded_newer_than_checkpoint": .number(JSONNumber(candidates.count - selected.count)),
            ])),
            "files": .array(digests.map { name, bytes in
                .object(JSONObject([
                    "path": .string(name),
                    "sha256": .string(Hex.encode(SHA256.hash(bytes))),
                    "bytes": .number(JSONNumber(bytes.count)),
                ]))
            }),
        ]))
        let manifestPath = (directory as NSString).appendingPathComponent(File.manifest)
        guard FileManager.default.createFile(atPath: manifestPath, contents: Data(manifest.serialized(pretty: true) + [0x0a])) else {
            throw EvidenceBundleError.io(path: manifestPath, reason: "cannot write")
        }
        return EvidenceExportSummary(directory: directory, checkpointSize: size, entries: selected.count,
                                     trustEntries: trust.count, decisions: decisions.count,
                                     excludedNewer: candidates.count - selected.count,
                                     files: [File.manifest] + digests.map(\.0))
    }

    /// Inclusion proofs at `size` for many entries, from stored node hashes, a few hundred per query.
    static func inclusionProofs(_ db: LedgerDatabase, indexes: [UInt64], size: UInt64) throws -> [UInt64: [[UInt8]]] {
        var out: [UInt64: [[UInt8]]] = [:]
        var start = 0
        while start < indexes.count {
            let batch = indexes[start..<min(start + 512, indexes.count)]
            var plans: [(UInt64, Merkle.ProofPlan)] = []
            var ids = Set<MerkleNodeID>()
            for idx in batch {
                let plan = try Merkle.inclusionPlan(index: idx, size: size)
                plans.append((idx, plan))
                ids.formUnion(plan.nodeIDs)
            }
            let hashes = try LedgerDatabase.nodeHashes(db.connection, ids: ids)
            for (idx, plan) in plans { out[idx] = try Merkle.assemble(plan, hashes: hashes) }
            start += batch.count
        }
        return out
    }

    static func parseEvent(_ envelope: [UInt8]) -> CloudEvent? {
        guard let env = try? DSSEEnvelope.parse(envelope) else { return nil }
        return try? CloudEvent.parse(env.payload)
    }

    static func entryLine(_ e: EntrySummary) -> [UInt8] {
        line(.object(JSONObject([
            "idx": .number(JSONNumber(Int64(e.idx))),
            "envelope": .string(Base64.encode(e.envelope)),
        ])))
    }

    static func line(_ value: JSONValue) -> [UInt8] { value.serialized() + [0x0a] }

    private static func prepare(_ directory: String) throws {
        let fm = FileManager.default
        var isDir: ObjCBool = false
        if fm.fileExists(atPath: directory, isDirectory: &isDir) {
            guard isDir.boolValue, (try? fm.contentsOfDirectory(atPath: directory))?.isEmpty == true else {
                throw EvidenceBundleError.directoryNotEmpty(directory)
            }
            return
        }
        do {
            try fm.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw EvidenceBundleError.io(path: directory, reason: "cannot create the directory: \(error.localizedDescription)")
        }
    }
}
