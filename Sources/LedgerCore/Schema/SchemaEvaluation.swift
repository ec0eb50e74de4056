/// One validation run over a compiled schema (JSON Schema 2020-12 core §7 and §10, validation §6-§7).
///
/// A valid instance allocates nothing: no path is kept on the way down. A failure is recorded with an empty path,
/// and each member or item it is inside adds its segment as the recursion unwinds. In `.quiet` mode (inside
/// `anyOf`, `oneOf`, `not`, `if`) nothing is recorded at all.
struct SchemaEvaluation {
    enum Mode {
        /// Answer valid or not, record nothing.
        case quiet
        /// Stop at the first failure.
        case first
        /// Record every failure.
        case all
    }

    private enum Segment {
        case key(String)
        case index(Int)
    }

    private struct Recorded {
        /// Innermost segment first.
        var reversedPath: [Segment]
        let keyword: String
        let message: String
    }

    private let nodes: [SchemaNode]
    private var mode: Mode
    private var recorded: [Recorded] = []

    init(program: SchemaProgram, mode: Mode) {
        nodes = program.nodes
        self.mode = mode
    }

    /// The failures recorded, in the order found.
    var failures: [JSONSchemaFailure] { recorded.map(Self.failure) }

    /// The first failure recorded.
    var firstFailure: JSONSchemaFailure? { recorded.first.map(Self.failure) }

    private static func failure(_ r: Recorded) -> JSONSchemaFailure {
        JSONSchemaFailure(instancePath: render(r.reversedPath), keyword: r.keyword, message: r.message)
    }

    /// Applies node `index` to `value`. `keyword` names the applicator that got here, reported if the node is the
    /// `false` schema (`additionalProperties`, `items`…).
    mutating func evaluate(_ index: Int, _ value: JSONValue, as keyword: String) -> Bool {
        if nodes[index].isFalse {
            return fail(keyword, keyword == "false" ? "no value is allowed here" : "\(Self.kind(value)) is not allowed")
        }
        // Indices rather than `for check in`: reading in place avoids copying (retaining) every check.
        let checks = nodes[index].checks
        var valid = true
        for i in checks.indices where !apply(checks[i], value) {
            valid = false
            if mode != .all { return false }
        }
        return valid
    }

    // MARK: Recording

    /// Records a failure at the current value (unless quiet) and returns false, the check's result.
    private mutating func fail(_ keyword: String, _ message: @autoclosure () -> String) -> Bool {
        if mode != .quiet {
            recorded.append(Recorded(reversedPath: [], keyword: keyword, message: message()))
        }
        return false
    }

    /// `fail` at the path of member `key`, which the current value (an object) lacks or must not have.
    private mutating func fail(member key: String, _ keyword: String, _ message: @autoclosure () -> String) -> Bool {
        if mode != .quiet {
            recorded.append(Recorded(reversedPath: [.key(key)], keyword: keyword, message: message()))
        }
        return false
    }

    /// Applies `index` to a child value at `segment`, adding the segment to the paths of the failures found there.
    @inline(__always)
    private mutating func evaluate(_ index: Int, _ value: JSONValue, at segment: Segment, as keyword: String) -> Bool {
        let before = recorded.count
        let ok = evaluate(index, value, as: keyword)
        if !ok {
            for i in before..<recorded.count { recorded[i].reversedPath.append(segment) }
        }
        return ok
    }

    /// Applies `index` to `value` without recording anything.
    private mutating func quietly(_ index: Int, _ value: JSONValue) -> Bool {
        let saved = mode
        mode = .quiet
        defer { mode = saved }
        return evaluate(index, value, as: "")
    }

    private static func render(_ reversedPath: [Segment]) -> String {
        var s = "$"
        for segment in reversedPath.reversed() {
            switch segment {
            case .index(let i):
                s += "[\(i)]"
            case .key(let k):
                if isPlainName(k) {
                    s += "." + k
                } else {
                    var quoted: [UInt8] = []
                    JSONValue.writeString(k, to: &quoted)
                    s += "[" + String(decoding: quoted, as: UTF8.self) + "]"
                }
            }
        }
        return s
    }

    /// `[A-Za-z_][A-Za-z0-9_]*`: written `.name`; anything else `["…"]`.
    private static func isPlainName(_ k: String) -> Bool {
        guard let first = k.utf8.first, first == UInt8(ascii: "_") || isLetter(first) else { return false }
        return k.utf8.allSatisfy { $0 == UInt8(ascii: "_") || isLetter($0) || ($0 >= 0x30 && $0 <= 0x39) }
    }

    private static func isLetter(_ b: UInt8) -> Bool { (b | 0x20) >= 0x61 && (b | 0x20) <= 0x7a }

    private static func kind(_ value: JSONValue) -> String { value.typeName }

