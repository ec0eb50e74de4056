import CSodium
import Testing

@testable import LedgerCrypto

/// The reference answer: libsodium 1.0.18's `crypto_sign_verify_detached`, which the auditors' tools agree with.
private func sodiumAccepts(key: [UInt8], signature: [UInt8], message: [UInt8]) -> Bool {
    precondition(sodium_init() >= 0)
    guard key.count == 32, signature.count == 64 else { return false }
    return crypto_sign_verify_detached(signature, message, UInt64(message.count), key) == 0
}

private func randomBytes(_ count: Int) -> [UInt8] {
    precondition(sodium_init() >= 0)
    var bytes = [UInt8](repeating: 0, count: count)
    randombytes_buf(&bytes, count)
    return bytes
}

private func randomInt(below bound: Int) -> Int {
    Int(randombytes_uniform(UInt32(bound)))
}

private func hex(_ string: String) -> [UInt8] {
    func nibble(_ c: UInt8) -> UInt8 { c <= 0x39 ? c - 0x30 : (c | 0x20) - 0x57 }
    let chars = Array(string.utf8)
    return stride(from: 0, to: chars.count, by: 2).map { nibble(chars[$0]) << 4 | nibble(chars[$0 + 1]) }
}

/// A signing key from libsodium, with its secret scalar (for building signatures by hand).
private struct Signer {
    let publicKey: [UInt8]
    let secretKey: [UInt8]

    init() {
        var pk = [UInt8](repeating: 0, count: 32)
        var sk = [UInt8](repeating: 0, count: 64)
        precondition(sodium_init() >= 0)
        crypto_sign_keypair(&pk, &sk)
        publicKey = pk
        secretKey = sk
    }

    func sign(_ message: [UInt8]) -> [UInt8] {
        var signature = [UInt8](repeating: 0, count: 64)
        crypto_sign_detached(&signature, nil, message, UInt64(message.count), secretKey)
        return signature
    }
}

/// Scalar and point helpers from libsodium, to build edge cases independently of the code under test.
private enum Reference {
    static let order = hex("edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010")

    /// (a + b) as 256-bit little-endian integers, wrapping at 2^256.
    static func addIntegers(_ a: [UInt8], _ b: [UInt8]) -> [UInt8] {
        var carry = 0
        return (0..<32).map { i in
            let v = Int(a[i]) + Int(b[i]) + carry
            carry = v >> 8
            return UInt8(v & 0xff)
        }
    }

    static func reduce(_ wide: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        crypto_core_ed25519_scalar_reduce(&out, wide)
        return out
    }

    static func mulAdd(_ a: [UInt8], _ b: [UInt8], _ c: [UInt8]) -> [UInt8] {
        var product = [UInt8](repeating: 0, count: 32)
        var sum = [UInt8](repeating: 0, count: 32)
        crypto_core_ed25519_scalar_mul(&product, a, b)
        crypto_core_ed25519_scalar_add(&sum, product, c)
        return sum
    }

    static func randomScalar() -> [UInt8] {
        var s = [UInt8](repeating: 0, count: 32)
        crypto_core_ed25519_scalar_random(&s)
        return s
    }

    /// [n]B, n not 0 mod L.
    static func base(_ n: [UInt8]) -> [UInt8] {
        var q = [UInt8](repeating: 0, count: 32)
        precondition(crypto_scalarmult_ed25519_base_noclamp(&q, n) == 0)
        return q
    }

    /// [n]P for P in the prime-order subgroup.
    static func multiply(_ n: [UInt8], _ p: [UInt8]) -> [UInt8] {
        var q = [UInt8](repeating: 0, count: 32)
        precondition(crypto_scalarmult_ed25519_noclamp(&q, n, p) == 0)
        return q
    }

    /// P + Q for any points on the curve, small-order ones included.
    static func add(_ p: [UInt8], _ q: [UInt8]) -> [UInt8] {
        var r = [UInt8](repeating: 0, count: 32)
        precondition(crypto_core_ed25519_add(&r, p, q) == 0)
        return r
    }

