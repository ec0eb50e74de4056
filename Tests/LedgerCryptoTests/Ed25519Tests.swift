import Foundation
import Testing
import LedgerCore
import LedgerTestSupport
@testable import LedgerCrypto

/// Known-answer files as JSON.
enum TestData {
    static func json(_ name: String) throws -> JSONValue {
        try JSONParser.parse([UInt8](try Data(contentsOf: KnownAnswers.url(name))))
    }
}

/// Runs an external command, returning its exit status and output.
@discardableResult
func runTool(_ path: String, _ args: [String], stdin: [UInt8]? = nil) throws -> (status: Int32, output: [UInt8]) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: path)
    p.arguments = args
    let out = Pipe()
    p.standardOutput = out
    p.standardError = out
    let input = Pipe()
    p.standardInput = input
    try p.run()
    if let stdin { input.fileHandleForWriting.write(Data(stdin)) }
    try input.fileHandleForWriting.close()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, [UInt8](data))
}

@Suite("Ed25519")
struct Ed25519Tests {
    @Test("RFC 8032 §7.1 vectors: public key, signature, verification")
    func rfc8032() throws {
        let vectors = try #require(try TestData.json("rfc8032-ed25519.json")["vectors"]?.arrayValue)
        #expect(vectors.count >= 3)
        for v in vectors {
            let seed = try #require(Hex.decode(v["seed_hex"]!.stringValue!))
            let pub = try #require(Hex.decode(v["public_key_hex"]!.stringValue!))
            let msg = try #require(Hex.decode(v["message_hex"]!.stringValue!))
            let sig = try #require(Hex.decode(v["signature_hex"]!.stringValue!))
            let key = try Ed25519PrivateKey(seed: seed)
            #expect(key.publicKey.raw == pub)
            #expect(key.sign(msg) == sig)
            #expect(key.publicKey.verify(signature: sig, message: msg))
            var bad = sig
            bad[10] ^= 1
            #expect(!key.publicKey.verify(signature: bad, message: msg))
            #expect(!key.publicKey.verify(signature: sig, message: msg + [0]))
        }
    }

    @Test("key id is SHA-256 of the raw public key")
    func keyID() throws {
        let key = try Ed25519PrivateKey(seed: [UInt8](repeating: 7, count: 32))
        #expect(key.publicKey.keyID == Hex.encode(SHA256.hash(key.publicKey.raw)))
        #expect(key.publicKey.keyID.count == 64)
    }

    @Test("PEM round trip, and refusal of other key types")
    func pem() throws {
        let key = Ed25519PrivateKey.generate()
        let back = try Ed25519PrivateKey(pem: key.pem)
        #expect(back.seed == key.seed)
        #expect(try Ed25519PublicKey(pem: key.publicKey.pem) == key.publicKey)
        #expect(throws: KeyError.notPEM(expectedLabel: "PRIVATE KEY")) { try Ed25519PrivateKey(pem: key.publicKey.pem) }
    }

    @Test("keys from openssl genpkey are read; ours are read by openssl; signatures cross-verify")
    func opensslInterop() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mlledger-openssl-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let openssl = "/usr/bin/openssl"
        #expect(try runTool(openssl, ["genpkey", "-algorithm", "ed25519", "-out", "\(dir)/o.key"]).status == 0)
        #expect(try runTool(openssl, ["pkey", "-in", "\(dir)/o.key", "-pubout", "-out", "\(dir)/o.pub"]).status == 0)
        let theirs = try KeyFiles.readPrivateKey(at: "\(dir)/o.key")
        #expect(try KeyFiles.readPublicKey(at: "\(dir)/o.pub") == theirs.publicKey)

        let message = Array("DSSEv1 28 application/cloudevents+json 2 {}".utf8)
        try Data(message).write(to: URL(fileURLWithPath: "\(dir)/msg"))
        let signed = try runTool(openssl, ["pkeyutl", "-sign", "-rawin", "-inkey", "\(dir)/o.key", "-in", "\(dir)/msg"])
        #expect(signed.status == 0)
        #expect(signed.output == theirs.sign(message), "Ed25519 is deterministic: openssl and libsodium agree")
        #expect(theirs.publicKey.verify(signature: signed.output, message: message))

