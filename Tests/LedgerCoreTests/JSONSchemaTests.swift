import Foundation
@testable import LedgerCore
import LedgerTestSupport
import Testing

// MARK: - The official JSON Schema Test Suite (draft 2020-12)

/// The copies of JSON-Schema-Test-Suite files in `<package root>/../shared/testdata/json-schema-test-suite-2020-12`.
private enum OfficialSuite {
    static var directory: URL { KnownAnswers.directory.appendingPathComponent("json-schema-test-suite-2020-12") }

    static var files: [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return names.filter { $0.hasSuffix(".json") }.sorted()
    }

    struct Group {
        let description: String
        let schema: JSONValue
        let tests: [(description: String, data: JSONValue, valid: Bool)]
    }

    static func groups(in file: String) throws -> [Group] {
        let bytes = try [UInt8](Data(contentsOf: directory.appendingPathComponent(file)))
        guard case .array(let list) = try JSONParser.parse(bytes) else { throw SuiteFormatError() }
        return try list.map { g in
            guard case .string(let description)? = g["description"], let schema = g["schema"],
                  case .array(let tests)? = g["tests"]
            else { throw SuiteFormatError() }
            return Group(description: description, schema: schema, tests: try tests.map { t in
                guard case .string(let d)? = t["description"], let data = t["data"], case .bool(let v)? = t["valid"]
                else { throw SuiteFormatError() }
                return (d, data, v)
            })
        }
    }

    struct SuiteFormatError: Error {}

    /// Groups left out, by "file / group description", with why. Each needs a feature outside the implemented set,
    /// and `skippedGroupsAreRefusedAtCompileTime` proves the validator refuses the schema rather than misjudging it.
    static let skipped: [String: (reason: String, code: JSONSchemaError.Code)] = [
        "defs.json / validate definition against metaschema":
            ("$ref to the remote 2020-12 meta-schema (remote documents are not loaded)", .unresolvedReference),
        "ref.json / remote ref, containing refs itself":
            ("$ref to the remote 2020-12 meta-schema (remote documents are not loaded)", .unresolvedReference),
        "not.json / collect annotations inside a 'not', even if collection is disabled":
            ("unevaluatedProperties (annotation collection) is not implemented", .unsupportedKeyword),
        "ref.json / ref creates new scope when adjacent to keywords":
            ("unevaluatedProperties (annotation collection) is not implemented", .unsupportedKeyword),
    ]
}

@Suite("JSON Schema: official test suite, draft 2020-12")
struct OfficialJSONSchemaSuiteTests {
    @Test("every case of every file, in both firstFailure and validate modes", arguments: OfficialSuite.files)
    func file(_ file: String) throws {
        var mismatches: [String] = []
        for group in try OfficialSuite.groups(in: file) {
            if OfficialSuite.skipped["\(file) / \(group.description)"] != nil { continue }
            let schema: JSONSchema
            do {
                schema = try JSONSchema(group.schema)
            } catch {
                mismatches.append("\(group.description): does not compile: \(error)")
                continue
            }
            for test in group.tests {
                let first = schema.firstFailure(test.data)
                let all = schema.validate(test.data)
                let quiet = schema.isValid(test.data)
                if (first == nil) != test.valid || all.isEmpty != test.valid || quiet != test.valid {
                    mismatches.append("\(group.description) / \(test.description): expected valid=\(test.valid), "
                        + "got \(first.map(String.init(describing:)) ?? "valid")")
                }
                if let first, first != all.first {
                    mismatches.append("\(group.description) / \(test.description): first failure is not validate's first")
                }
            }
        }
        #expect(mismatches.isEmpty, "\(mismatches.joined(separator: "\n"))")
    }