    /// SHA-512(R ‖ A ‖ M) mod L, the challenge of RFC 8032 §5.1.7.
    static func challenge(_ r: [UInt8], _ key: [UInt8], _ message: [UInt8]) -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: 64)
        let input = r + key + message
        crypto_hash_sha512(&digest, input, UInt64(input.count))
        return reduce(digest)
    }
}

/// The eight points of the torsion subgroup E[8], from a point of order 8, added up with libsodium.
private let torsion: [[UInt8]] = {
    let t8 = hex("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05")
    var points = [t8]
    for _ in 1..<8 { points.append(Reference.add(points.last!, t8)) }
    return points  // [1]T, [2]T, ..., [8]T = identity
}()

@Suite("Ed25519 verifier agrees with libsodium")
struct Ed25519VerifierTests {
    /// RFC 8032 §7.1: TEST 1, 2, 3, 1024 and SHA(abc).
    static let rfc8032: [(key: String, message: String, signature: String)] = [
        (
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
        ),
        (
            "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
            "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"
        ),
        (
            "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025", "af82",
            "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a"
        ),
        (
            "278117fc144c72340f67d0f2316e8386ceffbf2b2428c9c51fef7c597f1d426e",
            "08b8b2b733424243760fe426a4b54908632110a66c2f6591eabd3345e3e4eb98fa6e264bf09efe12ee50f8f54e9f77b1e355f6c50544e23fb1433ddf73be84d879de7c0046dc4996d9e773f4bc9efe5738829adb26c81b37c93a1b270b20329d658675fc6ea534e0810a4432826bf58c941efb65d57a338bbd2e26640f89ffbc1a858efcb8550ee3a5e1998bd177e93a7363c344fe6b199ee5d02e82d522c4feba15452f80288a821a579116ec6dad2b3b310da903401aa62100ab5d1a36553e06203b33890cc9b832f79ef80560ccb9a39ce767967ed628c6ad573cb116dbefefd75499da96bd68a8a97b928a8bbc103b6621fcde2beca1231d206be6cd9ec7aff6f6c94fcd7204ed3455c68c83f4a41da4af2b74ef5c53f1d8ac70bdcb7ed185ce81bd84359d44254d95629e9855a94a7c1958d1f8ada5d0532ed8a5aa3fb2d17ba70eb6248e594e1a2297acbbb39d502f1a8c6eb6f1ce22b3de1a1f40cc24554119a831a9aad6079cad88425de6bde1a9187ebb6092cf67bf2b13fd65f27088d78b7e883c8759d2c4f5c65adb7553878ad575f9fad878e80a0c9ba63bcbcc2732e69485bbc9c90bfbd62481d9089beccf80cfe2df16a2cf65bd92dd597b0707e0917af48bbb75fed413d238f5555a7a569d80c3414a8d0859dc65a46128bab27af87a71314f318c782b23ebfe808b82b0ce26401d2e22f04d83d1255dc51addd3b75a2b1ae0784504df543af8969be3ea7082ff7fc9888c144da2af58429ec96031dbcad3dad9af0dcbaaaf268cb8fcffead94f3c7ca495e056a9b47acdb751fb73e666c6c655ade8297297d07ad1ba5e43f1bca32301651339e22904cc8c42f58c30c04aafdb038dda0847dd988dcda6f3bfd15c4b4c4525004aa06eeff8ca61783aacec57fb3d1f92b0fe2fd1a85f6724517b65e614ad6808d6f6ee34dff7310fdc82aebfd904b01e1dc54b2927094b2db68d6f903b68401adebf5a7e08d78ff4ef5d63653a65040cf9bfd4aca7984a74d37145986780fc0b16ac451649de6188a7dbdf191f64b5fc5e2ab47b57f7f7276cd419c17a3ca8e1b939ae49e488acba6b965610b5480109c8b17b80e1b7b750dfc7598d5d5011fd2dcc5600a32ef5b52a1ecc820e308aa342721aac0943bf6686b64b2579376504ccc493d97e6aed3fb0f9cd71a43dd497f01f17c0e2cb3797aa2a2f256656168e6c496afc5fb93246f6b1116398a346f1a641f3b041e989f7914f90cc2c7fff357876e506b50d334ba77c225bc307ba537152f3f1610e4eafe595f6d9d90d11faa933a15ef1369546868a7f3a45a96768d40fd9d03412c091c6315cf4fde7cb68606937380db2eaaa707b4c4185c32eddcdd306705e4dc1ffc872eeee475a64dfac86aba41c0618983f8741c5ef68d3a101e8a3b8cac60c905c15fc910840b94c00a0b9d0",
            "0aab4c900501b3e24d7cdf4663326a3a87df5e4843b2cbdb67cbf6e460fec350aa5371b1508f9f4528ecea23c436d94b5e8fcd4f681e30a6ac00a9704a188a03"
        ),
        (
            "ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf",
            "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
            "dc2a4459e7369633a52b1bf277839a00201009a3efbf3ecb69bea2186c26b58909351fc9ac90b3ecfdfbc7c66431e0303dca179c138ac17ad9bef1177331a704"
        ),
    ]