    /// A schema value for a message, cut to 64 characters.
    private static func shown(_ text: String) -> String {
        guard text.unicodeScalars.count > 64 else { return text }
        return String(String.UnicodeScalarView(text.unicodeScalars.prefix(63))) + "…"
    }

    // MARK: Checks

    private mutating func apply(_ check: SchemaCheck, _ value: JSONValue) -> Bool {
        switch check {
        case .type(let types):
            if types.admits(value) { return true }
            return fail("type", "expected \(types.description), found \(Self.kind(value))")

        case .const(let expected):
            if Self.jsonEqual(value, expected) { return true }
            return fail("const", "\(Self.kind(value)) does not equal the constant \(Self.shown(expected.jsonString()))")

        case .enumeration(let values):
            if values.contains(where: { Self.jsonEqual(value, $0) }) { return true }
            return fail("enum", "\(Self.kind(value)) is not one of the \(values.count) allowed values")

        case .bound(let bound):
            guard case .number(let n) = value, !bound.admits(n) else { return true }
            let relation: String
            switch bound.kind {
            case .minimum: relation = "less than the minimum"
            case .maximum: relation = "greater than the maximum"
            case .exclusiveMinimum: relation = "not greater than the exclusive minimum"
            case .exclusiveMaximum: relation = "not less than the exclusive maximum"
            }
            return fail(bound.kind.rawValue, "\(Self.kind(value)) is \(relation) \(bound.limit.text)")

        case .multipleOf(let divisor):
            guard case .number(let n) = value, !Self.isMultiple(n, of: divisor) else { return true }
            return fail("multipleOf", "\(Self.kind(value)) is not a multiple of \(divisor.text)")

        case .minLength(let minimum):
            guard case .string(let s) = value, !Self.hasCodePoints(s, atLeast: minimum) else { return true }
            return fail("minLength", "string is shorter than \(minimum) code points")

        case .maxLength(let maximum):
            guard case .string(let s) = value, Self.hasCodePoints(s, atLeast: maximum + 1) else { return true }
            return fail("maxLength", "string is longer than \(maximum) code points")

        case .pattern(let regex):
            guard case .string(let s) = value, !regex.matches(s) else { return true }
            return fail("pattern", "string does not match \(Self.shown(regex.source))")

        case .dateTime:
            guard case .string(let s) = value, !Self.isDateTime(s) else { return true }
            return fail("format", "string is not an RFC 3339 date-time")

        case .minItems(let minimum):
            guard case .array(let a) = value, a.count < minimum else { return true }
            return fail("minItems", "array has \(a.count) items, fewer than \(minimum)")

        case .maxItems(let maximum):
            guard case .array(let a) = value, a.count > maximum else { return true }
            return fail("maxItems", "array has \(a.count) items, more than \(maximum)")

        case .uniqueItems:
            guard case .array(let a) = value, let (i, j) = Self.firstDuplicate(a) else { return true }
            return fail("uniqueItems", "items \(i) and \(j) are equal")

        case .required(let names):
            guard case .object(let o) = value else { return true }
            var valid = true
            for i in names.indices where Self.member(o, names[i]) == nil {
                let name = names[i]
                valid = fail(member: name, "required", "required property is missing")
                if mode != .all { return false }
            }
            return valid

        case .properties(let properties):
            guard case .object(let o) = value else { return true }
            var valid = true
            for i in properties.indices {
                guard let member = Self.member(o, properties[i].name) else { continue }
                if !evaluate(properties[i].node, member, at: .key(properties[i].name), as: "properties") {
                    valid = false
                    if mode != .all { return false }
                }
            }
            return valid

        case .patternProperties(let patterns):
            guard case .object(let o) = value else { return true }
            var valid = true
            for member in o {
                for p in patterns where p.regex.matches(member.key) {
                    if !evaluate(p.node, member.value, at: .key(member.key), as: "patternProperties") {
                        valid = false
                        if mode != .all { return false }
                    }
                }
            }
            return valid

        case .additionalProperties(let node, let declared, let patterns):
            guard case .object(let o) = value else { return true }
            var valid = true
            for member in o
            where !declared.contains(where: { Self.sameText($0, member.key) })
                && !patterns.contains(where: { $0.matches(member.key) })
            {
                if !evaluate(node, member.value, at: .key(member.key), as: "additionalProperties") {
                    valid = false
                    if mode != .all { return false }
                }
            }
            return valid

        case .propertyNames(let node):
            guard case .object(let o) = value else { return true }
            var valid = true
            for member in o where !quietly(node, .string(member.key)) {
                valid = fail(member: member.key, "propertyNames", "property name does not match propertyNames")
                if mode != .all { return false }
            }
            return valid

        case .dependentSchemas(let dependents):
            guard case .object(let o) = value else { return true }
            var valid = true
            for d in dependents where Self.member(o, d.name) != nil {
                if !evaluate(d.node, value, as: "dependentSchemas") {
                    valid = false
                    if mode != .all { return false }
                }
            }
            return valid

        case .prefixItems(let schemas):
            guard case .array(let a) = value else { return true }
            var valid = true
            for (i, node) in zip(a.indices, schemas) {
                if !evaluate(node, a[i], at: .index(i), as: "prefixItems") {
                    valid = false
                    if mode != .all { return false }
                }
            }
            return valid

        case .items(let node, let from):
            guard case .array(let a) = value, a.count > from else { return true }
            var valid = true
            for i in from..<a.count {
                if !evaluate(node, a[i], at: .index(i), as: "items") {
                    valid = false
                    if mode != .all { return false }
                }
            }
            return valid

        case .ref(let node):
            return evaluate(node, value, as: "$ref")

        case .allOf(let schemas):
            var valid = true
            for node in schemas where !evaluate(node, value, as: "allOf") {
                valid = false
                if mode != .all { return false }
            }
            return valid

        case .anyOf(let schemas):
            for node in schemas where quietly(node, value) { return true }
            return fail("anyOf", "\(Self.kind(value)) matches none of the \(schemas.count) anyOf schemas")

        case .oneOf(let schemas):
            var matched = 0
            for node in schemas where quietly(node, value) {
                matched += 1
                if matched > 1 { break }
            }
            if matched == 1 { return true }
            return fail("oneOf", matched == 0
                ? "\(Self.kind(value)) matches none of the \(schemas.count) oneOf schemas"
                : "\(Self.kind(value)) matches more than one oneOf schema")

        case .not(let node):
            if !quietly(node, value) { return true }
            return fail("not", "\(Self.kind(value)) matches the schema under not")

        case .conditional(let condition, let then, let otherwise):
            if quietly(condition, value) {
                guard let then else { return true }
                return evaluate(then, value, as: "then")
            }
            guard let otherwise else { return true }
            return evaluate(otherwise, value, as: "else")
        }
    }

