import Testing
@testable import LedgerCore

@Suite("Encodings")
struct EncodingTests {
    @Test("RFC 4648 §10 base64 vectors, both ways")
    func base64Vectors() {
        let vectors = [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foob", "Zm9vYg=="),
                       ("fooba", "Zm9vYmE="), ("foobar", "Zm9vYmFy")]
        for (plain, encoded) in vectors {
            #expect(Base64.encode(Array(plain.utf8)) == encoded)
            #expect(Base64.decode(encoded) == Array(plain.utf8))
        }
    }

    @Test("URL-safe and unpadded input are accepted; garbage is not")
    func base64Variants() {
        let bytes: [UInt8] = [0xfb, 0xff, 0xfe, 0x3e]
        #expect(Base64.encode(bytes) == "+//+Pg==")
        #expect(Base64.decode("-__-Pg==") == bytes)
        #expect(Base64.decode("-__-Pg") == bytes)
        #expect(Base64.decode("Zm9v!") == nil)
        #expect(Base64.decode("Zg=") == nil)
        #expect(Base64.decode("Z") == nil)
        #expect(Base64.decode("Zh==") == nil, "non-zero trailing bits are not canonical")
    }

    @Test("hex round trip")
    func hex() {
        #expect(Hex.encode([0x00, 0xab, 0xff]) == "00abff")
        #expect(Hex.decode("00ABff") == [0x00, 0xab, 0xff])
        #expect(Hex.decode("abc") == nil)
        #expect(Hex.decode("zz") == nil)
    }

    @Test("JSON parses what RFC 8259 allows and keeps numbers exact")
    func jsonParse() throws {
        let v = try JSONParser.parse(#" {"a": [1, -2.5e3, true, false, null], "b": "x\u00e9\ud83d\ude00\n", "n": 123456789012345678901} "#)
        #expect(v["a"] == [1, -2500, true, false, nil])
        #expect(v["b"]?.stringValue == "xé😀\n")
        #expect(v["n"]?.numberValue?.text == "123456789012345678901")
        #expect(JSONValue.number(JSONNumber(text: "1.0")) == JSONValue.number(JSONNumber(text: "1")))
    }

    @Test("JSON rejects malformed input with the offending position",
          arguments: ["", "{", "[1,]", "{\"a\":1,}", "01", "1.", "\"\\x\"", "\"a\u{01}\"", "tru", "{} x", "{\"a\":1,\"a\":2}",
                      "\"\\udc00\"", "-"])
    func jsonReject(_ text: String) {
        #expect(throws: JSONParseError.self) { try JSONParser.parse(text) }
    }

    @Test("JSON strings: escapes, control characters and non-ASCII found at every position of the word-wise scan")
    func jsonStringScan() throws {
        for length in 0..<40 {
            for position in 0..<max(length, 1) {
                var plain = Array(repeating: "a", count: length)
                if length > 0 { plain[position] = "\\n" }
                #expect(try JSONParser.parse("\"" + plain.joined() + "\"").stringValue?.filter { $0 == "\n" }.count == (length > 0 ? 1 : 0))
                var accented = Array(repeating: "b", count: length)
                if length > 0 { accented[position] = "é" }
                #expect(try JSONParser.parse("\"" + accented.joined() + "\"").stringValue == accented.joined())
                if length > 0 {
                    var control = Array(repeating: UInt8(ascii: "c"), count: length)
                    control[position] = 0x1f
                    #expect(throws: JSONParseError.self) { try JSONParser.parse([0x22] + control + [0x22]) }
                    var bad = Array(repeating: UInt8(ascii: "d"), count: length)
                    bad[position] = 0xff
                    #expect(throws: JSONParseError.self) { try JSONParser.parse([0x22] + bad + [0x22]) }
                }
            }
        }
    }

    @Test("JSON depth is bounded")
    func jsonDepth() {
        let deep = String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)
        #expect(throws: JSONParseError(kind: .tooDeep, offset: JSONParser.maxDepth)) { try JSONParser.parse(deep) }
    }

