/// SHA-256 as specified in FIPS 180-4 §6.2, in pure Swift.
///
/// Whole 64-byte blocks are compressed straight from the caller's memory; only a trailing partial
/// block is copied into the hasher's fixed 64-byte buffer, so hashing allocates nothing but the digest.
public enum SHA256 {
    /// Length of a digest in bytes.
    public static let digestSize = 32

    /// Bytes per message block (FIPS 180-4 §5.2.1).
    static let blockSize = 64

    /// The digest of `data`. Contiguous collections are hashed in place; others are copied once.
    @inlinable
    public static func hash<C: Collection>(_ data: C) -> [UInt8] where C.Element == UInt8 {
        if let digest = data.withContiguousStorageIfAvailable({ hash(UnsafeRawBufferPointer($0)) }) {
            return digest
        }
        return Array(data).withUnsafeBytes { hash($0) }
    }

    /// The digest of the bytes in `buffer`.
    public static func hash(_ buffer: UnsafeRawBufferPointer) -> [UInt8] {
        var hasher = Hasher()
        hasher.update(buffer)
        return hasher.finalize()
    }

    /// Incremental SHA-256: feed the message in pieces of any size with `update`, then `finalize`.
    public struct Hasher: Sendable {
        /// H(i), the eight working hash words (FIPS 180-4 §6.2.2).
        var state: State
        /// Bytes of an incomplete block, waiting for more input.
        var pending: Block
        /// How many bytes of `pending` are in use (0..<64).
        var pendingCount: Int
        /// Message length so far in bytes (the padding encodes it in bits, modulo 2^64).
        var length: UInt64

        /// A hasher for the empty message.
        public init() {
            state = State()
            pending = Block()
            pendingCount = 0
            length = 0
        }

        /// Appends `data` to the message.
        @inlinable
        public mutating func update<C: Collection>(_ data: C) where C.Element == UInt8 {
            let done: Void? = data.withContiguousStorageIfAvailable { update(UnsafeRawBufferPointer($0)) }
            if done == nil {
                Array(data).withUnsafeBytes { update($0) }
            }
        }

        /// Appends the bytes in `buffer` to the message.
        public mutating func update(_ buffer: UnsafeRawBufferPointer) {
            guard var input = buffer.baseAddress, buffer.count > 0 else { return }
            var remaining = buffer.count
            length &+= UInt64(remaining)

            if pendingCount > 0 {
                let offset = pendingCount
                let take = min(SHA256.blockSize - offset, remaining)
                withUnsafeMutableBytes(of: &pending) { block in
                    (block.baseAddress! + offset).copyMemory(from: input, byteCount: take)
                }
                pendingCount += take
                input += take
                remaining -= take
                guard pendingCount == SHA256.blockSize else { return }
                let block = pending
                withUnsafeBytes(of: block) { SHA256.compress(&state, $0.baseAddress!, blocks: 1) }
                pendingCount = 0
            }

            let fullBlocks = remaining / SHA256.blockSize
            if fullBlocks > 0 {
                SHA256.compress(&state, input, blocks: fullBlocks)
                input += fullBlocks * SHA256.blockSize
                remaining -= fullBlocks * SHA256.blockSize
            }

            if remaining > 0 {
                let take = remaining
                withUnsafeMutableBytes(of: &pending) { block in
                    block.baseAddress!.copyMemory(from: input, byteCount: take)
                }
                pendingCount = take
            }
        }

        /// Pads the message (FIPS 180-4 §5.1.1), returns its digest and resets the hasher to the
        /// empty message.
        public mutating func finalize() -> [UInt8] {
            let bitLength = length &* 8
            var block = pending
            var state = self.state
            let used = pendingCount
            withUnsafeMutableBytes(of: &block) { bytes in
                bytes[used] = 0x80
                if used + 1 > SHA256.blockSize - 8 {
                    for i in (used + 1)..<SHA256.blockSize { bytes[i] = 0 }
                    SHA256.compress(&state, UnsafeRawPointer(bytes.baseAddress!), blocks: 1)
                    for i in 0..<(SHA256.blockSize - 8) { bytes[i] = 0 }
                } else {
                    for i in (used + 1)..<(SHA256.blockSize - 8) { bytes[i] = 0 }
                }
                bytes.storeBytes(of: bitLength.bigEndian, toByteOffset: SHA256.blockSize - 8, as: UInt64.self)
                SHA256.compress(&state, UnsafeRawPointer(bytes.baseAddress!), blocks: 1)
            }
            self = Hasher()
            return state.digest()
        }
    }