    @Test("the totals: every case runs except the listed skips")
    func totals() throws {
        var total = 0
        var skippedCases: [String] = []
        var skippedGroupsFound = Set<String>()
        for file in OfficialSuite.files {
            for group in try OfficialSuite.groups(in: file) {
                total += group.tests.count
                let key = "\(file) / \(group.description)"
                if OfficialSuite.skipped[key] != nil {
                    skippedGroupsFound.insert(key)
                    skippedCases += group.tests.map { "\(key) / \($0.description)" }
                }
            }
        }
        #expect(OfficialSuite.files.count == 25)
        #expect(skippedGroupsFound == Set(OfficialSuite.skipped.keys), "every skip names a group that exists")
        #expect(total == 655)
        #expect(skippedCases.count == 7)
        #expect(total - skippedCases.count == 648, "cases run and passed")
    }

    @Test("skipped groups are refused at compile time, naming the unsupported feature")
    func skippedGroupsAreRefusedAtCompileTime() throws {
        for (key, skip) in OfficialSuite.skipped {
            let parts = key.components(separatedBy: " / ")
            let group = try #require(try OfficialSuite.groups(in: parts[0]).first { $0.description == parts[1] })
            #expect(throws: JSONSchemaError.self, "\(key)") { try JSONSchema(group.schema) }
            do {
                _ = try JSONSchema(group.schema)
            } catch {
                #expect(error.code == skip.code, "\(key): \(error)")
            }
        }
    }
}

// MARK: - Compiling

@Suite("JSON Schema: compile-time errors")
struct JSONSchemaCompileTests {
    private func compileError(_ json: String) -> JSONSchemaError? {
        do {
            _ = try JSONSchema(json: Array(json.utf8))
            return nil
        } catch {
            return error
        }
    }

    @Test("an unsupported keyword is named with its schema path")
    func unsupportedKeyword() throws {
        let e = try #require(compileError(#"{"properties": {"a/b": {"items": {"contains": {"const": 1}}}}}"#))
        #expect(e.code == .unsupportedKeyword)
        #expect(e.keyword == "contains")
        #expect(e.schemaPath == "#/properties/a~1b/items/contains")
        let nested = try #require(compileError(#"{"$defs": {"x": {"unevaluatedItems": false}}}"#))
        #expect(nested.keyword == "unevaluatedItems")
        #expect(nested.schemaPath == "#/$defs/x/unevaluatedItems")
    }