    // MARK: Helpers

    /// Whether `s` has at least `n` Unicode code points (validation §6.3.1-§6.3.2), counting only when the UTF-8
    /// length (1 to 4 bytes per code point) does not already decide.
    @inline(__always)
    private static func hasCodePoints(_ s: String, atLeast n: Int) -> Bool {
        let bytes = s.utf8.count
        if bytes < n { return false }
        if bytes >= 4 * n { return true }
        return s.unicodeScalars.count >= n
    }

    /// The first pair of equal items (`jsonEqual`), if any.
    private static func firstDuplicate(_ a: [JSONValue]) -> (Int, Int)? {
        if a.count <= 16 {
            for j in a.indices.dropFirst() {
                for i in 0..<j where jsonEqual(a[i], a[j]) { return (i, j) }
            }
            return nil
        }
        // JSONValue's hash agrees with its ==, which is coarser than jsonEqual: equal items share a bucket.
        var buckets: [Int: [Int]] = [:]
        for (j, item) in a.enumerated() {
            let h = item.hashValue
            if let i = buckets[h]?.first(where: { jsonEqual(a[$0], item) }) { return (i, j) }
            buckets[h, default: []].append(j)
        }
        return nil
    }

    /// Same code points (RFC 8259 §8.3). Swift's `==` on String is canonical equivalence, under which `"\u00E4"`
    /// and `"a\u0308"` are equal; JSON Schema's equality (core §4.2.2) is not.
    @inline(__always)
    static func sameText(_ a: String, _ b: String) -> Bool {
        guard a.utf8.count == b.utf8.count else { return false }
        let same = a.utf8.withContiguousStorageIfAvailable { x in
            b.utf8.withContiguousStorageIfAvailable { y in
                for i in 0..<x.count where x[i] != y[i] { return false }
                return true
            }
        }
        return same.flatMap { $0 } ?? a.utf8.elementsEqual(b.utf8)
    }

    /// The member named exactly `name`.
    @inline(__always)
    static func member(_ object: JSONObject, _ name: String) -> JSONValue? {
        let members = object.members
        for i in members.indices where sameText(members[i].key, name) { return members[i].value }
        return nil
    }

    /// JSON Schema equality (core §4.2.2): same type, numbers equal in value (`1` and `1.0`, exactly for decimals
    /// of up to 19 significant digits), strings equal code point by code point, arrays item by item, objects member
    /// by member regardless of order.
    static func jsonEqual(_ a: JSONValue, _ b: JSONValue) -> Bool {
        switch (a, b) {
        case (.null, .null): return true
        case (.bool(let x), .bool(let y)): return x == y
        case (.string(let x), .string(let y)): return sameText(x, y)
        case (.number(let x), .number(let y)): return numbersEqual(x, y)
        case (.array(let x), .array(let y)):
            return x.count == y.count && zip(x, y).allSatisfy { jsonEqual($0, $1) }
        case (.object(let x), .object(let y)):
            guard x.count == y.count else { return false }
            for m in x.members {
                guard let other = member(y, m.key), jsonEqual(m.value, other) else { return false }
            }
            return true
        default: return false
        }
    }