        let ours = Ed25519PrivateKey.generate()
        try KeyFiles.writePrivateKey(ours, to: "\(dir)/m.key")
        try KeyFiles.writePublicKey(ours.publicKey, to: "\(dir)/m.pub")
        let mode = try FileManager.default.attributesOfItem(atPath: "\(dir)/m.key")[.posixPermissions] as? Int
        #expect(mode == 0o600)
        try Data(ours.sign(message)).write(to: URL(fileURLWithPath: "\(dir)/m.sig"))
        let verified = try runTool(openssl, ["pkeyutl", "-verify", "-rawin", "-pubin", "-inkey", "\(dir)/m.pub",
                                             "-in", "\(dir)/msg", "-sigfile", "\(dir)/m.sig"])
        #expect(verified.status == 0, "openssl verifies our signature: \(String(decoding: verified.output, as: UTF8.self))")
        let pubFromPriv = try runTool(openssl, ["pkey", "-in", "\(dir)/m.key", "-pubout"])
        #expect(String(decoding: pubFromPriv.output, as: UTF8.self) == ours.publicKey.pem)
    }

    @Test("UUIDv7 ids are version 7, variant 10, time-ordered")
    func uuid() {
        let a = EventIDs.uuidV7(unixMillis: 1_000), b = EventIDs.uuidV7(unixMillis: 2_000)
        #expect(a.count == 36 && Array(a)[14] == "7")
        #expect("89ab".contains(Array(a)[19]))
        #expect(a < b)
    }
}

@Suite("Key ring")
struct KeyRingTests {
    let ci = try! Ed25519PrivateKey(seed: [UInt8](repeating: 1, count: 32))
    let other = try! Ed25519PrivateKey(seed: [UInt8](repeating: 2, count: 32))

    func envelope(_ signers: [Ed25519PrivateKey], source: String = "ci://github.com/acme/a",
                  type: String = "mlops.training.started", tamper: Bool = false) -> (DSSEEnvelope, CloudEvent) {
        let attrs = CloudEvent.make(id: "1", source: source, type: type, subject: "run/1", time: "2026-05-01T12:00:00Z",
                                    data: ["run_id": "1"])
        let payload = JSONValue.object(attrs).serialized()
        let pae = DSSEEnvelope.pae(payloadType: DSSEEnvelope.cloudEventsPayloadType, payload: payload)
        var env = DSSEEnvelope(payloadType: DSSEEnvelope.cloudEventsPayloadType, payload: payload,
                               signatures: signers.map { .init(keyID: $0.publicKey.keyID, sig: $0.sign(pae)) })
        if tamper { env.payload[env.payload.count - 3] ^= 1 }
        return (env, try! CloudEvent.parse(payload))
    }

    var ring: KeyRing {
        KeyRing([TrustedKey(name: "ci", publicKey: ci.publicKey,
                            scope: TrustScope(sources: [Glob("ci://github.com/acme/*")], types: [Glob("mlops.*")]),
                            trustedAt: 5)])
    }

    @Test("a trusted, in-scope signature is accepted after its trust index")
    func accepted() {
        let (env, event) = envelope([ci])
        #expect(ring.verifySignatures(env) == .verified(keyIDs: [ci.publicKey.keyID]))
        #expect(ring.authorize(keyIDs: [ci.publicKey.keyID], event: event, at: 6) == nil)
        #expect(ring.authorize(keyIDs: [ci.publicKey.keyID], event: event, at: 5) == .unknownKey)
    }

    @Test("unknown keys are ignored, but some known key must sign")
    func unknown() {
        #expect(ring.verifySignatures(envelope([other]).0) == .rejected(.unknownKey))
        #expect(ring.verifySignatures(envelope([other, ci]).0) == .verified(keyIDs: [ci.publicKey.keyID]))
    }

    @Test("a changed payload fails verification")
    func tampered() {
        #expect(ring.verifySignatures(envelope([ci], tamper: true).0) == .rejected(.signatureInvalid))
    }

    @Test("scope and revocation")
    func scope() {
        var r = ring
        let (_, outside) = envelope([ci], source: "ci://github.com/evil/x")
        #expect(r.authorize(keyIDs: [ci.publicKey.keyID], event: outside, at: 9) == .keyOutOfScope)
        let (_, inside) = envelope([ci])
        let revoked = r.revoke(name: "ci", at: 10)
        #expect(revoked)
        #expect(r.authorize(keyIDs: [ci.publicKey.keyID], event: inside, at: 10) == nil, "revocation applies after its index")
        #expect(r.authorize(keyIDs: [ci.publicKey.keyID], event: inside, at: 11) == .keyRevoked)
    }
}

@Suite("Leaf hashes")
struct LeafHashTests {
    @Test("the accelerated leaf hash equals the reference RFC 6962 leaf hash")
    func sameAsReference() {
        var bytes: [UInt8] = []
        for n in 0..<300 {
            #expect(LeafHash.of(bytes) == Merkle.leafHash(bytes), "length \(n)")
            bytes.append(UInt8(truncatingIfNeeded: n &* 31 &+ 7))
        }
        let big = [UInt8](repeating: 0xab, count: 65_536)
        #expect(LeafHash.of(big) == Merkle.leafHash(big))
        #expect(Hex.encode(LeafHash.of([])) == "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d")
    }
}