    /// Checks that the verifier and libsodium give the same answer; returns that answer.
    @discardableResult
    private func agree(
        _ verifier: Ed25519Verifier, key: [UInt8], signature: [UInt8], message: [UInt8],
        sourceLocation: SourceLocation = #_sourceLocation
    ) -> Bool {
        let expected = sodiumAccepts(key: key, signature: signature, message: message)
        let actual = verifier.verify(signature: signature, message: message)
        #expect(actual == expected, "key \(key) signature \(signature)", sourceLocation: sourceLocation)
        return expected
    }

    private func agree(key: [UInt8], signature: [UInt8], message: [UInt8]) -> Bool {
        agree(Ed25519Verifier(publicKey: key), key: key, signature: signature, message: message)
    }

    @Test("RFC 8032 §7.1 vectors verify; one changed bit of signature, message or key is refused")
    func rfc8032Vectors() {
        for vector in Self.rfc8032 {
            let key = hex(vector.key)
            let message = hex(vector.message)
            let signature = hex(vector.signature)
            let verifier = Ed25519Verifier(publicKey: key)
            #expect(verifier.verify(signature: signature, message: message))
            #expect(sodiumAccepts(key: key, signature: signature, message: message))

            for bit in 0..<512 {
                var changed = signature
                changed[bit / 8] ^= 1 << (bit % 8)
                #expect(!verifier.verify(signature: changed, message: message), "signature bit \(bit)")
                #expect(!sodiumAccepts(key: key, signature: changed, message: message))
            }
            for bit in stride(from: 0, to: message.count * 8, by: max(1, message.count / 16)) {
                var changed = message
                changed[bit / 8] ^= 1 << (bit % 8)
                #expect(!verifier.verify(signature: signature, message: changed), "message bit \(bit)")
            }
            #expect(!verifier.verify(signature: signature, message: message + [0]))
            // One bit in each byte of the key (a new key costs a table; all 256 bits would be slow in debug builds).
            for byte in 0..<32 {
                let bit = byte * 8 + (byte * 3 + vector.key.count) % 8
                var changed = key
                changed[bit / 8] ^= 1 << (bit % 8)
                #expect(!Ed25519Verifier(publicKey: changed).verify(signature: signature, message: message))
                #expect(!sodiumAccepts(key: changed, signature: signature, message: message))
            }
        }
    }

    @Test("20,000 random keys, messages and signatures, valid and mutated, get libsodium's answer")
    func randomAgreement() async {
        // Four workers of 25 keys × 200 messages each.
        let runs = await withTaskGroup(of: AgreementRun.self) { group in
            for _ in 0..<4 {
                group.addTask { Self.agreementRun(keys: 25, messagesPerKey: 200) }
            }
            return await group.reduce(into: [AgreementRun]()) { $0.append($1) }
        }
        let accepted = runs.map(\.accepted).reduce(0, +)
        let rejected = runs.map(\.rejected).reduce(0, +)
        let disagreements = runs.flatMap(\.disagreements)
        #expect(disagreements.isEmpty, "\(disagreements.prefix(3))")
        #expect(accepted + rejected == 20_000)
        #expect(accepted > 4_000 && rejected > 10_000, "accepted \(accepted), rejected \(rejected)")
    }

