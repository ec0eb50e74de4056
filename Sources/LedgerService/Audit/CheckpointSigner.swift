import Foundation
import LedgerCore
import LedgerCrypto
import LedgerStore
import Logging

/// A checkpoint the ledger signed: the C2SP tlog-checkpoint body and the whole signed note (wire format §7).
public struct SignedCheckpoint: Sendable, Equatable {
    public var checkpoint: Checkpoint
    /// The signed note text, as stored in `ledger.checkpoints.note` and handed to auditors.
    public var note: String
    public var signedAt: Date

    public init(checkpoint: Checkpoint, note: String, signedAt: Date) {
        self.checkpoint = checkpoint
        self.note = note
        self.signedAt = signedAt
    }

    public var size: UInt64 { checkpoint.size }
    public var root: [UInt8] { checkpoint.root }

    /// `{"size": N, "root": "<hex>", "note": "<signed note text>"}`, what `mlledger audit checkpoint --json` prints.
    public var json: JSONValue {
        .object(JSONObject([
            "size": .number(JSONNumber(Int64(size))),
            "root": .string(Hex.encode(root)),
            "note": .string(note),
        ]))
    }

    /// Reads a stored checkpoint, checking its note against the ledger's key and its columns against the note.
    public static func open(_ stored: StoredCheckpoint, verifier: NoteVerifier) throws(CheckpointSigningError) -> SignedCheckpoint {
        let checkpoint: Checkpoint
        do {
            let note = try verifier.open(stored.note)
            checkpoint = try Checkpoint.parse(note.text)
        } catch {
            throw .badStoredCheckpoint(size: stored.size, reason: "\(error)")
        }
        guard checkpoint.origin == verifier.verifierKey.name else {
            throw .badStoredCheckpoint(size: stored.size, reason: "its origin is \(checkpoint.origin), not "
                + "\(verifier.verifierKey.name)")
        }
        guard checkpoint.size == stored.size, checkpoint.root == stored.root else {
            throw .badStoredCheckpoint(size: stored.size, reason: "the note says size \(checkpoint.size) root "
                + "\(Hex.encode(checkpoint.root)), the row says size \(stored.size) root \(Hex.encode(stored.root))")
        }
        return SignedCheckpoint(checkpoint: checkpoint, note: stored.note, signedAt: stored.signedAt)
    }
}

/// Why the ledger refused to sign a checkpoint. A log must never sign a checkpoint inconsistent with one it signed
/// before (C2SP tlog-checkpoint §Signatures): each of these means the stored log changed outside the ledger.
public enum CheckpointSigningError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The log is smaller than the last signed checkpoint.
    case truncated(previousSize: UInt64, size: UInt64)
    /// The log has the size of the last checkpoint but another root.
    case forked(size: UInt64, signedRoot: String, currentRoot: String)
    /// The consistency proof from the last checkpoint to the current head does not verify.
    case inconsistent(previousSize: UInt64, size: UInt64, reason: String)
    /// The log head's root is not the root of the stored tree nodes.
    case headMismatch(size: UInt64, headRoot: String, treeRoot: String)
    /// A stored checkpoint is not a valid note of this ledger.
    case badStoredCheckpoint(size: UInt64, reason: String)
    /// The key or origin cannot sign this log's notes.
    case identity(String)

    public var description: String {
        switch self {
        case .truncated(let p, let s):
            return "refusing to sign: the log holds \(s) entries but a checkpoint was already signed for \(p) "
                + "(truncated at index \(s))"
        case .forked(let size, let signed, let current):
            return "refusing to sign: a checkpoint for size \(size) was signed with root \(signed), the log now has "
                + "root \(current) (fork)"
        case .inconsistent(let p, let s, let why):
            return "refusing to sign size \(s): not consistent with the checkpoint signed for size \(p): \(why)"
        case .headMismatch(let size, let head, let tree):
            return "refusing to sign: ledger.log_head says root \(head) at size \(size), the stored tree nodes give \(tree)"
        case .badStoredCheckpoint(let size, let why):
            return "the stored checkpoint for size \(size) is not valid: \(why)"
        case .identity(let why): return why
        }
    }
}

