import Testing
import LedgerCore

@Suite("SHA-256 (FIPS 180-4)")
struct SHA256Tests {
    /// FIPS 180-4 / NIST CSRC example messages (SHA256.pdf, SHA256-2.pdf) and the one-million-'a' vector.
    static let vectors: [(message: String, digest: String)] = [
        ("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        ("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        (
            "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
        ),
        (
            "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
            "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"
        ),
    ]
    static let millionA = "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"

    @Test("NIST example messages, through every entry point", arguments: 0..<4)
    func nistVectors(_ i: Int) {
        let (message, digest) = Self.vectors[i]
        let bytes = Array(message.utf8)
        #expect(Hex.encode(SHA256.hash(bytes)) == digest)
        #expect(Hex.encode(SHA256.hash(message.utf8)) == digest)
        #expect(Hex.encode(bytes.withUnsafeBytes { SHA256.hash($0) }) == digest)
        #expect(Hex.encode(SHA256.hash(bytes.lazy.map { $0 })) == digest)
        var hasher = SHA256.Hasher()
        for byte in bytes { hasher.update([byte]) }
        #expect(Hex.encode(hasher.finalize()) == digest)
        #expect(Hex.encode(referenceSHA256(bytes)) == digest)
    }

    @Test("one million 'a': one shot, streamed, and from a non-contiguous collection")
    func oneMillionA() {
        let a = UInt8(ascii: "a")
        let bytes = [UInt8](repeating: a, count: 1_000_000)
        #expect(Hex.encode(SHA256.hash(bytes)) == Self.millionA)
        #expect(Hex.encode(SHA256.hash(repeatElement(a, count: 1_000_000))) == Self.millionA)

        var hasher = SHA256.Hasher()
        let piece = [UInt8](repeating: a, count: 999)
        for _ in 0..<1001 { hasher.update(piece) }
        hasher.update(bytes[..<1])
        #expect(Hex.encode(hasher.finalize()) == Self.millionA)
    }

    @Test("lengths 0...130: one shot, random-chunk streaming and a plain reference implementation agree")
    func lengthsAgree() {
        var rng = SplitMix64(seed: 0x5EED_5A25_6000)
        for length in 0...130 {
            let message = (0..<length).map { _ in UInt8.random(in: .min ... .max, using: &rng) }
            let expected = referenceSHA256(message)
            #expect(SHA256.hash(message) == expected, "one shot, length \(length)")
            #expect(SHA256.hash(message.lazy.map { $0 }) == expected, "non-contiguous, length \(length)")
            for round in 0..<8 {
                var hasher = SHA256.Hasher()
                var offset = 0
                while offset < length {
                    let chunk = Int.random(in: 0...min(length - offset, 70), using: &rng)
                    message[offset..<(offset + chunk)].withUnsafeBytes { hasher.update($0) }
                    offset += chunk
                }
                #expect(hasher.finalize() == expected, "streamed, length \(length), round \(round)")
            }
        }
    }

    @Test("long random messages cross block boundaries at every alignment")
    func longMessages() {
        var rng = SplitMix64(seed: 42)
        let message = (0..<5000).map { _ in UInt8.random(in: .min ... .max, using: &rng) }
        for length in [191, 192, 193, 1000, 1024, 4095, 5000] {
            let prefix = Array(message[..<length])
            let expected = referenceSHA256(prefix)
            #expect(SHA256.hash(prefix) == expected, "length \(length)")
            for split in [1, 63, 64, 65, 127, 128] where split < length {
                var hasher = SHA256.Hasher()
                hasher.update(prefix[..<split])
                hasher.update(prefix[split...])
                #expect(hasher.finalize() == expected, "length \(length) split at \(split)")
            }
        }
    }

    @Test("a Hasher is a value: copies continue independently; finalize resets it")
    func valueSemantics() {
        var first = SHA256.Hasher()
        first.update(Array("abcdbcdecdefdefgefghfghighijhijk".utf8))
        var second = first
        first.update(Array("ijkljklmklmnlmnomnopnopq".utf8))
        second.update(Array("xyz".utf8))
        #expect(Hex.encode(first.finalize()) == Self.vectors[2].digest)
        #expect(second.finalize() == referenceSHA256(Array("abcdbcdecdefdefgefghfghighijhijkxyz".utf8)))

        first.update(Array("abc".utf8))
        #expect(Hex.encode(first.finalize()) == Self.vectors[1].digest)
        #expect(Hex.encode(first.finalize()) == Self.vectors[0].digest)
    }
}

/// A deterministic generator so a failing case can be reproduced.
private struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// SHA-256 written as plainly as FIPS 180-4 states it (padded copy of the message, 64-word schedule,
/// shifting working variables), sharing no code with the implementation under test.
private func referenceSHA256(_ message: [UInt8]) -> [UInt8] {
    let k: [UInt32] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
        0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
        0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
        0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
        0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
        0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
        0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
    ]
    func rotr(_ x: UInt32, _ n: UInt32) -> UInt32 { (x >> n) | (x << (32 - n)) }

    var padded = message
    padded.append(0x80)
    while padded.count % 64 != 56 { padded.append(0) }
    let bits = UInt64(message.count) * 8
    for shift in stride(from: 56, through: 0, by: -8) { padded.append(UInt8(truncatingIfNeeded: bits >> UInt64(shift))) }

    var hash: [UInt32] = [
        0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
    ]
    for blockStart in stride(from: 0, to: padded.count, by: 64) {
        var w = [UInt32](repeating: 0, count: 64)
        for t in 0..<16 {
            for j in 0..<4 { w[t] = w[t] << 8 | UInt32(padded[blockStart + 4 * t + j]) }
        }
        for t in 16..<64 {
            let s0 = rotr(w[t - 15], 7) ^ rotr(w[t - 15], 18) ^ (w[t - 15] >> 3)
            let s1 = rotr(w[t - 2], 17) ^ rotr(w[t - 2], 19) ^ (w[t - 2] >> 10)
            w[t] = w[t - 16] &+ s0 &+ w[t - 7] &+ s1
        }
        var v = hash
        for t in 0..<64 {
            let ch = (v[4] & v[5]) ^ (~v[4] & v[6])
            let maj = (v[0] & v[1]) ^ (v[0] & v[2]) ^ (v[1] & v[2])
            let t1 = v[7] &+ (rotr(v[4], 6) ^ rotr(v[4], 11) ^ rotr(v[4], 25)) &+ ch &+ k[t] &+ w[t]
            let t2 = (rotr(v[0], 2) ^ rotr(v[0], 13) ^ rotr(v[0], 22)) &+ maj
            v = [t1 &+ t2, v[0], v[1], v[2], v[3] &+ t1, v[4], v[5], v[6]]
        }
        for i in 0..<8 { hash[i] = hash[i] &+ v[i] }
    }
    return hash.flatMap { word in (0..<4).map { UInt8(truncatingIfNeeded: word >> UInt32(24 - 8 * $0)) } }
}