    private struct AgreementRun {
        var accepted = 0
        var rejected = 0
        var disagreements: [String] = []
    }

    /// Signs random messages (0...2048 bytes) under fresh keys, mutates most signatures, messages or keys by one
    /// bit, one byte or a random half, and compares the verifier's answers with libsodium's.
    private static func agreementRun(keys: Int, messagesPerKey: Int) -> AgreementRun {
        var run = AgreementRun()
        for _ in 0..<keys {
            let signer = Signer()
            let verifier = Ed25519Verifier(publicKey: signer.publicKey)
            // Keys one bit away from the signer's, prepared once: tables are slow to build in debug builds.
            let mutatedKeys = (0..<4).map { _ in
                var key = signer.publicKey
                key[randomInt(below: 32)] ^= 1 << UInt8(randomInt(below: 8))
                return (key, Ed25519Verifier(publicKey: key))
            }
            for _ in 0..<messagesPerKey {
                var message = randomBytes(randomInt(below: 2049))
                var signature = signer.sign(message)
                var (key, keyVerifier) = (signer.publicKey, verifier)
                switch randomInt(below: 8) {
                case 0, 1: break
                case 2: signature[randomInt(below: 64)] ^= 1 << UInt8(randomInt(below: 8))
                case 3: signature[randomInt(below: 64)] = UInt8(randomInt(below: 256))
                case 4 where !message.isEmpty:
                    message[randomInt(below: message.count)] ^= 1 << UInt8(randomInt(below: 8))
                case 5: signature.replaceSubrange(32..<64, with: randomBytes(32))
                case 6: signature.replaceSubrange(0..<32, with: randomBytes(32))
                default: (key, keyVerifier) = mutatedKeys[randomInt(below: 4)]
                }
                let expected = sodiumAccepts(key: key, signature: signature, message: message)
                let actual = keyVerifier.verify(signature: signature, message: message)
                if actual != expected { run.disagreements.append("key \(key) signature \(signature)") }
                if expected { run.accepted += 1 } else { run.rejected += 1 }
            }
        }
        return run
    }

    @Test("S >= L is refused: S + L, S = L, and S with its top bits set")
    func nonCanonicalS() {
        let signer = Signer()
        let message = randomBytes(100)
        let signature = signer.sign(message)
        let verifier = Ed25519Verifier(publicKey: signer.publicKey)
        #expect(agree(verifier, key: signer.publicKey, signature: signature, message: message))

        let s = Array(signature[32...])
        var variants = [Reference.addIntegers(s, Reference.order), Reference.order]
        for topBits: UInt8 in [0x20, 0x40, 0x80, 0xe0] {
            var high = s
            high[31] |= topBits
            variants.append(high)
        }
        for variant in variants {
            let changed = Array(signature[..<32]) + variant
            #expect(!agree(verifier, key: signer.publicKey, signature: changed, message: message))
        }
        // L - 1 is canonical: its answer is whatever the equation says, here a rejection.
        var lMinusOne = Reference.order
        lMinusOne[0] -= 1
        agree(verifier, key: signer.publicKey, signature: Array(signature[..<32]) + lMinusOne, message: message)
    }