    /// The eight 32-bit words of the intermediate hash value.
    struct State: Sendable {
        var h0: UInt32 = 0x6a09_e667, h1: UInt32 = 0xbb67_ae85, h2: UInt32 = 0x3c6e_f372, h3: UInt32 = 0xa54f_f53a
        var h4: UInt32 = 0x510e_527f, h5: UInt32 = 0x9b05_688c, h6: UInt32 = 0x1f83_d9ab, h7: UInt32 = 0x5be0_cd19

        func digest() -> [UInt8] {
            var digest = [UInt8](repeating: 0, count: SHA256.digestSize)
            digest.withUnsafeMutableBytes { raw in
                raw.storeBytes(of: h0.bigEndian, toByteOffset: 0, as: UInt32.self)
                raw.storeBytes(of: h1.bigEndian, toByteOffset: 4, as: UInt32.self)
                raw.storeBytes(of: h2.bigEndian, toByteOffset: 8, as: UInt32.self)
                raw.storeBytes(of: h3.bigEndian, toByteOffset: 12, as: UInt32.self)
                raw.storeBytes(of: h4.bigEndian, toByteOffset: 16, as: UInt32.self)
                raw.storeBytes(of: h5.bigEndian, toByteOffset: 20, as: UInt32.self)
                raw.storeBytes(of: h6.bigEndian, toByteOffset: 24, as: UInt32.self)
                raw.storeBytes(of: h7.bigEndian, toByteOffset: 28, as: UInt32.self)
            }
            return digest
        }
    }

