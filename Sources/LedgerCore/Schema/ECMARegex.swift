/// A regular expression in the ECMA-262 dialect that JSON Schema prescribes for `pattern` and `patternProperties`
/// (JSON Schema 2020-12 core §6.4; validation §6.3.3), read as with the `u` flag: the pattern and the input are
/// sequences of Unicode code points.
///
/// Supported: literals and escapes (`\t \n \v \f \r \0 \cX \xHH \uHHHH \u{H…}` and escaped syntax characters), `.`,
/// classes `[…]` and `[^…]` with ranges, `\d \D \w \W \s \S`, `\p{…}` / `\P{…}` for General_Category values and
/// a few binary properties, groups `(…)`, `(?:…)`, `(?<name>…)`, alternation, the quantifiers `* + ? {n} {n,} {n,m}`
/// (greedy or lazy: the same for a yes/no answer), and the assertions `^ $ \b \B` (no `m` flag: `^` and `$` are the
/// ends of the input, and `$` does not match before a final newline). Backreferences and lookaround are rejected.
///
/// Matching never backtracks, so its cost is linear in the input whatever the pattern; a match may start anywhere
/// (`pattern` is not anchored). The pattern compiles to a Thompson NFA and, when it has no `\b`/`\B`, to a DFA over
/// ASCII as well: ASCII input (every identifier, digest and location code) then costs one table lookup a byte,
/// and other input runs the NFA simulation. A class, so that a compiled check holding one is cheap to copy.
final class ECMARegex: Sendable {
    /// The pattern as written in the schema.
    let source: String
    private let program: [Instruction]
    private let sets: [ScalarSet]
    /// Every alternative starts with `^`: only position 0 can start a match.
    private let anchoredAtStart: Bool
    private let dfa: AsciiDFA?

    init(_ pattern: String) throws(ECMARegexError) {
        var parser = RegexParser(Array(pattern.unicodeScalars))
        let tree = try parser.parse()
        var compiler = RegexCompiler()
        try compiler.emit(tree)
        compiler.append(.match)
        source = pattern
        program = compiler.program
        sets = parser.sets
        anchoredAtStart = tree.isAnchoredAtStart
        dfa = AsciiDFA(program: compiler.program, sets: parser.sets)
    }

    /// Whether the pattern matches somewhere in `text`.
    func matches(_ text: String) -> Bool {
        var text = text
        return text.withUTF8 { input in
            if let dfa, let answer = dfa.run(input) { return answer }
            return run(input)
        }
    }

    /// Whether the DFA is in use (for tests).
    var hasDFA: Bool { dfa != nil }

    /// The answer of the DFA alone (nil: non-ASCII input or no DFA) and of the NFA alone, for tests that check
    /// that the two agree.
    func answers(_ text: String) -> (dfa: Bool?, nfa: Bool) {
        var text = text
        return text.withUTF8 { (dfa?.run($0), run($0)) }
    }

    private func run(_ input: UnsafeBufferPointer<UInt8>) -> Bool {
        let n = program.count
        return withUnsafeTemporaryAllocation(of: Int32.self, capacity: 5 * n + 2) { memory -> Bool in
            let base = memory.baseAddress!
            // marks[pc] == generation: pc is already in the list being built. current/next: the thread lists.
            // stack: the closure's work list; each pc is expanded once per generation and pushes at most 2.
            let marks = base
            var current = base + n
            var next = base + 2 * n
            let stack = base + 3 * n
            marks.initialize(repeating: -1, count: n)
            var currentCount = 0
            var generation: Int32 = 0
            var position = 0

            // Follows jumps, splits and assertions from `start`, adding the threads that consume input to `list`.
            // Returns true when the match state is reached.
            func addThread(
                _ start: Int32, _ list: UnsafeMutablePointer<Int32>, _ count: inout Int, at pos: Int
            ) -> Bool {
                var top = 0
                stack[top] = start
                top += 1
                while top > 0 {
                    top -= 1
                    let pc = Int(stack[top])
                    if marks[pc] == generation { continue }
                    marks[pc] = generation
                    switch program[pc] {
                    case .match:
                        return true
                    case .jump(let target):
                        stack[top] = target
                        top += 1
                    case .split(let a, let b):
                        stack[top] = b
                        stack[top + 1] = a
                        top += 2
                    case .assertStart:
                        if pos == 0 { stack[top] = Int32(pc + 1); top += 1 }
                    case .assertEnd:
                        if pos == input.count { stack[top] = Int32(pc + 1); top += 1 }
                    case .wordBoundary(let expected):
                        let before = pos > 0 && Self.isWordByte(input[pos - 1])
                        let after = pos < input.count && Self.isWordByte(input[pos])
                        if (before != after) == expected { stack[top] = Int32(pc + 1); top += 1 }
                    case .set, .any:
                        list[count] = Int32(pc)
                        count += 1
                    }
                }
                return false
            }

            while true {
                if position == 0 || !anchoredAtStart {
                    if addThread(0, current, &currentCount, at: position) { return true }
                }
                if currentCount == 0 && (anchoredAtStart || position >= input.count) { return false }
                if position >= input.count { return false }
                let (scalar, length) = Self.decode(input, at: position)
                position += length
                generation += 1
                var nextCount = 0
                for i in 0..<currentCount {
                    let pc = Int(current[i])
                    let consumes: Bool
                    switch program[pc] {
                    case .set(let index): consumes = sets[Int(index)].contains(scalar)
                    case .any: consumes = !Self.isLineTerminator(scalar)
                    default: consumes = false
                    }
                    if consumes, addThread(Int32(pc + 1), next, &nextCount, at: position) { return true }
                }
                swap(&current, &next)
                currentCount = nextCount
            }
        }
    }

