/// Scalars modulo the group order L = 2^252 + 27742317777372353535851937790883648493 (RFC 8032 §5.1),
/// as 32 little-endian bytes read as four 64-bit words.
enum Scalar {
    /// L, least significant word first.
    static let order: (UInt64, UInt64, UInt64, UInt64) = (0x5812_631a_5cf5_d3ed, 0x14de_f9de_a2f7_9cd6, 0, 1 << 60)

    @inline(__always)
    static func words(_ p: UnsafeRawPointer) -> (UInt64, UInt64, UInt64, UInt64) {
        @inline(__always) func load(_ i: Int) -> UInt64 {
            UInt64(littleEndian: p.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self))
        }
        return (load(0), load(1), load(2), load(3))
    }

    /// Whether the 32 bytes at `p`, as an integer, are below L: the check of S in RFC 8032 §5.1.7 step 1
    /// (libsodium's `sc25519_is_canonical`).
    static func isCanonical(_ p: UnsafeRawPointer) -> Bool {
        let s = words(p)
        let l = order
        if s.3 != l.3 { return s.3 < l.3 }
        if s.2 != l.2 { return s.2 < l.2 }
        if s.1 != l.1 { return s.1 < l.1 }
        return s.0 < l.0
    }

    /// Writes the width-`width` non-adjacent form of the scalar at `p` (below 2^253) into `digits`, one signed
    /// digit per bit position, zero or odd with absolute value below 2^(width-1) (width 2...8). `digits` must hold
    /// at least 256 entries and is overwritten. At most one digit in any `width` consecutive positions is non-zero.
    static func nonAdjacentForm(_ p: UnsafeRawPointer, width: Int, into digits: UnsafeMutableBufferPointer<Int8>) {
        @inline(__always) func word(_ i: Int) -> UInt64 {
            UInt64(littleEndian: p.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self))
        }
        digits.update(repeating: 0)
        let windowMask: UInt64 = (1 << width) - 1
        let half: UInt64 = 1 << (width - 1)
        var carry: UInt64 = 0
        var position = 0
        while position < 256 {
            let index = position &>> 6
            let shift = position & 63
            var bits = word(index) &>> shift
            if shift != 0 && index < 3 {
                bits |= word(index + 1) &<< (64 - shift)
            }
            if carry == 0 {
                // Skip a run of zero bits in one step.
                guard bits != 0 else {
                    position = (index + 1) &<< 6
                    continue
                }
                let zeros = bits.trailingZeroBitCount
                if zeros > 0 {
                    position &+= zeros
                    continue
                }
            }
            let window = (bits & windowMask) &+ carry
            if window & 1 == 0 {
                // A set bit plus the carry: digit 0 here, the carry moves up one position.
                position &+= 1
                continue
            }
            if window < half {
                digits[position] = Int8(truncatingIfNeeded: window)
                carry = 0
            } else {
                digits[position] = Int8(truncatingIfNeeded: Int64(bitPattern: window) &- Int64(1 << width))
                carry = 1
            }
            position &+= width
        }
    }
}
