/// RFC 4648 base64. Output uses the standard alphabet with padding (§4); input accepts the standard and the
/// URL-safe alphabet (§5), with or without padding, as the wire format allows.
public enum Base64 {
    private static let alphabet: [UInt8] = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    /// 0...63 for a symbol of either alphabet, 0xff otherwise.
    private static let decodeTable: [UInt8] = {
        var t = [UInt8](repeating: 0xff, count: 256)
        for (i, c) in alphabet.enumerated() { t[Int(c)] = UInt8(i) }
        t[Int(UInt8(ascii: "-"))] = 62
        t[Int(UInt8(ascii: "_"))] = 63
        return t
    }()

    /// Standard base64 with padding.
    public static func encode<C: Collection>(_ bytes: C) -> String where C.Element == UInt8 {
        String(decoding: encodeToBytes(bytes), as: UTF8.self)
    }

    /// Standard base64 with padding, as ASCII bytes.
    public static func encodeToBytes<C: Collection>(_ bytes: C) -> [UInt8] where C.Element == UInt8 {
        let input = Array(bytes)
        var out = [UInt8]()
        out.reserveCapacity((input.count + 2) / 3 * 4)
        var i = 0
        while i + 3 <= input.count {
            let n = UInt32(input[i]) << 16 | UInt32(input[i + 1]) << 8 | UInt32(input[i + 2])
            out.append(alphabet[Int(n >> 18 & 63)])
            out.append(alphabet[Int(n >> 12 & 63)])
            out.append(alphabet[Int(n >> 6 & 63)])
            out.append(alphabet[Int(n & 63)])
            i += 3
        }
        let rest = input.count - i
        if rest > 0 {
            let n = UInt32(input[i]) << 16 | (rest == 2 ? UInt32(input[i + 1]) << 8 : 0)
            out.append(alphabet[Int(n >> 18 & 63)])
            out.append(alphabet[Int(n >> 12 & 63)])
            out.append(rest == 2 ? alphabet[Int(n >> 6 & 63)] : UInt8(ascii: "="))
            out.append(UInt8(ascii: "="))
        }
        return out
    }

    /// Decodes base64 text; nil when it is not valid base64 of either alphabet.
    public static func decode(_ text: some StringProtocol) -> [UInt8]? {
        if let decoded = text.utf8.withContiguousStorageIfAvailable({ decode($0) }) { return decoded }
        var utf8 = Array(text.utf8)
        return utf8.withUnsafeMutableBufferPointer { decode(UnsafeBufferPointer($0)) }
    }

    /// Decodes base64 from ASCII bytes; nil when invalid. Padding is optional, but when present it must be correct.
    public static func decode(_ input: UnsafeBufferPointer<UInt8>) -> [UInt8]? {
        var end = input.count
        var padding = 0
        while end > 0, input[end - 1] == UInt8(ascii: "=") {
            end -= 1
            padding += 1
        }
        guard padding <= 2 else { return nil }
        if padding > 0, input.count % 4 != 0 { return nil }
        let remainder = end % 4
        guard remainder != 1 else { return nil }
        var out = [UInt8]()
        out.reserveCapacity(end / 4 * 3 + 2)
        var i = 0
        let table = decodeTable
        while i + 4 <= end {
            let a = table[Int(input[i])], b = table[Int(input[i + 1])]
            let c = table[Int(input[i + 2])], d = table[Int(input[i + 3])]
            guard (a | b | c | d) & 0xc0 == 0 else { return nil }
            let n = UInt32(a) << 18 | UInt32(b) << 12 | UInt32(c) << 6 | UInt32(d)
            out.append(UInt8(n >> 16 & 0xff))
            out.append(UInt8(n >> 8 & 0xff))
            out.append(UInt8(n & 0xff))
            i += 4
        }
        if remainder >= 2 {
            let a = table[Int(input[i])], b = table[Int(input[i + 1])]
            guard (a | b) & 0xc0 == 0 else { return nil }
            var n = UInt32(a) << 18 | UInt32(b) << 12
            if remainder == 3 {
                let c = table[Int(input[i + 2])]
                guard c & 0xc0 == 0 else { return nil }
                n |= UInt32(c) << 6
                // Non-canonical trailing bits are rejected so that one payload has one encoding.
                guard n & 0xff == 0 else { return nil }
                out.append(UInt8(n >> 16 & 0xff))
                out.append(UInt8(n >> 8 & 0xff))
            } else {
                guard n & 0xffff == 0 else { return nil }
                out.append(UInt8(n >> 16 & 0xff))
            }
        }
        return out
    }
}