    /// The 14 encodings of the 8 small-order points: both sign bits, and y = p, p + 1 for y = 0, 1.
    static var smallOrderEncodings: [[UInt8]] {
        var encodings: [[UInt8]] = []
        for point in torsion {
            for sign: UInt8 in [0, 0x80] {
                var e = point
                e[31] = e[31] & 0x7f | sign
                if !encodings.contains(e) { encodings.append(e) }
            }
        }
        for base in [hex("edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
                     hex("eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f")] {
            encodings.append(base)
            var negative = base
            negative[31] |= 0x80
            encodings.append(negative)
        }
        return encodings
    }

    @Test("every small-order encoding is refused as R and as the key, as libsodium does")
    func smallOrderPoints() {
        let encodings = Self.smallOrderEncodings
        #expect(encodings.count == 14)
        // The torsion points really have order dividing 8, and [4]T8 != identity: computed by the code under test.
        let t8 = EdwardsPoint(decoding: torsion[0])!
        #expect(t8.doubled(times: 3) == EdwardsPoint.identity)
        #expect(!(t8.doubled(times: 2) == EdwardsPoint.identity))

        let signer = Signer()
        let message = randomBytes(64)
        let signature = signer.sign(message)
        let verifier = Ed25519Verifier(publicKey: signer.publicKey)
        for encoding in encodings {
            // As the key: refused outright, whatever the signature, including S = 0 and R among the torsion points
            // (for a key of order 8 or less, some of these satisfy the cofactorless equation).
            let keyVerifier = Ed25519Verifier(publicKey: encoding)
            #expect(!keyVerifier.isUsable)
            for r in encodings + [Array(signature[..<32])] {
                for s in [[UInt8](repeating: 0, count: 32), Array(signature[32...])] {
                    #expect(!agree(keyVerifier, key: encoding, signature: r + s, message: message))
                }
            }
            // As R, under a valid key.
            for s in [[UInt8](repeating: 0, count: 32), Array(signature[32...]), Reference.randomScalar()] {
                #expect(!agree(verifier, key: signer.publicKey, signature: encoding + s, message: message))
            }
            // As the key, with signatures that satisfy [S]B - [h]K = R whenever [h]K is the identity
            // (R = [r]B, S = r): always for y = 1, for half of the messages when K has order 2.
            let keyAsPoint = encoding.withUnsafeBytes { EdwardsPoint(decoding: $0.baseAddress!) }
            if keyAsPoint != nil {
                for _ in 0..<8 {
                    let r = Reference.randomScalar()
                    let forged = Reference.base(r) + r
                    #expect(!agree(keyVerifier, key: encoding, signature: forged, message: randomBytes(20)))
                }
            }
        }
    }

    @Test("small-order R satisfying the equation under a mixed-order key is refused, as libsodium refuses it")
    func smallOrderRThatVerifies() {
        // Key A = [a]B + T with T of order 8; S = h·a gives [S]B - [h]A = -[h]T, a torsion point. Trying each
        // torsion point as R finds, for about every other message, one with R = -[h(R)]T.
        let a = Reference.randomScalar()
        let key = Reference.add(Reference.base(a), torsion[0])
        let verifier = Ed25519Verifier(publicKey: key)
        let t = torsion[0].withUnsafeBytes { EdwardsPoint(decoding: $0.baseAddress!)! }
        var found = 0
        for _ in 0..<40 {
            let message = randomBytes(48)
            for r in torsion {
                let h = Reference.challenge(r, key, message)
                // -[h]T, computed from h mod 8 by repeated addition.
                var ht = EdwardsPoint.identity
                for _ in 0..<Int(h[0] % 8) { ht = ht + t }
                guard (-ht).encoded() == r else { continue }
                found += 1
                let s = Reference.mulAdd(h, a, [UInt8](repeating: 0, count: 32))
                #expect(!agree(verifier, key: key, signature: r + s, message: message))
            }
        }
        #expect(found > 5)
    }

    @Test("a key with y >= p, and keys not on the curve, are refused")
    func nonCanonicalAndInvalidKeys() {
        let message = randomBytes(32)
        let signature = Signer().sign(message)
        // y = p ... 2^255 - 1, both signs: 38 encodings, some of which decode (y mod p) to points on the curve.
        for low: UInt8 in 0xed...0xff {
            for sign: UInt8 in [0x7f, 0xff] {
                var key = [UInt8](repeating: 0xff, count: 32)
                key[0] = low
                key[31] = sign
                #expect(!Ed25519Verifier(publicKey: key).isUsable)
                #expect(!agree(key: key, signature: signature, message: message))
            }
        }
        // Random y that are not the y of any point.
        var offCurve = 0
        while offCurve < 50 {
            var key = randomBytes(32)
            key[31] &= 0x7f
            let decoded = key.withUnsafeBytes { EdwardsPoint(decoding: $0.baseAddress!) }
            guard decoded == nil else { continue }
            offCurve += 1
            #expect(!Ed25519Verifier(publicKey: key).isUsable)
            #expect(!agree(key: key, signature: signature, message: message))
        }
        // Wrong lengths.
        for count in [0, 31, 33, 64] {
            #expect(!Ed25519Verifier(publicKey: randomBytes(count)).verify(signature: signature, message: message))
        }
    }

    @Test("R + T for a torsion point T: mixed-order R is refused, as libsodium refuses it")
    func mixedOrderR() {
        let signer = Signer()
        let verifier = Ed25519Verifier(publicKey: signer.publicKey)
        for t in torsion.dropLast() {
            let message = randomBytes(randomInt(below: 300))
            let signature = signer.sign(message)
            let r = Reference.add(Array(signature[..<32]), t)
            #expect(!agree(verifier, key: signer.publicKey, signature: r + signature[32...], message: message))
        }
    }

    @Test("mixed-order keys A = [a]B + T: accepted exactly when libsodium accepts ([h]T = 0)")
    func mixedOrderKeys() {
        var accepted = 0
        var total = 0
        for t in torsion.dropLast() {
            let a = Reference.randomScalar()
            let key = Reference.add(Reference.base(a), t)
            let verifier = Ed25519Verifier(publicKey: key)
            #expect(verifier.isUsable)
            for _ in 0..<64 {
                // s = r + h·a: then [s]B - [h]A = R - [h]T, equal to R exactly when [h]T is the identity.
                let message = randomBytes(randomInt(below: 200))
                let r = Reference.randomScalar()
                var bigR = Reference.base(r)
                if randomInt(below: 4) == 0 { bigR = Reference.add(bigR, torsion[randomInt(below: 7)]) }  // mixed R too
                let h = Reference.challenge(bigR, key, message)
                let s = Reference.mulAdd(h, a, r)
                total += 1
                if agree(verifier, key: key, signature: bigR + s, message: message) { accepted += 1 }
            }
        }
        // With T of order 2, half of the h are even; overall some are accepted and most are refused.
        #expect(accepted > 0 && accepted < total, "accepted \(accepted) of \(total)")
    }

    @Test("empty message, wrong signature lengths, concurrent use")
    func lengthsAndSharing() async {
        let signer = Signer()
        let verifier = Ed25519Verifier(publicKey: signer.publicKey)
        let empty = signer.sign([])
        #expect(agree(verifier, key: signer.publicKey, signature: empty, message: []))
        #expect(!verifier.verify(signature: empty, message: [0]))
        for count in [0, 1, 32, 63, 65, 128] {
            let signature = Array((empty + empty).prefix(count))
            #expect(!verifier.verify(signature: signature, message: []))
        }
        let messages = (0..<64).map { _ in randomBytes(randomInt(below: 1600)) }
        let signatures = messages.map { signer.sign($0) }
        let results = await withTaskGroup(of: Int.self) { group in
            for worker in 0..<4 {
                group.addTask {
                    var ok = 0
                    for (i, message) in messages.enumerated() where i % 4 == worker {
                        if verifier.verify(signature: signatures[i], message: message) { ok += 1 }
                        if !verifier.verify(signature: signatures[(i + 1) % 64], message: message) { ok += 1 }
                    }
                    return ok
                }
            }
            return await group.reduce(0, +)
        }
        #expect(results == 128)
    }
}

@Suite("Curve25519 arithmetic")
struct Curve25519ArithmeticTests {
    @Test("[a]B + [b]P from the tables equals libsodium's, for several piece sizes and widths")
    func combination() {
        let p = Reference.base(Reference.randomScalar())
        let point = p.withUnsafeBytes { EdwardsPoint(decoding: $0.baseAddress!)! }
        let edgeScalars = [
            [UInt8](repeating: 0, count: 32), [1] + [UInt8](repeating: 0, count: 31),
            { var l = Reference.order; l[0] -= 1; return l }(),
            [UInt8](repeating: 0, count: 31) + [0x10], [UInt8](repeating: 0xff, count: 31) + [0x0f],
        ]
        for (pieceBits, width) in [(16, 7), (16, 8), (32, 5), (64, 6), (256, 5)] {
            let bTable = MultiplesTable(point: .basepoint, pieceBits: pieceBits, width: width)
            let pTable = MultiplesTable(point: point, pieceBits: pieceBits, width: 8 - (width - 5))
            var pairs = (0..<40).map { _ in (Reference.randomScalar(), Reference.randomScalar()) }
            for e in edgeScalars { pairs += [(e, Reference.randomScalar()), (Reference.randomScalar(), e)] }
            for (a, b) in pairs {
                let ours = a.withUnsafeBytes { a in
                    b.withUnsafeBytes { b in
                        MultiplesTable.combination(a.baseAddress!, bTable, b.baseAddress!, pTable).extended.encoded()
                    }
                }
                // libsodium refuses to return the identity; [0]X is skipped on its side.
                let aB: [UInt8]? = a.allSatisfy { $0 == 0 } ? nil : Reference.base(a)
                let bP: [UInt8]? = b.allSatisfy { $0 == 0 } ? nil : Reference.multiply(b, p)
                let expected: [UInt8]
                switch (aB, bP) {
                case let (x?, y?): expected = Reference.add(x, y)
                case let (x?, nil): expected = x
                case let (nil, y?): expected = y
                case (nil, nil): expected = [1] + [UInt8](repeating: 0, count: 31)
                }
                #expect(ours == expected, "pieceBits \(pieceBits) width \(width) a \(a) b \(b)")
            }
        }
    }