    @inline(__always)
    private static func isWordByte(_ b: UInt8) -> Bool {
        (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) || b == 0x5f
    }

    @inline(__always)
    private static func isLineTerminator(_ c: UInt32) -> Bool {
        c == 0x0a || c == 0x0d || c == 0x2028 || c == 0x2029
    }

    /// Decodes the scalar at `i` of valid UTF-8 (Swift strings always are).
    @inline(__always)
    private static func decode(_ s: UnsafeBufferPointer<UInt8>, at i: Int) -> (UInt32, Int) {
        let b0 = UInt32(s[i])
        if b0 < 0x80 { return (b0, 1) }
        if b0 < 0xe0 { return ((b0 & 0x1f) << 6 | UInt32(s[i + 1] & 0x3f), 2) }
        if b0 < 0xf0 {
            return ((b0 & 0x0f) << 12 | UInt32(s[i + 1] & 0x3f) << 6 | UInt32(s[i + 2] & 0x3f), 3)
        }
        return ((b0 & 0x07) << 18 | UInt32(s[i + 1] & 0x3f) << 12 | UInt32(s[i + 2] & 0x3f) << 6
            | UInt32(s[i + 3] & 0x3f), 4)
    }
}

/// Why a pattern is not accepted; `offset` counts code points from the start of the pattern.
struct ECMARegexError: Error, Sendable, Equatable {
    let message: String
    let offset: Int
}

// MARK: - Character sets

/// A set of code points: ranges and Unicode property tests, possibly complemented, with a bitmap for ASCII.
struct ScalarSet: Sendable {
    var ranges: [ClosedRange<UInt32>] = []
    var properties: [UnicodeProperty] = []
    var negated = false
    private var asciiLow: UInt64 = 0
    private var asciiHigh: UInt64 = 0

    init(ranges: [ClosedRange<UInt32>] = [], properties: [UnicodeProperty] = [], negated: Bool = false) {
        self.ranges = ranges
        self.properties = properties
        self.negated = negated
        for c in UInt32(0)..<128 where slowContains(c) {
            if c < 64 { asciiLow |= 1 << UInt64(c) } else { asciiHigh |= 1 << UInt64(c - 64) }
        }
    }

    static func scalar(_ c: UInt32) -> ScalarSet { ScalarSet(ranges: [c...c]) }

    @inline(__always)
    func contains(_ c: UInt32) -> Bool {
        if c < 64 { return asciiLow & (1 << UInt64(c)) != 0 }
        if c < 128 { return asciiHigh & (1 << UInt64(c - 64)) != 0 }
        return slowContains(c)
    }

    private func slowContains(_ c: UInt32) -> Bool {
        var found = false
        for r in ranges where r.contains(c) { found = true; break }
        if !found {
            for p in properties where p.matches(c) { found = true; break }
        }
        return found != negated
    }

    static let digits: [ClosedRange<UInt32>] = [0x30...0x39]
    static let wordCharacters: [ClosedRange<UInt32>] = [0x30...0x39, 0x41...0x5a, 0x5f...0x5f, 0x61...0x7a]
    /// ECMA-262 WhiteSpace and LineTerminator.
    static let whiteSpace: [ClosedRange<UInt32>] = [
        0x09...0x0d, 0x20...0x20, 0xa0...0xa0, 0x1680...0x1680, 0x2000...0x200a, 0x2028...0x2029,
        0x202f...0x202f, 0x205f...0x205f, 0x3000...0x3000, 0xfeff...0xfeff,
    ]