    @Test("JSON serialisation escapes and round-trips")
    func jsonWrite() throws {
        let v: JSONValue = ["s": "quote\" back\\ nl\n ctl\u{01} é", "a": [1, 2.5, nil, true], "o": [:]]
        let text = v.jsonString()
        #expect(text == #"{"s":"quote\" back\\ nl\n ctl\u0001 é","a":[1,2.5,null,true],"o":{}}"#)
        #expect(try JSONParser.parse(text) == v)
    }

    @Test("RFC 3339 times", arguments: [
        ("1970-01-01T00:00:00Z", Int64(0)),
        ("2026-05-01T12:00:00Z", Int64(1_777_636_800_000_000)),
        ("2026-05-01T16:00:00.5+04:00", Int64(1_777_636_800_500_000)),
        ("2024-02-29t23:59:59.123456-00:30", Int64(1_709_252_999_123_456)),
    ])
    func rfc3339(_ text: String, _ micros: Int64) {
        #expect(EventTime.parse(text) == micros)
        #expect(EventTime.parse(EventTime.format(micros: micros)) == micros)
    }

    @Test("invalid RFC 3339 times", arguments: ["2026-05-01", "2026-05-01T12:00:00", "2026-02-30T00:00:00Z",
                                                "2026-13-01T00:00:00Z", "2026-05-01T24:00:00Z", "2026-05-01T12:00:00+4:00",
                                                "2026-05-01T12:00:00.Z", "2026-05-01 12:00:00Zjunk"])
    func rfc3339Invalid(_ text: String) {
        #expect(EventTime.parse(text) == nil)
    }

    @Test("globs")
    func globs() {
        #expect(Glob("ci://github.com/acme/*").matches("ci://github.com/acme/fraud-model"))
        #expect(!Glob("ci://github.com/acme/*").matches("ci://github.com/evil/x"))
        #expect(Glob("mlops.training.*").matches("mlops.training.requested"))
        #expect(!Glob("mlops.training.*").matches("mlops.model.registered"))
        #expect(Glob("*").matches(""))
        #expect(Glob("a?c*z").matches("abcxyz"))
        #expect(!Glob("a?c").matches("ac"))
        #expect(Glob("*a*b*").matches("xxaxxbxx"))
    }
}

@Suite("DSSE and CloudEvents")
struct EnvelopeTests {
    @Test("PAE of the DSSE protocol's worked example")
    func paeExample() {
        let pae = DSSEEnvelope.pae(payloadType: "http://example.com/HelloWorld", payload: Array("hello world".utf8))
        #expect(String(decoding: pae, as: UTF8.self) == "DSSEv1 29 http://example.com/HelloWorld 11 hello world")
    }

    @Test("PAE counts bytes, not characters")
    func paeBytes() {
        let pae = DSSEEnvelope.pae(payloadType: "t", payload: Array("é".utf8))
        #expect(pae == Array("DSSEv1 1 t 2 ".utf8) + [0xc3, 0xa9])
    }