    static func numbersEqual(_ x: JSONNumber, _ y: JSONNumber) -> Bool {
        if x.text == y.text { return true }
        if let a = Int64(x.text), let b = Int64(y.text) { return a == b }
        if let (a, p) = decimal(x.text), let (b, q) = decimal(y.text) {
            if a == 0 || b == 0 { return a == b }
            return a == b && p == q && x.text.hasPrefix("-") == y.text.hasPrefix("-")
        }
        return x.doubleValue == y.doubleValue
    }

    /// RFC 3339 §5.6 `date-time` (validation §7.3.1): `EventTime.parse`, plus the ABNF's `T` separator (no space)
    /// and a leap second (`:60`) only at 23:59 UTC.
    static func isDateTime(_ s: String) -> Bool {
        guard let micros = EventTime.parse(s) else { return false }
        // EventTime accepted it, so it is ASCII with the date and time at fixed offsets.
        var text = s
        let (separator, leapSecond) = text.withUTF8 { b in
            (b[10], b[17] == UInt8(ascii: "6") && b[18] == UInt8(ascii: "0"))
        }
        guard separator == UInt8(ascii: "T") || separator == UInt8(ascii: "t") else { return false }
        if leapSecond {
            // EventTime counts :60 as :59, so a real leap second lands on the last second of a UTC day.
            let seconds = micros >= 0 ? micros / 1_000_000 : (micros - 999_999) / 1_000_000
            let secondOfDay = ((seconds % 86_400) + 86_400) % 86_400
            return secondOfDay == 86_399
        }
        return true
    }

    /// Whether `x` is an integer multiple of `m` (validation §6.2.1), exactly for decimals whose significands fit
    /// in 64 bits, else in floating point.
    static func isMultiple(_ x: JSONNumber, of m: JSONNumber) -> Bool {
        if let a = Int64(x.text), let b = Int64(m.text), b != 0 {
            return a.remainderReportingOverflow(dividingBy: b).partialValue == 0
        }
        if let (a, p) = decimal(x.text), let (b, q) = decimal(m.text), b != 0 {
            if a == 0 { return true }
            if p >= q {
                // a·10^(p−q) mod b, by modular exponentiation without overflow.
                var result = a % b
                var factor = UInt64(10) % b
                var e = p - q
                while e > 0 && result != 0 {
                    if e & 1 == 1 { result = mulmod(result, factor, b) }
                    factor = mulmod(factor, factor, b)
                    e >>= 1
                }
                return result == 0
            }
            // a mod (b·10^(q−p)); a divisor above 2^64 exceeds a, which is not 0.
            var divisor = b
            for _ in 0..<(q - p) {
                let (next, overflow) = divisor.multipliedReportingOverflow(by: 10)
                if overflow { return false }
                divisor = next
            }
            return a % divisor == 0
        }
        let quotient = x.doubleValue / m.doubleValue
        return quotient.isFinite && quotient.rounded() == quotient
    }

    private static func mulmod(_ a: UInt64, _ b: UInt64, _ m: UInt64) -> UInt64 {
        let product = a.multipliedFullWidth(by: b)
        return m.dividingFullWidth((product.high, product.low)).remainder
    }

    /// `|n|` as significand·10^exponent with the significand's trailing zeros removed; nil if it does not fit.
    private static func decimal(_ text: String) -> (UInt64, Int)? {
        var significand: UInt64 = 0
        var exponent = 0
        var inFraction = false
        var bytes = text.utf8[...]
        if bytes.first == UInt8(ascii: "-") { bytes = bytes.dropFirst() }
        while let c = bytes.first, c != UInt8(ascii: "e"), c != UInt8(ascii: "E") {
            bytes = bytes.dropFirst()
            if c == UInt8(ascii: ".") { inFraction = true; continue }
            let (times, o1) = significand.multipliedReportingOverflow(by: 10)
            let (plus, o2) = times.addingReportingOverflow(UInt64(c - UInt8(ascii: "0")))
            if o1 || o2 { return nil }
            significand = plus
            if inFraction { exponent -= 1 }
        }
        if !bytes.isEmpty {
            guard let e = Int(String(decoding: bytes.dropFirst(), as: UTF8.self)), abs(e) < 100_000 else { return nil }
            exponent += e
        }
        while significand != 0 && significand % 10 == 0 {
            significand /= 10
            exponent += 1
        }
        return (significand, exponent)
    }
}