    /// The complement of sorted, non-overlapping ranges within 0...0x10FFFF.
    static func complement(_ ranges: [ClosedRange<UInt32>]) -> [ClosedRange<UInt32>] {
        var out: [ClosedRange<UInt32>] = []
        var next: UInt32 = 0
        for r in ranges.sorted(by: { $0.lowerBound < $1.lowerBound }) {
            if r.lowerBound > next { out.append(next...(r.lowerBound - 1)) }
            next = max(next, r.upperBound + 1)
        }
        if next <= 0x10ffff { out.append(next...0x10ffff) }
        return out
    }
}

/// A `\p{…}` test: General_Category values (as a bit mask over the categories) or a binary property.
struct UnicodeProperty: Sendable {
    enum Kind: Sendable {
        case categories(UInt32)
        case alphabetic, whiteSpace, uppercase, lowercase, idStart, idContinue, any, ascii, assigned
    }
    let kind: Kind
    let negated: Bool

    func matches(_ c: UInt32) -> Bool {
        guard let scalar = Unicode.Scalar(c) else { return negated }
        let p = scalar.properties
        let result: Bool
        switch kind {
        case .categories(let mask): result = mask & (1 << Self.categoryBit(p.generalCategory)) != 0
        case .alphabetic: result = p.isAlphabetic
        case .whiteSpace: result = p.isWhitespace
        case .uppercase: result = p.isUppercase
        case .lowercase: result = p.isLowercase
        case .idStart: result = p.isIDStart
        case .idContinue: result = p.isIDContinue
        case .any: result = true
        case .ascii: result = c < 0x80
        case .assigned: result = p.generalCategory != .unassigned
        }
        return result != negated
    }

    static func categoryBit(_ category: Unicode.GeneralCategory) -> UInt32 {
        switch category {
        case .uppercaseLetter: return 0
        case .lowercaseLetter: return 1
        case .titlecaseLetter: return 2
        case .modifierLetter: return 3
        case .otherLetter: return 4
        case .nonspacingMark: return 5
        case .spacingMark: return 6
        case .enclosingMark: return 7
        case .decimalNumber: return 8
        case .letterNumber: return 9
        case .otherNumber: return 10
        case .connectorPunctuation: return 11
        case .dashPunctuation: return 12
        case .openPunctuation: return 13
        case .closePunctuation: return 14
        case .initialPunctuation: return 15
        case .finalPunctuation: return 16
        case .otherPunctuation: return 17
        case .mathSymbol: return 18
        case .currencySymbol: return 19
        case .modifierSymbol: return 20
        case .otherSymbol: return 21
        case .spaceSeparator: return 22
        case .lineSeparator: return 23
        case .paragraphSeparator: return 24
        case .control: return 25
        case .format: return 26
        case .surrogate: return 27
        case .privateUse: return 28
        case .unassigned: return 29
        @unknown default: return 29
        }
    }