    /// 64 bytes of storage for a partial block, kept inline so a `Hasher` never allocates.
    struct Block: Sendable {
        var words: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0, 0, 0)
    }

    /// The round constants K0...K63 (FIPS 180-4 §4.2.2).
    static let roundConstants: [UInt32] = [
        0x428a_2f98, 0x7137_4491, 0xb5c0_fbcf, 0xe9b5_dba5, 0x3956_c25b, 0x59f1_11f1, 0x923f_82a4, 0xab1c_5ed5,
        0xd807_aa98, 0x1283_5b01, 0x2431_85be, 0x550c_7dc3, 0x72be_5d74, 0x80de_b1fe, 0x9bdc_06a7, 0xc19b_f174,
        0xe49b_69c1, 0xefbe_4786, 0x0fc1_9dc6, 0x240c_a1cc, 0x2de9_2c6f, 0x4a74_84aa, 0x5cb0_a9dc, 0x76f9_88da,
        0x983e_5152, 0xa831_c66d, 0xb003_27c8, 0xbf59_7fc7, 0xc6e0_0bf3, 0xd5a7_9147, 0x06ca_6351, 0x1429_2967,
        0x27b7_0a85, 0x2e1b_2138, 0x4d2c_6dfc, 0x5338_0d13, 0x650a_7354, 0x766a_0abb, 0x81c2_c92e, 0x9272_2c85,
        0xa2bf_e8a1, 0xa81a_664b, 0xc24b_8b70, 0xc76c_51a3, 0xd192_e819, 0xd699_0624, 0xf40e_3585, 0x106a_a070,
        0x19a4_c116, 0x1e37_6c08, 0x2748_774c, 0x34b0_bcb5, 0x391c_0cb3, 0x4ed8_aa4a, 0x5b9c_ca4f, 0x682e_6ff3,
        0x748f_82ee, 0x78a5_636f, 0x84c8_7814, 0x8cc7_0208, 0x90be_fffa, 0xa450_6ceb, 0xbef9_a3f7, 0xc671_78f2,
    ]

    @inline(__always)
    static func rotr(_ x: UInt32, _ n: UInt32) -> UInt32 {
        (x &>> n) | (x &<< (32 &- n))
    }

    /// One round of FIPS 180-4 §6.2.2 step 3 with the working variables renamed instead of shifted:
    /// the caller rotates the argument order, so only `d` (the next `e`) and `h` (the next `a`) change.
    @inline(__always)
    static func round(
        _ a: UInt32, _ b: UInt32, _ c: UInt32, _ d: inout UInt32,
        _ e: UInt32, _ f: UInt32, _ g: UInt32, _ h: inout UInt32, _ kw: UInt32
    ) {
        let t1 = h &+ (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) &+ (g ^ (e & (f ^ g))) &+ kw
        d &+= t1
        h = t1 &+ (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) &+ ((a & b) | (c & (a | b)))
    }

    /// W(t) of the message schedule (FIPS 180-4 §6.2.2 step 1) for 16 <= t < 64, stored into `w[t]`.
    @inline(__always)
    static func schedule(_ w: UnsafeMutablePointer<UInt32>, _ t: Int) -> UInt32 {
        let x = w[t &- 15], y = w[t &- 2]
        let s0 = rotr(x, 7) ^ rotr(x, 18) ^ (x &>> 3)
        let s1 = rotr(y, 17) ^ rotr(y, 19) ^ (y &>> 10)
        let word = w[t &- 16] &+ s0 &+ w[t &- 7] &+ s1
        w[t] = word
        return word
    }

    /// Runs the compression function (FIPS 180-4 §6.2.2) over `blocks` consecutive 64-byte blocks at
    /// `input`, which need not be aligned.
    static func compress(_ state: inout State, _ input: UnsafeRawPointer, blocks: Int) {
        roundConstants.withUnsafeBufferPointer { constants in
            withUnsafeTemporaryAllocation(of: UInt32.self, capacity: 64) { words in
                let k = constants.baseAddress!, w = words.baseAddress!
                var h0 = state.h0, h1 = state.h1, h2 = state.h2, h3 = state.h3
                var h4 = state.h4, h5 = state.h5, h6 = state.h6, h7 = state.h7
                var block = input
                for _ in 0..<blocks {
                    for t in 0..<16 {
                        w[t] = UInt32(bigEndian: block.loadUnaligned(fromByteOffset: 4 &* t, as: UInt32.self))
                    }
                    var a = h0, b = h1, c = h2, d = h3, e = h4, f = h5, g = h6, h = h7
                    var t = 0
                    while t < 16 {
                        round(a, b, c, &d, e, f, g, &h, k[t] &+ w[t])
                        round(h, a, b, &c, d, e, f, &g, k[t &+ 1] &+ w[t &+ 1])
                        round(g, h, a, &b, c, d, e, &f, k[t &+ 2] &+ w[t &+ 2])
                        round(f, g, h, &a, b, c, d, &e, k[t &+ 3] &+ w[t &+ 3])
                        round(e, f, g, &h, a, b, c, &d, k[t &+ 4] &+ w[t &+ 4])
                        round(d, e, f, &g, h, a, b, &c, k[t &+ 5] &+ w[t &+ 5])
                        round(c, d, e, &f, g, h, a, &b, k[t &+ 6] &+ w[t &+ 6])
                        round(b, c, d, &e, f, g, h, &a, k[t &+ 7] &+ w[t &+ 7])
                        t &+= 8
                    }
                    while t < 64 {
                        round(a, b, c, &d, e, f, g, &h, k[t] &+ schedule(w, t))
                        round(h, a, b, &c, d, e, f, &g, k[t &+ 1] &+ schedule(w, t &+ 1))
                        round(g, h, a, &b, c, d, e, &f, k[t &+ 2] &+ schedule(w, t &+ 2))
                        round(f, g, h, &a, b, c, d, &e, k[t &+ 3] &+ schedule(w, t &+ 3))
                        round(e, f, g, &h, a, b, c, &d, k[t &+ 4] &+ schedule(w, t &+ 4))
                        round(d, e, f, &g, h, a, b, &c, k[t &+ 5] &+ schedule(w, t &+ 5))
                        round(c, d, e, &f, g, h, a, &b, k[t &+ 6] &+ schedule(w, t &+ 6))
                        round(b, c, d, &e, f, g, h, &a, k[t &+ 7] &+ schedule(w, t &+ 7))
                        t &+= 8
                    }
                    h0 &+= a; h1 &+= b; h2 &+= c; h3 &+= d
                    h4 &+= e; h5 &+= f; h6 &+= g; h7 &+= h
                    block += SHA256.blockSize
                }
                state.h0 = h0; state.h1 = h1; state.h2 = h2; state.h3 = h3
                state.h4 = h4; state.h5 = h5; state.h6 = h6; state.h7 = h7
            }
        }
    }
}
