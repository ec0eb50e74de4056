/// Shell-style patterns for trust scopes (wire format §5): `*` matches any run of characters (including `/`),
/// `?` one character; everything else matches itself. `ci://github.com/acme/*`, `mlops.training.*`.
public struct Glob: Sendable, Hashable, CustomStringConvertible {
    public let pattern: String
    private let chars: [Character]

    public init(_ pattern: String) {
        self.pattern = pattern
        self.chars = Array(pattern)
    }

    public var description: String { pattern }

    /// Whether `text` matches the whole pattern.
    public func matches(_ text: String) -> Bool {
        let t = Array(text)
        var p = 0, s = 0
        var starP = -1, starS = 0
        while s < t.count {
            if p < chars.count, chars[p] == "?" || (chars[p] != "*" && chars[p] == t[s]) {
                p += 1
                s += 1
            } else if p < chars.count, chars[p] == "*" {
                starP = p
                starS = s
                p += 1
            } else if starP >= 0 {
                p = starP + 1
                starS += 1
                s = starS
            } else {
                return false
            }
        }
        while p < chars.count, chars[p] == "*" { p += 1 }
        return p == chars.count
    }

    /// Whether any of `patterns` matches `text`.
    public static func any(_ patterns: [Glob], match text: String) -> Bool {
        patterns.contains { $0.matches(text) }
    }
}