    /// General_Category value aliases (Unicode PropertyValueAliases.txt) -> category bits.
    static let categoryNames: [String: UInt32] = {
        func bits(_ list: [Int]) -> UInt32 { list.reduce(0) { $0 | 1 << UInt32($1) } }
        let table: [([String], [Int])] = [
            (["Lu", "Uppercase_Letter"], [0]), (["Ll", "Lowercase_Letter"], [1]), (["Lt", "Titlecase_Letter"], [2]),
            (["LC", "Cased_Letter"], [0, 1, 2]), (["Lm", "Modifier_Letter"], [3]), (["Lo", "Other_Letter"], [4]),
            (["L", "Letter"], [0, 1, 2, 3, 4]),
            (["Mn", "Nonspacing_Mark"], [5]), (["Mc", "Spacing_Mark"], [6]), (["Me", "Enclosing_Mark"], [7]),
            (["M", "Mark", "Combining_Mark"], [5, 6, 7]),
            (["Nd", "Decimal_Number", "digit"], [8]), (["Nl", "Letter_Number"], [9]), (["No", "Other_Number"], [10]),
            (["N", "Number"], [8, 9, 10]),
            (["Pc", "Connector_Punctuation"], [11]), (["Pd", "Dash_Punctuation"], [12]),
            (["Ps", "Open_Punctuation"], [13]), (["Pe", "Close_Punctuation"], [14]),
            (["Pi", "Initial_Punctuation"], [15]), (["Pf", "Final_Punctuation"], [16]),
            (["Po", "Other_Punctuation"], [17]), (["P", "Punctuation", "punct"], Array(11...17)),
            (["Sm", "Math_Symbol"], [18]), (["Sc", "Currency_Symbol"], [19]), (["Sk", "Modifier_Symbol"], [20]),
            (["So", "Other_Symbol"], [21]), (["S", "Symbol"], [18, 19, 20, 21]),
            (["Zs", "Space_Separator"], [22]), (["Zl", "Line_Separator"], [23]),
            (["Zp", "Paragraph_Separator"], [24]), (["Z", "Separator"], [22, 23, 24]),
            (["Cc", "Control", "cntrl"], [25]), (["Cf", "Format"], [26]), (["Cs", "Surrogate"], [27]),
            (["Co", "Private_Use"], [28]), (["Cn", "Unassigned"], [29]), (["C", "Other"], [25, 26, 27, 28, 29]),
        ]
        var m: [String: UInt32] = [:]
        for (names, list) in table { for n in names { m[n] = bits(list) } }
        return m
    }()

    static let binaryNames: [String: Kind] = [
        "Alphabetic": .alphabetic, "Alpha": .alphabetic, "White_Space": .whiteSpace, "space": .whiteSpace,
        "Uppercase": .uppercase, "Upper": .uppercase, "Lowercase": .lowercase, "Lower": .lowercase,
        "ID_Start": .idStart, "IDS": .idStart, "ID_Continue": .idContinue, "IDC": .idContinue,
        "Any": .any, "ASCII": .ascii, "Assigned": .assigned,
    ]
}

// MARK: - Parsing

/// The pattern's syntax tree.
indirect enum RegexNode: Sendable {
    case empty
    /// One code point of the parser's `sets[index]`.
    case set(Int32)
    case any
    case sequence([RegexNode])
    case alternation([RegexNode])
    case repetition(RegexNode, min: Int, max: Int?)
    case assertStart
    case assertEnd
    case wordBoundary(Bool)

    var isAnchoredAtStart: Bool {
        switch self {
        case .assertStart: return true
        case .sequence(let items): return items.first?.isAnchoredAtStart ?? false
        case .alternation(let items): return items.allSatisfy(\.isAnchoredAtStart)
        default: return false
        }
    }
}

/// A recursive-descent parser for the ECMA-262 Pattern grammar (§22.2.1) with the `u` flag.
struct RegexParser {
    private let s: [Unicode.Scalar]
    private var i = 0
    private var depth = 0
    /// The character sets the tree refers to by index (a `{64}` repeats an index, not the set).
    private(set) var sets: [ScalarSet] = []

    init(_ scalars: [Unicode.Scalar]) { s = scalars }

    mutating func parse() throws(ECMARegexError) -> RegexNode {
        let node = try parseDisjunction()
        if i < s.count { throw fail("unmatched )") }
        return node
    }

    private func fail(_ message: String) -> ECMARegexError { ECMARegexError(message: message, offset: i) }

    private var peek: Unicode.Scalar? { i < s.count ? s[i] : nil }

    private mutating func node(_ set: ScalarSet) -> RegexNode {
        sets.append(set)
        return .set(Int32(sets.count - 1))
    }

    private mutating func eat(_ c: Unicode.Scalar) -> Bool {
        if peek == c { i += 1; return true }
        return false
    }

    private mutating func parseDisjunction() throws(ECMARegexError) -> RegexNode {
        depth += 1
        defer { depth -= 1 }
        if depth > 64 { throw fail("groups nested too deeply") }
        var alternatives = [try parseAlternative()]
        while eat("|") { alternatives.append(try parseAlternative()) }
        return alternatives.count == 1 ? alternatives[0] : .alternation(alternatives)
    }

    private mutating func parseAlternative() throws(ECMARegexError) -> RegexNode {
        var items: [RegexNode] = []
        while let c = peek, c != "|", c != ")" {
            items.append(try parseTerm())
        }
        if items.isEmpty { return .empty }
        return items.count == 1 ? items[0] : .sequence(items)
    }

