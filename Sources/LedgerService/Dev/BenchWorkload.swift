import Foundation
import LedgerCore
import LedgerCrypto

/// Realistic signed events for benchmarks and soak runs: the catalog's common types with payloads of about
/// 0.5-2 KB (parameters, metrics, notes), signed by a few producer keys.
public enum BenchWorkload {
    /// Envelopes `first..<first + count` of the stream, with the subject of each, signed on all cores. `names`
    /// gives each story (seven events: data set, training request, start, completion, validation, model,
    /// deployment) what it names; by default every story names the demo's data set, model and deployment.
    public static func envelopes(count: Int, keys: [Ed25519PrivateKey], seed: UInt64 = 42, first: Int = 0,
                                 names: @Sendable (Int) -> DemoStory.Names = { _ in .demo }) -> [(subject: String, envelope: [UInt8])] {
        let signers = keys.map(EnvelopeSigner.init)
        let start = LedgerIdentity.nowMicros()
        return ParallelMap.map(Array(first..<(first + count))) { i in
            let step = DemoStory.steps(run: "b\(i / 7)", names: names(i / 7))[i % 7]
            var data = step.data
            // Deterministic filler so sizes spread over 0.5-2 KB.
            var x = seed &+ UInt64(i) &* 0x9E37_79B9_7F4A_7C15
            x ^= x >> 31
            let filler = Int(x % 1300)
            data["notes"] = .string(String(repeating: "lorem ipsum dolor sit amet ", count: filler / 27 + 1).prefix(filler).description)
            data["trace"] = .string(Hex.encode(SHA256.hash(Array(String(i).utf8))))
            let id = String(format: "%08x-bench-%012d", i, i)
            // Many subjects, so that keys spread over the partitions as a real fleet's do.
            let subject = step.subject.split(separator: "/").first.map { "\($0)/bench-\(i % 997)" } ?? step.subject
            let env = DemoStory.envelope(DemoStory.Step(type: step.type, subject: subject, source: step.source,
                                                        region: step.region, data: data),
                                         id: id, time: EventTime.format(micros: start + Int64(i)), signer: signers[i % signers.count])
            return (subject, env)
        }
    }

    /// Single-core rate of libsodium's crypto_sign_verify_detached over these envelopes' signatures (checks/s).
    /// Parsing is done beforehand; only the verify calls are timed.
    public static func singleCoreVerifyRate(_ envelopes: [[UInt8]], keys: [Ed25519PrivateKey]) -> Double {
        let byID = Dictionary(uniqueKeysWithValues: keys.map { ($0.publicKey.keyID, $0.publicKey) })
        let prepared: [(Ed25519PublicKey, [UInt8], [UInt8])] = envelopes.compactMap { bytes in
            guard let env = try? DSSEEnvelope.parse(bytes), let s = env.signatures.first, let k = byID[s.keyID] else { return nil }
            return (k, s.sig, env.signedBytes)
        }
        let started = DispatchTime.now().uptimeNanoseconds
        var ok = 0
        for (k, sig, msg) in prepared where k.verifyWithLibsodium(signature: sig, message: msg) { ok += 1 }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
        precondition(ok == prepared.count, "benchmark envelopes must verify")
        return Double(prepared.count) / seconds
    }
}