    @Test("NAF digits are odd, spaced, bounded, and sum back to the scalar")
    func nonAdjacentForm() {
        for width in 2...8 {
            for _ in 0..<200 {
                var scalar = randomBytes(32)
                scalar[31] &= 0x1f
                var digits = [Int8](repeating: 0, count: 256)
                scalar.withUnsafeBytes { s in
                    digits.withUnsafeMutableBufferPointer {
                        Scalar.nonAdjacentForm(s.baseAddress!, width: width, into: $0)
                    }
                }
                // Sum back, as a little-endian integer with signed byte arithmetic over 33 bytes.
                var sum = [Int](repeating: 0, count: 34)
                var last = -width
                for (i, d) in digits.enumerated() where d != 0 {
                    #expect(d % 2 != 0 && abs(Int(d)) < 1 << (width - 1))
                    #expect(i - last >= width)
                    last = i
                    sum[i / 8] += Int(d) << (i % 8)
                }
                for i in 0..<33 {
                    let carry = sum[i] >> 8  // arithmetic shift: floor division
                    sum[i] -= carry << 8
                    sum[i + 1] += carry
                }
                #expect(sum[0..<32].map { UInt8($0) } == scalar && sum[32] == 0 && sum[33] == 0)
            }
        }
    }

    @Test("field inversion, canonical reduction of y >= p, and decoding round trips")
    func field() {
        for _ in 0..<100 {
            var bytes = randomBytes(32)
            bytes[31] &= 0x7f
            let f = bytes.withUnsafeBytes { FieldElement(bytes: $0.baseAddress!) }
            if f.isZero { continue }
            #expect(f * f.inverted() == FieldElement.one)
            #expect(f.invertedVariableTime() == f.inverted())
            #expect((f * f).squared() == f.squared().squared() * FieldElement.one)
        }
        let edges = [FieldElement.one, -FieldElement.one, FieldElement(1 << 50, 0, 0, 0, 0), FieldElement.sqrtMinusOne]
        for edge in edges {
            #expect(edge.invertedVariableTime() == edge.inverted())
        }
        #expect(FieldElement.zero.invertedVariableTime().isZero)
        // p + k reads as k.
        for k: UInt8 in 0...18 {
            var bytes = [UInt8](repeating: 0xff, count: 32)
            bytes[0] = 0xed &+ k
            bytes[31] = 0x7f
            let f = bytes.withUnsafeBytes { FieldElement(bytes: $0.baseAddress!) }.canonical()
            #expect(f.l0 == UInt64(k) && f.l1 == 0 && f.l2 == 0 && f.l3 == 0 && f.l4 == 0)
        }
        for _ in 0..<50 {
            let encoding = Reference.base(Reference.randomScalar())
            let point = encoding.withUnsafeBytes { EdwardsPoint(decoding: $0.baseAddress!) }
            #expect(point?.encoded() == encoding)
            #expect(point.map { ($0 + $0).encoded() } == Reference.add(encoding, encoding))
        }
    }
}