    private mutating func parseTerm() throws(ECMARegexError) -> RegexNode {
        let c = peek!
        switch c {
        case "^": i += 1; return try noQuantifier(.assertStart)
        case "$": i += 1; return try noQuantifier(.assertEnd)
        case "\\" where i + 1 < s.count && (s[i + 1] == "b" || s[i + 1] == "B"):
            let expected = s[i + 1] == "b"
            i += 2
            return try noQuantifier(.wordBoundary(expected))
        default:
            let atom = try parseAtom()
            return try parseQuantifier(atom)
        }
    }

    private mutating func noQuantifier(_ node: RegexNode) throws(ECMARegexError) -> RegexNode {
        if let c = peek, c == "*" || c == "+" || c == "?" || c == "{" { throw fail("an assertion cannot be repeated") }
        return node
    }

    private mutating func parseAtom() throws(ECMARegexError) -> RegexNode {
        let c = peek!
        switch c {
        case ".":
            i += 1
            return .any
        case "(":
            i += 1
            if eat("?") {
                if eat(":") {
                    // non-capturing group
                } else if peek == "<", i + 1 < s.count, s[i + 1] != "=", s[i + 1] != "!" {
                    i += 1
                    try parseGroupName()
                } else {
                    throw fail("lookaround assertions are not supported")
                }
            }
            let inner = try parseDisjunction()
            guard eat(")") else { throw fail("missing )") }
            return inner
        case "[":
            i += 1
            return node(try parseClass())
        case "\\":
            i += 1
            return try parseAtomEscape()
        case "*", "+", "?":
            throw fail("nothing to repeat")
        case "{", "}", "]":
            throw fail("lone \(c) (escape it)")
        default:
            i += 1
            return node(.scalar(c.value))
        }
    }

    private mutating func parseGroupName() throws(ECMARegexError) {
        let start = i
        while let c = peek, c != ">" {
            guard c.properties.isIDContinue || c == "$" else { throw fail("invalid group name") }
            i += 1
        }
        guard i > start, eat(">") else { throw fail("invalid group name") }
    }

    private mutating func parseQuantifier(_ atom: RegexNode) throws(ECMARegexError) -> RegexNode {
        guard let c = peek else { return atom }
        var min = 0
        var max: Int?
        switch c {
        case "*": i += 1
        case "+": i += 1; min = 1
        case "?": i += 1; max = 1
        case "{":
            i += 1
            guard let lower = parseDecimal() else { throw fail("lone { (escape it)") }
            min = lower
            max = lower
            if eat(",") {
                max = parseDecimal()
            }
            guard eat("}") else { throw fail("invalid quantifier") }
            if let m = max, m < min { throw fail("quantifier range out of order") }
            if min > 1000 || (max ?? 0) > 1000 { throw fail("repetition count above 1000") }
        default:
            return atom
        }
        _ = eat("?")  // lazy: the same language, so the same yes/no answer
        if let next = peek, next == "*" || next == "+" || next == "?" || next == "{" {
            throw fail("nothing to repeat")
        }
        return .repetition(atom, min: min, max: max)
    }

    private mutating func parseDecimal() -> Int? {
        let start = i
        var v = 0
        while let c = peek, c.value >= 0x30 && c.value <= 0x39 {
            v = Swift.min(v * 10 + Int(c.value - 0x30), 1_000_000)
            i += 1
        }
        return i > start ? v : nil
    }

    private mutating func parseAtomEscape() throws(ECMARegexError) -> RegexNode {
        guard let c = peek else { throw fail("\\ at end of pattern") }
        if let set = try parseClassEscape() { return node(set) }
        if c.value >= 0x31 && c.value <= 0x39 { throw fail("backreferences are not supported") }
        if c == "k" { throw fail("backreferences are not supported") }
        return node(.scalar(try parseCharacterEscape(inClass: false)))
    }

    /// `\d \D \s \S \w \W \p{…} \P{…}`, or nil (nothing consumed) for any other escape.
    private mutating func parseClassEscape() throws(ECMARegexError) -> ScalarSet? {
        guard let c = peek else { return nil }
        switch c {
        case "d": i += 1; return ScalarSet(ranges: ScalarSet.digits)
        case "D": i += 1; return ScalarSet(ranges: ScalarSet.complement(ScalarSet.digits))
        case "s": i += 1; return ScalarSet(ranges: ScalarSet.whiteSpace)
        case "S": i += 1; return ScalarSet(ranges: ScalarSet.complement(ScalarSet.whiteSpace))
        case "w": i += 1; return ScalarSet(ranges: ScalarSet.wordCharacters)
        case "W": i += 1; return ScalarSet(ranges: ScalarSet.complement(ScalarSet.wordCharacters))
        case "p", "P":
            i += 1
            return ScalarSet(properties: [try parseProperty(negated: c == "P")])
        default: return nil
        }
    }

