import LedgerStore

/// The argument of `apply_batch`: `[{"idx": N, "event": <CloudEvent>}, ...]` in log order, built from the
/// payload bytes as signed (never re-serialised), except where PostgreSQL's jsonb would refuse them.
enum ProjectionBatch {
    static func json(_ entries: [AppendedEntry]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(entries.reduce(2) { $0 + $1.payload.count + 24 })
        out.append(UInt8(ascii: "["))
        for (i, e) in entries.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            out.append(contentsOf: #"{"idx":"#.utf8)
            out.append(contentsOf: String(e.idx).utf8)
            out.append(contentsOf: #","event":"#.utf8)
            appendJSONBSafe(e.payload, to: &out)
            out.append(UInt8(ascii: "}"))
        }
        out.append(UInt8(ascii: "]"))
        return String(decoding: out, as: UTF8.self)
    }

    /// jsonb rejects the escape `\u0000` and unpaired surrogate escapes, which JSON allows; the projections get
    /// U+FFFD in their place (the log keeps the exact bytes). Only payloads with a `\u` escape take the slow path.
    static func appendJSONBSafe(_ payload: [UInt8], to out: inout [UInt8]) {
        let backslash = UInt8(ascii: "\\"), u = UInt8(ascii: "u")
        var hasUnicodeEscape = false
        payload.withUnsafeBufferPointer { p in
            var i = 0
            while i + 1 < p.count {
                if p[i] == backslash {
                    if p[i + 1] == u { hasUnicodeEscape = true; return }
                    i += 2
                } else {
                    i += 1
                }
            }
        }
        guard hasUnicodeEscape else {
            out.append(contentsOf: payload)
            return
        }
        let replacement = Array(#"\ufffd"#.utf8)
        var i = 0
        while i < payload.count {
            guard payload[i] == backslash, i + 1 < payload.count else {
                out.append(payload[i])
                i += 1
                continue
            }
            guard payload[i + 1] == u, let code = hex4(payload, i + 2) else {
                out.append(payload[i])
                out.append(payload[i + 1])
                i += 2
                continue
            }
            switch code {
            case 0:
                out.append(contentsOf: replacement)
                i += 6
            case 0xD800...0xDBFF:
                // A high surrogate is kept only with the low surrogate escape that must follow it.
                if i + 12 <= payload.count, payload[i + 6] == backslash, payload[i + 7] == u,
                   let low = hex4(payload, i + 8), (0xDC00...0xDFFF).contains(low) {
                    out.append(contentsOf: payload[i..<(i + 12)])
                    i += 12
                } else {
                    out.append(contentsOf: replacement)
                    i += 6
                }
            case 0xDC00...0xDFFF:
                out.append(contentsOf: replacement)
                i += 6
            default:
                out.append(contentsOf: payload[i..<(i + 6)])
                i += 6
            }
        }
    }

    private static func hex4(_ b: [UInt8], _ at: Int) -> Int? {
        guard at + 4 <= b.count else { return nil }
        var v = 0
        for k in at..<(at + 4) {
            let c = b[k]
            let d: Int
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): d = Int(c - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): d = Int(c - UInt8(ascii: "a")) + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): d = Int(c - UInt8(ascii: "A")) + 10
            default: return nil
            }
            v = v * 16 + d
        }
        return v
    }
}