    @Test("invalid keyword values, formats, patterns, dialects, references and cycles are refused")
    func invalidSchemas() throws {
        let cases: [(String, JSONSchemaError.Code, String)] = [
            (##"{"minLength": -1}"##, .invalidKeywordValue, "#/minLength"),
            (##"{"maxItems": 1.5}"##, .invalidKeywordValue, "#/maxItems"),
            (##"{"type": "text"}"##, .invalidKeywordValue, "#/type"),
            (##"{"type": ["string", "string"]}"##, .invalidKeywordValue, "#/type"),
            (##"{"required": ["a", "a"]}"##, .invalidKeywordValue, "#/required"),
            (##"{"allOf": []}"##, .invalidKeywordValue, "#/allOf"),
            (##"{"properties": {"a": 3}}"##, .invalidKeywordValue, "#/properties/a"),
            (##"{"format": "email"}"##, .unsupportedFormat, "#/format"),
            (##"{"pattern": "(?=a)b"}"##, .invalidPattern, "#/pattern"),
            (##"{"patternProperties": {"(a": true}}"##, .invalidPattern, "#/patternProperties/(a"),
            (##"{"$schema": "http://json-schema.org/draft-07/schema#"}"##, .unsupportedDialect, "#/$schema"),
            (##"{"$ref": "other.json#/$defs/a"}"##, .unresolvedReference, "#/$ref"),
            (##"{"$ref": "#/$defs/missing"}"##, .unresolvedReference, "#/$ref"),
            (##"{"$ref": "#nowhere"}"##, .unresolvedReference, "#/$ref"),
            (##"{"$ref": "#"}"##, .referenceCycle, "#"),
            (##"{"$defs": {"a": {"allOf": [{"$ref": "#/$defs/b"}]}, "b": {"not": {"$ref": "#/$defs/a"}}}}"##,
             .referenceCycle, "#/$defs/a"),
            ("[]", .invalidKeywordValue, "#"),
            ("{", .notJSON, "#"),
        ]
        for (json, code, path) in cases {
            let e = compileError(json)
            #expect(e?.code == code, "\(json): \(String(describing: e))")
            #expect(e?.schemaPath == path, "\(json): \(String(describing: e))")
        }
    }

    @Test("a recursive schema that descends into the instance is fine")
    func recursionThroughTheInstance() throws {
        let schema = try JSONSchema(json: Array(#"""
            {"$defs": {"node": {"type": "object", "required": ["v"],
                                "properties": {"v": {"type": "integer"}, "kids": {"items": {"$ref": "#/$defs/node"}}}}},
             "$ref": "#/$defs/node"}
            """#.utf8))
        let good = try JSONParser.parse(#"{"v": 1, "kids": [{"v": 2, "kids": [{"v": 3}]}]}"#)
        let bad = try JSONParser.parse(#"{"v": 1, "kids": [{"v": 2, "kids": [{"v": "x"}]}]}"#)
        #expect(schema.firstFailure(good) == nil)
        #expect(schema.firstFailure(bad)?.instancePath == "$.kids[0].kids[0].v")
    }
}

// MARK: - Failures

@Suite("JSON Schema: failures, paths and messages")
struct JSONSchemaFailureTests {
    private let schema: JSONSchema

    init() throws {
        schema = try JSONSchema(json: Array(#"""
            {"type": "object", "required": ["data"],
             "properties": {
               "data": {"type": "object", "required": ["run_id", "gpus"],
                        "properties": {
                          "run_id": {"type": "string", "minLength": 1},
                          "gpus": {"type": "object", "properties": {"count": {"type": "integer", "minimum": 1}}},
                          "inputs": {"type": "array", "items": {"type": "string", "pattern": "^[a-z-]+@[0-9]+$"}},
                          "a b": {"const": true},
                          "kind": {"enum": ["metric", "bias"]},
                          "secret": {"type": "string", "maxLength": 8}
                        }},
               "strict": {"type": "object", "additionalProperties": false, "properties": {"ok": true}}}}
            """#.utf8))
    }

    private func failure(_ json: String) throws -> JSONSchemaFailure? { schema.firstFailure(try JSONParser.parse(json)) }

    @Test("instance paths name members and indexes")
    func paths() throws {
        #expect(try failure(#"{"data": {"run_id": "r", "gpus": {"count": 0}}}"#)
            == JSONSchemaFailure(instancePath: "$.data.gpus.count", keyword: "minimum",
                                 message: "integer is less than the minimum 1"))
        let ref = try failure(#"{"data": {"run_id": "r", "gpus": {}, "inputs": ["a@1", "b@2", "C@3"]}}"#)
        #expect(ref?.instancePath == "$.data.inputs[2]")
        #expect(ref?.keyword == "pattern")
        let quoted = try failure(#"{"data": {"run_id": "r", "gpus": {}, "a b": false}}"#)
        #expect(quoted?.instancePath == #"$.data["a b"]"#)
        #expect(quoted?.keyword == "const")
    }

    @Test("a missing required member and a refused additional member are reported at the member's own path")
    func memberPaths() throws {
        #expect(try failure(#"{"data": {"gpus": {}}}"#)
            == JSONSchemaFailure(instancePath: "$.data.run_id", keyword: "required",
                                 message: "required property is missing"))
        let extra = try failure(#"{"data": {"run_id": "r", "gpus": {}}, "strict": {"ok": 1, "no": 2}}"#)
        #expect(extra?.instancePath == "$.strict.no")
        #expect(extra?.keyword == "additionalProperties")
        #expect(try failure(#"{"data": {"run_id": "r", "gpus": {}}, "strict": {"ok": 1}}"#) == nil)
    }

    @Test("validate reports every failure; firstFailure the first of them")
    func allFailures() throws {
        let value = try JSONParser.parse(#"{"data": {"run_id": "", "gpus": {"count": 1.5}, "kind": "vibes"}}"#)
        let all = schema.validate(value)
        #expect(all.map(\.instancePath) == ["$.data.run_id", "$.data.gpus.count", "$.data.kind"])
        #expect(all.map(\.keyword) == ["minLength", "type", "enum"])
        #expect(schema.firstFailure(value) == all.first)
        #expect(!schema.isValid(value))
    }

    @Test("messages name kinds, never the instance's value")
    func messagesDoNotLeakValues() throws {
        let secret = "Fatima Al Mansouri, Emirates ID 784-1985-1234567-1"
        let value = JSONValue.object(["data": .object(["run_id": "r", "gpus": .object([:]), "secret": .string(secret),
                                                       "kind": .string(secret), "inputs": .array([.string(secret)])])])
        let all = schema.validate(value)
        #expect(all.count == 3)
        for f in all {
            #expect(!f.message.contains("Fatima") && !f.description.contains("784-"), "\(f)")
        }
    }

    @Test("the false schema, boolean subschemas and applicators report their keyword")
    func keywords() throws {
        let never = try JSONSchema(.bool(false))
        #expect(never.firstFailure(1)
            == JSONSchemaFailure(instancePath: "$", keyword: "false", message: "no value is allowed here"))
        let items = try JSONSchema(json: Array(#"{"prefixItems": [true], "items": false}"#.utf8))
        #expect(items.firstFailure([1, 2])?.keyword == "items")
        #expect(items.firstFailure([1, 2])?.instancePath == "$[1]")
        let any = try JSONSchema(json: Array(#"{"anyOf": [{"type": "string"}, {"type": "integer"}]}"#.utf8))
        #expect(any.firstFailure(1.5)?.keyword == "anyOf")
        let one = try JSONSchema(json: Array(#"{"oneOf": [{"minimum": 0}, {"maximum": 10}]}"#.utf8))
        #expect(one.firstFailure(5)?.keyword == "oneOf")
        #expect(one.firstFailure(11) == nil)
    }
}

// MARK: - Keyword details beyond the suite

@Suite("JSON Schema: keyword details")
struct JSONSchemaKeywordTests {
    @Test("date-time is RFC 3339 §5.6: T separator, offset required, leap seconds only at 23:59:60 UTC")
    func dateTime() {
        let cases: [(String, Bool)] = [
            ("2026-05-01T12:00:00Z", true), ("2026-05-01T16:00:00.123+04:00", true),
            ("2016-12-31T23:59:60Z", true), ("2017-01-01T03:59:60+04:00", true),
            ("2016-12-31T23:58:60Z", false), ("2026-05-01 12:00:00Z", false), ("2026-05-01T12:00:00", false),
            ("2026-02-29T12:00:00Z", false), ("2024-02-29T12:00:00Z", true), ("2026-05-01T12:00:00+0400", false),
        ]
        for (text, valid) in cases {
            #expect(SchemaEvaluation.isDateTime(text) == valid, "\(text)")
        }
    }

    @Test("multipleOf is exact for decimals")
    func multipleOf() {
        let cases: [(String, String, Bool)] = [
            ("0.0075", "0.0001", true), ("0.00751", "0.0001", false), ("4.5", "1.5", true), ("35", "1.5", false),
            ("19.99", "0.01", true), ("1e308", "0.123456789", false), ("12e3", "4", true), ("-9", "3", true),
            ("0", "0.1", true), ("0.3", "0.1", true), ("7", "2", false),
        ]
        for (x, m, expected) in cases {
            #expect(SchemaEvaluation.isMultiple(JSONNumber(text: x), of: JSONNumber(text: m)) == expected, "\(x) % \(m)")
        }
    }

    @Test("lengths count code points, not bytes or graphemes")
    func lengths() throws {
        let schema = try JSONSchema(json: Array(#"{"minLength": 2, "maxLength": 3}"#.utf8))
        #expect(schema.firstFailure("💩💩") == nil)  // 8 UTF-8 bytes, 2 code points
        #expect(schema.firstFailure("e\u{301}e\u{301}")?.keyword == "maxLength")  // 2 graphemes, 4 code points
        #expect(schema.firstFailure("é")?.keyword == "minLength")
        #expect(schema.firstFailure("عرب") == nil)
    }

    @Test("uniqueItems uses JSON equality on long arrays too")
    func uniqueItems() throws {
        let schema = try JSONSchema(json: Array(#"{"uniqueItems": true}"#.utf8))
        var items: [JSONValue] = (0..<40).map { .number(JSONNumber($0)) }
        #expect(schema.firstFailure(.array(items)) == nil)
        items.append(.number(JSONNumber(text: "17.0")))
        #expect(schema.firstFailure(.array(items))?.message == "items 17 and 40 are equal")
        #expect(schema.firstFailure([["a": 1, "b": 2], ["b": 2, "a": 1]])?.keyword == "uniqueItems")
        #expect(schema.firstFailure([false, 0]) == nil)
    }

    @Test("integers beyond 2^53 compare exactly against integer bounds and constants")
    func bigIntegers() throws {
        let schema = try JSONSchema(json: Array(#"{"maximum": 9007199254740993}"#.utf8))
        #expect(schema.firstFailure(.number(JSONNumber(text: "9007199254740993"))) == nil)
        #expect(schema.firstFailure(.number(JSONNumber(text: "9007199254740994")))?.keyword == "maximum")
        let constant = try JSONSchema(json: Array(#"{"const": 9007199254740993}"#.utf8))
        #expect(constant.firstFailure(.number(JSONNumber(text: "9007199254740992")))?.keyword == "const")
        #expect(constant.firstFailure(.number(JSONNumber(text: "9007199254740993.0"))) == nil)
        #expect(constant.firstFailure(.number(JSONNumber(text: "90071992547409930e-1"))) == nil)
    }

    @Test("strings and member names compare by code point, not by Swift's canonical equivalence")
    func codePointEquality() throws {
        let precomposed = "\u{E4}"  // ä
        let decomposed = "a\u{308}"  // a + combining diaeresis
        #expect(precomposed == decomposed, "Swift's == is canonical equivalence")
        let constant = try JSONSchema(.object(["const": .string(precomposed)]))
        #expect(constant.firstFailure(.string(decomposed))?.keyword == "const")
        let choice = try JSONSchema(.object(["enum": [.string(precomposed)]]))
        #expect(choice.firstFailure(.string(decomposed))?.keyword == "enum")
        let unique = try JSONSchema(.object(["uniqueItems": true]))
        #expect(unique.firstFailure([.string(precomposed), .string(decomposed)]) == nil)
        let required = try JSONSchema(.object(["required": [.string(precomposed)]]))
        #expect(required.firstFailure(.object([decomposed: 1]))?.keyword == "required")
        let closed = try JSONSchema(.object(["properties": .object([precomposed: true]), "additionalProperties": false]))
        #expect(closed.firstFailure(.object([decomposed: 1]))?.keyword == "additionalProperties")
    }
}

// MARK: - ECMA-262 patterns

@Suite("JSON Schema: ECMA-262 regular expressions")
struct ECMARegexTests {
    private func matches(_ pattern: String, _ input: String) throws -> Bool { try ECMARegex(pattern).matches(input) }

    @Test("ECMA-262 semantics where other dialects differ")
    func semantics() throws {
        let cases: [(String, String, Bool)] = [
            ("^sha256:[0-9a-f]{64}$", "sha256:" + String(repeating: "ab", count: 32), true),
            ("^sha256:[0-9a-f]{64}$", "sha256:" + String(repeating: "ab", count: 32) + "\n", false),  // $ is the end
            ("^sha256:[0-9a-f]{64}$", "sha256:" + String(repeating: "ab", count: 31) + "a", false),
            ("^a$", "a\n", false), ("^a", "b\na", false),  // no multiline
            ("a+", "xxaayy", true), ("^a+", "xxaayy", false),  // not anchored unless ^
            (#"^\d+$"#, "٣", false), (#"^\d+$"#, "42", true),  // \d is ASCII only
            (#"^\w+$"#, "café", false), (#"^\w+$"#, "ca_f3", true),
            (#"^\s$"#, "\u{00A0}", true), (#"^\S+$"#, "a b", false),
            ("^.$", "\n", false), ("^.$", "😀", true), ("^..$", "😀", false),  // . is one code point
            (#"^\p{Lu}\p{Ll}+$"#, "Émile", true), (#"^\p{L}+$"#, "π", true), (#"^\P{L}+$"#, "123", true),
            (#"^[\p{L}\d]+$"#, "ab12", true), (#"^[^\s/]+$"#, "a/b", false),
            (#"\bfoo\b"#, "a foo b", true), (#"\bfoo\b"#, "afoo", false), (#"\Bfoo"#, "afoo", true),
            ("^(ab|cd)+$", "abcdab", true), ("^(ab|cd)+$", "abc", false), ("^a|b$", "xb", true),
            ("^a{2,3}$", "aaaa", false), ("^a{2,}$", "aaaa", true), ("^a{2}$", "a", false),
            ("^a+?b*?$", "aab", true), ("^(?:x|y)(?<name>z)?$", "xz", true),
            (#"^\u{1F600}$"#, "😀", true), (#"^\uD83D\uDE00$"#, "😀", true), (#"^\x41\u0042$"#, "AB", true),
            (#"^[\-.a]+$"#, "-.a", true), (#"^\/\.$"#, "/.", true), (#"^[a-c]$"#, "b", true), ("^$", "", true),
            ("(a*)*b", "aaab", true), ("", "anything", true),
        ]
        for (pattern, input, expected) in cases {
            #expect(try matches(pattern, input) == expected, "\(pattern) on \(input.debugDescription)")
            let (dfa, nfa) = try ECMARegex(pattern).answers(input)
            #expect(nfa == expected, "NFA: \(pattern) on \(input.debugDescription)")
            #expect(dfa == nil || dfa == expected, "DFA: \(pattern) on \(input.debugDescription)")
        }
    }

    @Test("the ASCII DFA and the NFA agree, and the DFA is used where it applies")
    func dfaAgreesWithNFA() throws {
        #expect(try ECMARegex("^sha256:[0-9a-f]{64}$").hasDFA)
        #expect(try ECMARegex(#"^\p{L}+$"#).hasDFA)
        #expect(try !ECMARegex(#"\bfoo"#).hasDFA)
        let patterns = ["^a+$", "a|b$", "^$", "$^", "a$$", "^(ab)*c?$", "x.y", #"^[^\s/]+@\d{1,3}$"#, "(^a|b)c", "a*", ""]
        let inputs = ["", "a", "aa", "ab", "abab", "ababc", "c", "xzy", "x\ny", "ba", "bc", "ac", "a/b@12", "ab@123",
                      "ab@1234", "zzb", "b\n"]
        for p in patterns {
            let regex = try ECMARegex(p)
            for input in inputs {
                let (dfa, nfa) = regex.answers(input)
                #expect(dfa == nfa, "\(p) on \(input.debugDescription): DFA \(String(describing: dfa)), NFA \(nfa)")
            }
        }
    }

    @Test("unsupported or invalid syntax is refused")
    func invalid() {
        for pattern in ["(?=a)", "(?!a)", "(?<=a)b", #"(a)\1"#, "a**", "[z-a]", "{", "a{2", #"\q"#, "(a", "a)", "[a",
                        #"\p{Script=Latin}"#, "a{3,1}", "]", #"[\d-z]"#, "*a", "^*", #"\c1"#]
        {
            #expect(throws: ECMARegexError.self, "\(pattern)") { try ECMARegex(pattern) }
        }
    }

    @Test("matching time is linear: nested quantifiers on a hostile input")
    func noCatastrophicBacktracking() throws {
        let regex = try ECMARegex("^(a+)+$")
        let hostile = String(repeating: "a", count: 20_000) + "!"
        let start = ContinuousClock.now
        #expect(!regex.matches(hostile))
        #expect(regex.matches(String(repeating: "a", count: 20_000)))
        #expect(ContinuousClock.now - start < .seconds(2))
    }
}