    private mutating func parseProperty(negated: Bool) throws(ECMARegexError) -> UnicodeProperty {
        guard eat("{") else { throw fail("\\p needs {name}") }
        var text = ""
        while let c = peek, c != "}" {
            text.unicodeScalars.append(c)
            i += 1
        }
        guard eat("}") else { throw fail("\\p{ without }") }
        let parts = text.split(separator: "=", omittingEmptySubsequences: false).map(String.init)
        if parts.count == 2 {
            guard parts[0] == "General_Category" || parts[0] == "gc" else {
                throw fail("Unicode property \(parts[0]) is not supported")
            }
            guard let mask = UnicodeProperty.categoryNames[parts[1]] else { throw fail("unknown General_Category") }
            return UnicodeProperty(kind: .categories(mask), negated: negated)
        }
        if let mask = UnicodeProperty.categoryNames[text] {
            return UnicodeProperty(kind: .categories(mask), negated: negated)
        }
        if let kind = UnicodeProperty.binaryNames[text] { return UnicodeProperty(kind: kind, negated: negated) }
        throw fail("Unicode property \(text) is not supported")
    }

    /// One escaped code point, after the backslash.
    private mutating func parseCharacterEscape(inClass: Bool) throws(ECMARegexError) -> UInt32 {
        guard let c = peek else { throw fail("\\ at end of pattern") }
        i += 1
        switch c {
        case "t": return 0x09
        case "n": return 0x0a
        case "v": return 0x0b
        case "f": return 0x0c
        case "r": return 0x0d
        case "0":
            if let d = peek, d.value >= 0x30 && d.value <= 0x39 { throw fail("octal escapes are not allowed") }
            return 0
        case "c":
            guard let l = peek, (l.value >= 0x41 && l.value <= 0x5a) || (l.value >= 0x61 && l.value <= 0x7a)
            else { throw fail("\\c needs a letter") }
            i += 1
            return l.value % 32
        case "x":
            guard let v = parseHex(count: 2) else { throw fail("\\x needs two hex digits") }
            return v
        case "u":
            if eat("{") {
                var v: UInt32 = 0
                var n = 0
                while let d = peek, let h = Self.hexValue(d) {
                    v = v * 16 + h
                    n += 1
                    i += 1
                    if v > 0x10ffff { throw fail("code point above U+10FFFF") }
                }
                guard n > 0, eat("}") else { throw fail("invalid \\u{…}") }
                return v
            }
            guard let v = parseHex(count: 4) else { throw fail("\\u needs four hex digits") }
            if v >= 0xd800 && v < 0xdc00, i + 5 < s.count, s[i] == "\\", s[i + 1] == "u" {
                let save = i
                i += 2
                if let low = parseHex(count: 4), low >= 0xdc00 && low < 0xe000 {
                    return 0x10000 + ((v - 0xd800) << 10) + (low - 0xdc00)
                }
                i = save
            }
            return v
        case "b" where inClass: return 0x08
        case "-" where inClass: return 0x2d
        case "^", "$", "\\", ".", "*", "+", "?", "(", ")", "[", "]", "{", "}", "|", "/":
            return c.value
        default:
            i -= 1
            throw fail("invalid escape \\\(c)")
        }
    }

    private mutating func parseHex(count: Int) -> UInt32? {
        guard i + count <= s.count else { return nil }
        var v: UInt32 = 0
        for k in 0..<count {
            guard let h = Self.hexValue(s[i + k]) else { return nil }
            v = v * 16 + h
        }
        i += count
        return v
    }

    private static func hexValue(_ c: Unicode.Scalar) -> UInt32? {
        switch c.value {
        case 0x30...0x39: return c.value - 0x30
        case 0x41...0x46: return c.value - 0x41 + 10
        case 0x61...0x66: return c.value - 0x61 + 10
        default: return nil
        }
    }