/// Signs checkpoints of the log: every `everyEntries` new entries or every `everySeconds` seconds (when the log
/// grew), or on demand with `sign`. Before signing it checks, from the stored tree, that the new tree is consistent
/// with the last signed checkpoint (RFC 9162 §2.1.4) and refuses otherwise.
///
/// `signIfDue` is meant to be called after every committed ingest batch: when nothing is due it costs a comparison
/// (or one `SELECT size FROM ledger.log_head` when the caller does not pass the size). Thread-safe.
public final class CheckpointSigner: @unchecked Sendable {
    public let identity: LedgerIdentity
    /// Sign when the log grew by at least this many entries since the last checkpoint; 0 disables.
    public let everyEntries: UInt64
    /// Sign when this many seconds passed since the last checkpoint and the log grew; 0 disables.
    public let everySeconds: Double
    public let signer: NoteSigner
    public let verifier: NoteVerifier

    private let lock = NSLock()
    /// Size and time of the last checkpoint known; nil until first read from the database.
    private var last: (size: UInt64, at: Date)?

    public init(identity: LedgerIdentity, everyEntries: UInt64 = 0, everySeconds: Double = 0) throws {
        self.identity = identity
        self.everyEntries = everyEntries
        self.everySeconds = everySeconds
        do {
            signer = try NoteSigner(name: identity.origin, key: identity.key)
            verifier = try NoteVerifier(name: identity.origin, publicKey: identity.key.publicKey)
        } catch {
            throw CheckpointSigningError.identity("the origin \"\(identity.origin)\" cannot name a note key: \(error)")
        }
    }

    /// The ledger's verifier key, `<origin>+<key id>+<base64(0x01 || public key)>`.
    public var verifierKey: NoteVerifierKey { signer.verifierKey }

    /// Signs a checkpoint of the current log when one is due; nil otherwise.
    @discardableResult
    public func signIfDue(_ db: LedgerDatabase, logSize: UInt64? = nil, now: Date = Date()) throws -> SignedCheckpoint? {
        lock.lock()
        defer { lock.unlock() }
        guard everyEntries > 0 || everySeconds > 0 else { return nil }
        if last == nil {
            let latest = try db.latestCheckpoint()
            last = (latest?.size ?? 0, latest?.signedAt ?? .distantPast)
        }
        let size = try logSize ?? db.head().size
        let (lastSize, lastAt) = last!
        guard size > lastSize else { return nil }
        let byCount = everyEntries > 0 && size - lastSize >= everyEntries
        let byTime = everySeconds > 0 && now.timeIntervalSince(lastAt) >= everySeconds
        guard byCount || byTime else { return nil }
        let signed = try signLocked(db)
        return signed
    }

    /// `signIfDue` for the ingest loop, which must not stop over a checkpoint: never throws. A new checkpoint is
    /// logged at info, a refusal (the stored log is inconsistent with a checkpoint signed before) as critical, any
    /// other failure (the database is unavailable) as an error; the next call tries again.
    public func signIfDue(_ db: LedgerDatabase, logSize: UInt64?, logger: Logger) {
        do {
            if let signed = try signIfDue(db, logSize: logSize) {
                logger.info("signed checkpoint", metadata: ["size": "\(signed.size)", "root": "\(Hex.encode(signed.root))"])
            }
        } catch let refusal as CheckpointSigningError {
            logger.critical("checkpoint refused: \(refusal)")
        } catch {
            logger.error("checkpoint signing failed: \(error)")
        }
    }

    /// Signs a checkpoint of the log as it is now (or returns the stored one when the log has not grown since).
    @discardableResult
    public func sign(_ db: LedgerDatabase) throws -> SignedCheckpoint {
        lock.lock()
        defer { lock.unlock() }
        return try signLocked(db)
    }

