import ArgumentParser
import Dispatch
import Foundation
import LedgerCore
import LedgerCrypto
import LedgerService
import LedgerStore

/// `mlledger bench-fill`: hidden helper of ops/bench/audit. Fills a ledger quickly with signed producer events,
/// measures the single-core Ed25519 verification rate of libsodium, and times inclusion proofs in process.
struct BenchFill: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-fill",
        abstract: "Benchmark helper: fill a ledger, measure the verify baseline, time inclusion proofs.",
        shouldDisplay: false)

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var ledger: LedgerKeyOptions

    @Option(help: "Append this many signed producer events (the ledger, its genesis and a producer key are created when missing).")
    var entries: Int = 0

    @Option(help: "Events per append transaction.")
    var batch: Int = 10_000

    @Flag(help: "Measure how many Ed25519 signatures libsodium verifies per second on one core.")
    var verifyBaseline = false

    @Option(help: "Signatures verified for --verify-baseline.")
    var samples: Int = 20_000

    @Option(help: "Time this many inclusion proofs at random indexes of the current log.")
    var proofLatency: Int = 0

    @Flag(help: "With --verify-baseline: also time each step of an entry's check on one core (µs per entry).")
    var steps = false

    func validate() throws {
        guard entries >= 0, batch > 0, samples > 0, proofLatency >= 0 else { throw ValidationError("counts must be positive") }
        guard entries > 0 || verifyBaseline || proofLatency > 0 else {
            throw ValidationError("give --entries, --verify-baseline or --proof-latency")
        }
    }

    func run() throws {
        var result = JSONObject()
        if verifyBaseline { result["verify_per_second"] = .number(JSONNumber(Self.verifyRate(samples: samples))) }
        if verifyBaseline && steps { result["check_steps_us"] = Self.stepTimes(samples: min(samples, 20_000)) }
        if entries > 0 || proofLatency > 0 {
            let db = try connection.openMigratedDatabase()
            if entries > 0 {
                let started = Date()
                try fill(db)
                let seconds = Date().timeIntervalSince(started)
                result["appended"] = .number(JSONNumber(entries))
                result["fill_seconds"] = .number(JSONNumber((seconds * 100).rounded() / 100))
            }
            if proofLatency > 0 {
                for (k, v) in try Self.proofTimes(db, samples: proofLatency) { result[k] = v }
            }
            result["log_size"] = .number(JSONNumber(Int64(try db.head().size)))
        }
        Output.json(.object(result))
    }

    /// A typical producer envelope's signed bytes and signature.
    static func sample(_ key: Ed25519PrivateKey, _ i: Int) -> [UInt8] {
        let attrs = CloudEvent.make(
            id: EventIDs.uuidV7(), source: "ci://github.com/acme/fraud-model", type: "mlops.training.started",
            subject: "run/bench-\(i % 1000)", time: EventTime.format(micros: LedgerIdentity.nowMicros()),
            data: ["run_id": .string("bench-\(i % 1000)"), "node": "gpu-node-17", "region": "azure:uaenorth"])
        return EnvelopeSigner(key: key).envelope(for: attrs).envelope
    }

    /// Single-core `crypto_sign_verify_detached` rate over envelopes like the fill's.
    static func verifyRate(samples: Int) -> Double {
        let key = Ed25519PrivateKey.generate()
        let distinct = min(samples, 2000)
        let jobs: [(message: [UInt8], signature: [UInt8])] = (0..<distinct).map { i in
            let env = try! DSSEEnvelope.parse(sample(key, i))
            return (env.signedBytes, env.signatures[0].sig)
        }
        let started = DispatchTime.now().uptimeNanoseconds
        var ok = 0
        for i in 0..<samples {
            let j = jobs[i % distinct]
            if key.publicKey.verifyWithLibsodium(signature: j.signature, message: j.message) { ok += 1 }
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
        precondition(ok == samples, "a benchmark signature did not verify")
        return (Double(samples) / seconds).rounded()
    }

    /// What one entry's check costs on one core, step by step, in microseconds: where `audit verify` spends the CPU
    /// that is not signature verification.
    static func stepTimes(samples: Int) -> JSONValue {
        let key = Ed25519PrivateKey.generate()
        let envelopes = (0..<samples).map { sample(key, $0) }
        func time(_ body: ([UInt8]) -> Void) -> JSONValue {
            let t = DispatchTime.now().uptimeNanoseconds
            for e in envelopes { body(e) }
            let us = Double(DispatchTime.now().uptimeNanoseconds - t) / 1e3 / Double(samples)
            return .number(JSONNumber((us * 100).rounded() / 100))
        }
        let parsed = envelopes.map { try! DSSEEnvelope.parse($0) }
        var i = 0
        return .object(JSONObject([
            "leaf_hash": time { _ = Merkle.leafHash($0) },
            "dsse_parse": time { _ = try? DSSEEnvelope.parse($0) },
            "cloudevent_parse": time { _ in _ = try? CloudEvent.parse(parsed[i % samples].payload); i += 1 },
            "pae": time { _ in _ = parsed[i % samples].signedBytes; i += 1 },
            "verify": time { _ in
                let e = parsed[i % samples]
                _ = key.publicKey.verify(signature: e.signatures[0].sig, message: e.signedBytes)
                i += 1
            },
            "envelope_bytes": .number(JSONNumber(envelopes.map(\.count).reduce(0, +) / samples)),
        ]))
    }

    private func fill(_ db: LedgerDatabase) throws {
        let identity = try ledger.identity(connection, db: db)
        try identity.ensureGenesis(db)
        let keyPath = connection.stateDirectory + "/bench-producer.key"
        let (producer, _) = try KeyFiles.loadOrCreatePrivateKey(at: keyPath)
        if try db.trustedKeys().first(where: { $0.keyID == producer.publicKey.keyID && $0.revokedIdx == nil }) == nil {
            try TrustAdmin(identity: identity).trust(producer.publicKey, name: "bench-\(producer.publicKey.keyID.prefix(8))",
                                                     scope: TrustScope(), in: db)
        }
        var done = 0
        let started = Date()
        while done < entries {
            let n = min(batch, entries - done)
            let first = done
            let made = UnsafeMutableBufferPointer<NewEntry?>.allocate(capacity: n)
            made.initialize(repeating: nil)
            defer { made.deallocate() }
            let out = SendableBuffer(made)
            DispatchQueue.concurrentPerform(iterations: (n + 255) / 256) { c in
                for i in (c * 256)..<min(c * 256 + 256, n) {
                    let envelope = Self.sample(producer, first + i)
                    let payload = try! DSSEEnvelope.parse(envelope).payload
                    let event = try! CloudEvent.parse(payload)
                    out.buffer[i] = NewEntry(envelope: envelope, payload: payload, leafHash: Merkle.leafHash(envelope),
                                             event: event,
                                             signerKeyIDs: [producer.publicKey.keyID], kafka: nil)
                }
            }
            let batchEntries = made.map { $0! }
            _ = try db.withAppendTransaction { tx in tx.append(batchEntries) }
            done += n
            let rate = Double(done) / max(Date().timeIntervalSince(started), 0.001)
            Output.progress("filled \(done)/\(entries) (\(Int(rate))/s)")
        }
        Output.endProgress()
    }

    /// Inclusion proofs at the head size from stored nodes, and full `audit prove` receipts (entry read, leaf hash
    /// checked, proof verified against the latest checkpoint) when a checkpoint exists; percentiles in milliseconds.
    static func proofTimes(_ db: LedgerDatabase, samples: Int) throws -> [(String, JSONValue)] {
        let size = try db.head().size
        guard size > 0 else { return [] }
        func percentiles(_ name: String, _ body: (UInt64) throws -> Void, below limit: UInt64) throws -> [(String, JSONValue)] {
            var times: [Double] = []
            times.reserveCapacity(samples)
            for _ in 0..<samples {
                let idx = UInt64.random(in: 0..<limit)
                let t = DispatchTime.now().uptimeNanoseconds
                try body(idx)
                times.append(Double(DispatchTime.now().uptimeNanoseconds - t) / 1e6)
            }
            times.sort()
            func p(_ q: Double) -> JSONValue {
                .number(JSONNumber((times[min(times.count - 1, Int(Double(times.count) * q))] * 1000).rounded() / 1000))
            }
            return [("\(name)_p50_ms", p(0.5)), ("\(name)_p99_ms", p(0.99)), ("\(name)_max_ms", p(1.0))]
        }
        var out = try percentiles("proof", { _ = try db.inclusionProof(index: $0, size: size) }, below: size)
        if let checkpoint = try db.latestCheckpoint(), checkpoint.size > 0 {
            out += try percentiles("receipt", { _ = try Receipts.inclusion(idx: $0, in: db) }, below: checkpoint.size)
        }
        out.append(("proof_samples", .number(JSONNumber(samples))))
        return out
    }
}

/// Disjoint slots of a buffer written by concurrentPerform workers.
private struct SendableBuffer<T>: @unchecked Sendable {
    let buffer: UnsafeMutableBufferPointer<T>
    init(_ buffer: UnsafeMutableBufferPointer<T>) { self.buffer = buffer }
}