    /// A class after its `[`, through the closing `]`.
    private mutating func parseClass() throws(ECMARegexError) -> ScalarSet {
        let negated = eat("^")
        var ranges: [ClosedRange<UInt32>] = []
        var properties: [UnicodeProperty] = []
        while true {
            guard let c = peek else { throw fail("missing ]") }
            if c == "]" { i += 1; break }
            let first = try parseClassAtom()
            if peek == "-", i + 1 < s.count, s[i + 1] != "]" {
                i += 1
                let second = try parseClassAtom()
                guard case .scalar(let low) = first, case .scalar(let high) = second else {
                    throw fail("a class escape cannot bound a range")
                }
                guard low <= high else { throw fail("class range out of order") }
                ranges.append(low...high)
                continue
            }
            switch first {
            case .scalar(let v): ranges.append(v...v)
            case .set(let set):
                if set.properties.isEmpty {
                    ranges.append(contentsOf: set.ranges)
                } else {
                    properties.append(contentsOf: set.properties)
                }
            }
        }
        return ScalarSet(ranges: ranges, properties: properties, negated: negated)
    }

    private enum ClassAtom {
        case scalar(UInt32)
        case set(ScalarSet)
    }

    private mutating func parseClassAtom() throws(ECMARegexError) -> ClassAtom {
        let c = peek!
        if c != "\\" {
            i += 1
            return .scalar(c.value)
        }
        i += 1
        if let set = try parseClassEscape() { return .set(set) }
        guard let e = peek else { throw fail("\\ at end of pattern") }
        if e.value >= 0x31 && e.value <= 0x39 { throw fail("backreferences are not supported") }
        return .scalar(try parseCharacterEscape(inClass: true))
    }
}

// MARK: - Compiling to an NFA

enum Instruction: Sendable {
    /// Consume one code point in `sets[index]`.
    case set(Int32)
    /// Consume any code point but a line terminator.
    case any
    case split(Int32, Int32)
    case jump(Int32)
    case assertStart
    case assertEnd
    /// `\b` (true) or `\B` (false).
    case wordBoundary(Bool)
    case match
}

/// Thompson's construction over `RegexNode`.
struct RegexCompiler {
    var program: [Instruction] = []
    static let maxInstructions = 20_000

    mutating func append(_ instruction: Instruction) {
        program.append(instruction)
    }

    private var here: Int32 { Int32(program.count) }

    mutating func emit(_ node: RegexNode) throws(ECMARegexError) {
        guard program.count < Self.maxInstructions else {
            throw ECMARegexError(message: "pattern too large", offset: 0)
        }
        switch node {
        case .empty: break
        case .set(let index): append(.set(index))
        case .any: append(.any)
        case .assertStart: append(.assertStart)
        case .assertEnd: append(.assertEnd)
        case .wordBoundary(let b): append(.wordBoundary(b))
        case .sequence(let items):
            for item in items { try emit(item) }
        case .alternation(let items):
            // split L1, next; L1: a; jump end; next: split L2, next2 ... last: z; end:
            var jumps: [Int] = []
            for (k, item) in items.enumerated() {
                if k < items.count - 1 {
                    let split = program.count
                    append(.split(here + 1, 0))
                    try emit(item)
                    jumps.append(program.count)
                    append(.jump(0))
                    program[split] = .split(Int32(split + 1), here)
                } else {
                    try emit(item)
                }
            }
            for j in jumps { program[j] = .jump(here) }
        case .repetition(let inner, let min, let max):
            for _ in 0..<min { try emit(inner) }
            if let max {
                // (inner (inner (…)?)?)?: each optional copy may skip to the end.
                var splits: [Int] = []
                for _ in min..<max {
                    splits.append(program.count)
                    append(.split(here + 1, 0))
                    try emit(inner)
                }
                for sp in splits { program[sp] = .split(Int32(sp + 1), here) }
            } else {
                // loop: split body, end; body: inner; jump loop; end:
                let loop = program.count
                append(.split(here + 1, 0))
                try emit(inner)
                append(.jump(Int32(loop)))
                program[loop] = .split(Int32(loop + 1), here)
            }
        }
    }
}

// MARK: - ASCII DFA

/// The NFA determinised over ASCII (subset construction), built when the pattern has no word-boundary assertion and
/// the result stays small. `^` is resolved by the start state; `$` stays pending in a state and decides acceptance
/// only at the end of the input.
struct AsciiDFA: Sendable {
    /// `transitions[state << 7 | byte]` is the next state's number shifted left by 2, or-ed with `matchedFlag` when
    /// that state contains the match state (the pattern has matched, whatever follows) and `deadFlag` when no thread
    /// is alive and none can start (no match is possible any more).
    private let transitions: [UInt32]
    /// At the end of the input, this state matches (through pending `$`s).
    private let matchesAtEnd: [Bool]
    private let startMatched: Bool
    private static let matchedFlag: UInt32 = 1
    private static let deadFlag: UInt32 = 2
    static let maxStates = 512