    private func signLocked(_ db: LedgerDatabase) throws -> SignedCheckpoint {
        let genesis = try GenesisRecord.read(db)
        guard genesis.publicKey == identity.key.publicKey else {
            throw LedgerServiceError.ledgerKeyMismatch(logKeyID: genesis.publicKey.keyID, givenKeyID: identity.key.publicKey.keyID)
        }
        guard genesis.origin == identity.origin else {
            throw CheckpointSigningError.identity("the origin \"\(identity.origin)\" is not the log's (\"\(genesis.origin)\")")
        }
        let result = try db.connection.transaction { c -> SignedCheckpoint in
            // One signer at a time, across processes; released at commit.
            try c.query("SELECT pg_advisory_xact_lock(7349202520)")
            let headRow = try c.query("SELECT size, root FROM ledger.log_head")
            guard let row = headRow.first, let s = row.int64(0), let headRoot = row.bytes(1) else {
                throw LedgerStoreError.notMigrated
            }
            let size = UInt64(s)
            let treeRoot = try LedgerDatabase.rootHash(c, size: size)
            guard treeRoot == headRoot else {
                throw CheckpointSigningError.headMismatch(size: size, headRoot: Hex.encode(headRoot), treeRoot: Hex.encode(treeRoot))
            }
            if let previous = try LedgerDatabase.latestCheckpoint(c) {
                let prior = try SignedCheckpoint.open(previous, verifier: verifier)
                if size < prior.size { throw CheckpointSigningError.truncated(previousSize: prior.size, size: size) }
                if size == prior.size {
                    guard prior.root == headRoot else {
                        throw CheckpointSigningError.forked(size: size, signedRoot: Hex.encode(prior.root), currentRoot: Hex.encode(headRoot))
                    }
                    return prior
                }
                let proof = try LedgerDatabase.consistencyProof(c, from: prior.size, to: size)
                do {
                    try Merkle.verifyConsistency(size1: prior.size, size2: size, proof: proof, root1: prior.root, root2: headRoot)
                } catch {
                    throw CheckpointSigningError.inconsistent(previousSize: prior.size, size: size, reason: "\(error)")
                }
            }
            let checkpoint = Checkpoint(origin: identity.origin, size: size, root: headRoot)
            let note = try signer.sign(checkpoint.text).formatted
            let stored = try LedgerDatabase.insertCheckpoint(c, size: size, root: headRoot, note: note)
            return SignedCheckpoint(checkpoint: checkpoint, note: note, signedAt: stored.signedAt)
        }
        last = (result.size, result.signedAt)
        return result
    }
}

/// Runs `CheckpointSigner.signIfDue` every `tick` seconds on a thread and database connection of its own, so that a
/// log that went quiet still gets its time-based checkpoint (`mlledger serve --checkpoint-interval`) even though no
/// batch is appended. Costs one `SELECT size FROM ledger.log_head` per tick when nothing is due.
public final class CheckpointTicker: @unchecked Sendable {
    private let stopped = DispatchSemaphore(value: 0)
    private let finished = DispatchSemaphore(value: 0)
    private let lock = NSLock()
    private var isStopped = false

    /// Starts ticking. `onSigned` and `onError` are called on the ticker's thread; after an error (the database is
    /// down, or the signer refused an inconsistent log) the ticker reconnects and keeps trying at the next tick.
    public init(signer: CheckpointSigner, databaseURL: String?, tick: Double = 1,
                onSigned: @escaping @Sendable (SignedCheckpoint) -> Void = { _ in },
                onError: @escaping @Sendable (Error) -> Void) {
        let thread = Thread { [stopped, finished] in
            defer { finished.signal() }
            var db: LedgerDatabase?
            while stopped.wait(timeout: .now() + tick) == .timedOut {
                do {
                    if db == nil { db = try LedgerDatabase(url: databaseURL) }
                    if let signed = try signer.signIfDue(db!) { onSigned(signed) }
                } catch {
                    onError(error)
                    db?.connection.close()
                    db = nil
                }
            }
            db?.connection.close()
        }
        thread.name = "mlledger-checkpoints"
        thread.start()
    }

    /// Stops ticking and waits for the thread to end.
    public func stop() {
        lock.lock()
        let first = !isStopped
        isStopped = true
        lock.unlock()
        guard first else { return }
        stopped.signal()
        finished.wait()
    }
}