    @Test("envelope round trip and errors")
    func envelope() throws {
        let env = DSSEEnvelope(payloadType: DSSEEnvelope.cloudEventsPayloadType, payload: Array("{}".utf8),
                               signatures: [.init(keyID: "ab", sig: [1, 2, 3])])
        #expect(try DSSEEnvelope.parse(env.serialized()) == env)
        #expect(throws: EnvelopeError.missingField("payload")) {
            try DSSEEnvelope.parse(Array(#"{"payloadType":"x","signatures":[]}"#.utf8))
        }
        #expect(throws: EnvelopeError.noSignatures) {
            try DSSEEnvelope.parse(Array(#"{"payloadType":"x","payload":"","signatures":[]}"#.utf8))
        }
        #expect(throws: EnvelopeError.badBase64("payload")) {
            try DSSEEnvelope.parse(Array(#"{"payloadType":"x","payload":"%%","signatures":[{"sig":""}]}"#.utf8))
        }
        #expect(throws: EnvelopeError.notAnObject) { try DSSEEnvelope.parse(Array("[1]".utf8)) }
    }

    static let valid = #"{"specversion":"1.0","id":"1","source":"ci://x","type":"mlops.training.started","subject":"run/1","time":"2026-05-01T12:00:00Z","data":{"run_id":"1"},"region":"azure:uaenorth"}"#

    @Test("CloudEvent attributes")
    func cloudEvent() throws {
        let e = try CloudEvent.parse(Array(Self.valid.utf8))
        #expect(e.id == "1" && e.source == "ci://x" && e.subject == "run/1" && e.tenant == "default")
        #expect(e.region == "azure:uaenorth")
        #expect(e.timeMicros == 1_777_636_800_000_000)
        #expect(e.data["run_id"] == "1")
    }

    @Test("CloudEvent errors name the JSON path", arguments: [
        ("specversion", "$.specversion"), ("id", "$.id"), ("time", "$.time"), ("data", "$.data"), ("subject", "$.subject"),
    ])
    func cloudEventMissing(_ attribute: String, _ path: String) throws {
        var o = try JSONParser.parse(Self.valid).objectValue!
        o[attribute] = nil
        #expect(throws: CloudEventError.missing(path)) { try CloudEvent(attributes: o) }
        o[attribute] = 5
        #expect((try? CloudEvent(attributes: o)) == nil)
    }

    @Test("a bad time is reported at $.time")
    func cloudEventTime() throws {
        var o = try JSONParser.parse(Self.valid).objectValue!
        o["time"] = "yesterday"
        #expect(throws: CloudEventError.invalid("$.time", "must be an RFC 3339 date-time")) { try CloudEvent(attributes: o) }
    }

    @Test("quarantine codes are stable")
    func codes() {
        #expect(QuarantineReason.schemaViolation(path: "$.data.digest").code == "schema_violation:$.data.digest")
        #expect(QuarantineReason.schemaViolation(path: "$.x").family == "schema_violation")
        #expect(QuarantineReason.notDSSE.code == "not_dsse")
        #expect(QuarantineReason.unknownKey.code == "unknown_key")
        #expect(QuarantineReason.signatureInvalid.code == "signature_invalid")
        #expect(QuarantineReason.headerMismatch(header: "ce_type").code == "header_mismatch:ce_type")
    }

    @Test("trust scopes")
    func scopes() throws {
        let scope = TrustScope(sources: [Glob("ci://github.com/acme/*")], types: [Glob("mlops.training.*")], tenant: "risk")
        var o = try JSONParser.parse(Self.valid).objectValue!
        o["source"] = "ci://github.com/acme/fraud"
        o["tenant"] = "risk"
        #expect(scope.covers(try CloudEvent(attributes: o)))
        o["tenant"] = "other"
        #expect(!scope.covers(try CloudEvent(attributes: o)))
        #expect(TrustScope(json: scope.json) == scope)
    }
}

@Suite("JSON duplicate keys")
struct JSONDuplicateKeyTests {
    @Test("duplicates are refused in small and large objects, wherever they stand", arguments: [2, 15, 16, 17, 40])
    func duplicates(_ count: Int) throws {
        let keys = (0..<count).map { "k\($0)" }
        let unique = "{" + keys.map { "\"\($0)\":1" }.joined(separator: ",") + "}"
        #expect(try JSONParser.parse(unique).objectValue?.count == count)
        for repeated in [0, count / 2, count - 1] {
            let text = "{" + (keys + [keys[repeated]]).map { "\"\($0)\":1" }.joined(separator: ",") + "}"
            #expect(throws: JSONParseError.self) { try JSONParser.parse(text) }
        }
    }
}