    init?(program: [Instruction], sets: [ScalarSet]) {
        for instruction in program {
            if case .wordBoundary = instruction { return nil }
        }
        // Closure of `seeds`: the consuming instructions, `match` and (unless at the end) pending `assertEnd`s
        // reachable without input.
        func closure(_ seeds: [Int], atStart: Bool, atEnd: Bool = false) -> [Int32] {
            var seen = Set<Int>()
            var stack = seeds
            var out: [Int32] = []
            while let pc = stack.popLast() {
                guard seen.insert(pc).inserted else { continue }
                switch program[pc] {
                case .jump(let t): stack.append(Int(t))
                case .split(let a, let b): stack.append(Int(b)); stack.append(Int(a))
                case .assertStart: if atStart { stack.append(pc + 1) }
                case .assertEnd where atEnd: stack.append(pc + 1)
                case .assertEnd, .match, .set, .any: out.append(Int32(pc))
                case .wordBoundary: break
                }
            }
            return out.sorted()
        }
        func acceptsAtEnd(_ state: [Int32], atStart: Bool) -> Bool {
            closure(state.map { Int($0) }, atStart: atStart, atEnd: true).contains { program[Int($0)].isMatch }
        }
        // Bytes that every set (and `.`) treats alike share one column of the subset construction.
        var classOfSignature: [[Bool]: Int] = [:]
        var classOfByte: [Int] = []
        for byte in UInt32(0)..<128 {
            let signature = sets.map { $0.contains(byte) } + [byte == 0x0a || byte == 0x0d]
            if classOfSignature[signature] == nil { classOfSignature[signature] = classOfSignature.count }
            classOfByte.append(classOfSignature[signature]!)
        }
        let classCount = classOfSignature.count
        let restart = closure([0], atStart: false)  // threads that start at every later position
        var states: [[Int32]] = [closure([0], atStart: true)]
        var index: [[Int32]: Int] = [:]  // later states only: the initial one alone may pass `^`
        var targets: [Int] = []
        var matched: [Bool] = []
        var matchesAtEnd: [Bool] = []
        var dead: [Bool] = []
        var next = 0
        while next < states.count {
            let state = states[next]
            matched.append(state.contains { program[Int($0)].isMatch })
            matchesAtEnd.append(acceptsAtEnd(state, atStart: next == 0))
            dead.append(state.isEmpty && restart.isEmpty)
            var targetOfClass = [Int](repeating: -1, count: classCount)
            for byte in 0..<128 {
                let byteClass = classOfByte[byte]
                if targetOfClass[byteClass] < 0 {
                    var seeds: [Int] = []
                    for pc in state {
                        switch program[Int(pc)] {
                        case .set(let s) where sets[Int(s)].contains(UInt32(byte)): seeds.append(Int(pc) + 1)
                        case .any where byte != 0x0a && byte != 0x0d: seeds.append(Int(pc) + 1)
                        default: break
                        }
                    }
                    let target = Array(Set(closure(seeds, atStart: false) + restart)).sorted()
                    if let existing = index[target] {
                        targetOfClass[byteClass] = existing
                    } else {
                        guard states.count < Self.maxStates else { return nil }
                        targetOfClass[byteClass] = states.count
                        index[target] = states.count
                        states.append(target)
                    }
                }
                targets.append(targetOfClass[byteClass])
            }
            next += 1
        }
        transitions = targets.map {
            UInt32($0) << 2 | (matched[$0] ? Self.matchedFlag : 0) | (dead[$0] ? Self.deadFlag : 0)
        }
        self.matchesAtEnd = matchesAtEnd
        startMatched = matched[0]
    }

    /// The answer for ASCII input, or nil when the input has a non-ASCII byte (the NFA decides then).
    func run(_ input: UnsafeBufferPointer<UInt8>) -> Bool? {
        if startMatched { return true }
        return transitions.withUnsafeBufferPointer { table -> Bool? in
            var state = 0
            for byte in input {
                guard byte < 0x80 else { return nil }
                let entry = table[state << 7 | Int(byte)]
                if entry & 3 != 0 { return entry & Self.matchedFlag != 0 }
                state = Int(entry >> 2)
            }
            return matchesAtEnd[state]
        }
    }
}

extension Instruction {
    fileprivate var isMatch: Bool {
        if case .match = self { return true }
        return false
    }
}
