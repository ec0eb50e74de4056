import LedgerCore
import Testing

/// Known answers from outside: golang.org/x/mod/sumdb/note's PeterNeumann key and note (the reference
/// implementation of C2SP signed-note), and the examples of the C2SP signed-note and tlog-checkpoint specs.
enum NoteKnownAnswers {
    static let vkey = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
    static let text = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
    static let signatureLine = "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
    static var note: String { text + "\n" + signatureLine }

    /// C2SP signed-note.md's example: its text holds a blank line of its own.
    static let specNote = """
        Ognuno sta solo sul cuor della terra
        trafitto da un raggio di sole:

        ed è subito sera.

        — quasimodo.example/salvatore NnugSzTjtVAewIS+Z/iJhUPeFDkO/5QQ2i5ddnGITLlC+EhfLW9oJKONrMouFSQU0xMcXxj99ihAQwaqP3ZekRwNtIc=

        """

    /// C2SP tlog-checkpoint.md's example.
    static let specCheckpoint = """
        example.com/behind-the-sofa
        20852163
        CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=

        — example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=

        """
}

@Suite("C2SP verifier keys")
struct VerifierKeyTests {
    @Test("the PeterNeumann verifier key parses, its key id is SHA-256(name || 0x0A || 0x01 || key)[:4], it round-trips")
    func knownKey() throws {
        let key = try NoteVerifierKey.parse(NoteKnownAnswers.vkey)
        #expect(key.name == "PeterNeumann")
        #expect(key.keyID == 0xc74f_20a3)
        #expect(key.type == NoteVerifierKey.ed25519)
        #expect(key.publicKey.count == 32)
        #expect(NoteKeyID.compute(name: "PeterNeumann", type: 0x01, publicKey: key.publicKey) == 0xc74f_20a3)
        #expect(NoteKeyID.compute(name: "PeterNeumanN", type: 0x01, publicKey: key.publicKey) != 0xc74f_20a3)
        #expect(key.description == NoteKnownAnswers.vkey)
        #expect(try NoteVerifierKey(name: "PeterNeumann", ed25519PublicKey: key.publicKey) == key)
    }

    @Test("every substring and every single-byte change of the key is refused (Go note_test.go's manglings)")
    func manglings() {
        let bytes = Array(NoteKnownAnswers.vkey.utf8)
        var accepted: [String] = []
        for i in 0...bytes.count {
            for j in (i + 1)..<(bytes.count + 1) where !(i == 0 && j == bytes.count) {
                let s = String(decoding: bytes[i..<j], as: UTF8.self)
                if (try? NoteVerifierKey.parse(s)) != nil { accepted.append(s) }
            }
        }
        for i in bytes.indices {
            var changed = bytes
            changed[i] &+= 1
            let s = String(decoding: changed, as: UTF8.self)
            if (try? NoteVerifierKey.parse(s)) != nil { accepted.append(s) }
        }
        #expect(accepted.isEmpty, "accepted: \(accepted)")
    }

    @Test("wrong-length keys, unknown types and bad names are refused with a reason")
    func refusals() {
        #expect(throws: NoteError.unsupportedKeyType(0x65)) {
            try NoteVerifierKey.parse("PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW")
        }
        #expect(throws: NoteError.self) {
            try NoteVerifierKey.parse("PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==")
        }
        #expect(throws: NoteError.invalidKeyName("a b")) { try NoteVerifierKey(name: "a b", ed25519PublicKey: [UInt8](repeating: 1, count: 32)) }
        #expect(throws: NoteError.invalidKeyName("")) { try NoteVerifierKey(name: "", ed25519PublicKey: [UInt8](repeating: 1, count: 32)) }
    }
}

@Suite("C2SP signed notes")
struct SignedNoteTests {
    @Test("the PeterNeumann note parses into its text and one signature from key c74f20a3, and formats back exactly")
    func knownNote() throws {
        let note = try SignedNote.parse(NoteKnownAnswers.note)
        #expect(note.text == NoteKnownAnswers.text)
        #expect(note.signatures.count == 1)
        #expect(note.signatures[0].name == "PeterNeumann")
        #expect(note.signatures[0].keyID == 0xc74f_20a3)
        #expect(note.signatures[0].signature.count == 64)
        #expect(note.formatted == NoteKnownAnswers.note)
    }

    @Test("the signed-note spec's example: the text is split from the signatures at the LAST blank line")
    func specExample() throws {
        let note = try SignedNote.parse(NoteKnownAnswers.specNote)
        #expect(note.text == "Ognuno sta solo sul cuor della terra\ntrafitto da un raggio di sole:\n\ned è subito sera.\n")
        #expect(note.signatures.map(\.name) == ["quasimodo.example/salvatore"])
        #expect(note.signatures[0].signature.count == 64)
        #expect(note.formatted == NoteKnownAnswers.specNote)
    }

    @Test("malformed notes are refused, naming the rule")
    func malformed() {
        let sig = "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM="
        let cases: [(String, String)] = [
            ("no blank line", "text\n" + sig + "\n"),
            ("hyphen instead of em dash", "text\n\n- PeterNeumann AAAAAAAA\n"),
            ("signature not newline-terminated", "text\n\n" + sig),
            ("key name with +", "text\n\n— Peter+Neumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"),
            ("signature not base64", "text\n\n— PeterNeumann not*base64\n"),
            ("signature of 4 bytes only", "text\n\n— PeterNeumann AAAAAA==\n"),
            ("control character", "te\u{09}xt\n\n" + sig + "\n"),
            ("empty line among the signatures", "text\n\n" + sig + "\n\n" + sig + "\n\n"),
        ]
        for (label, text) in cases {
            #expect(throws: NoteError.self, "\(label)") { try SignedNote.parse(text) }
        }
        let many = "text\n\n" + String(repeating: sig + "\n", count: SignedNote.maxSignatures + 1)
        #expect(throws: NoteError.malformedNote("more than \(SignedNote.maxSignatures) signatures")) { try SignedNote.parse(many) }
        #expect(throws: Never.self) { try SignedNote.parse("text\n\n" + String(repeating: sig + "\n", count: 16)) }
    }

    @Test("texts to sign must end in a newline and hold no control characters")
    func checkText() {
        #expect(throws: NoteError.self) { try SignedNote.checkText("no newline") }
        #expect(throws: NoteError.self) { try SignedNote.checkText("tab\there\n") }
        #expect(throws: Never.self) { try SignedNote.checkText("fine\n") }
    }
}

@Suite("C2SP tlog-checkpoint bodies")
struct CheckpointBodyTests {
    @Test("the tlog-checkpoint spec's example parses: origin, size, 32-byte root; the text round-trips")
    func specExample() throws {
        let note = try SignedNote.parse(NoteKnownAnswers.specCheckpoint)
        let checkpoint = try Checkpoint.parse(note.text)
        #expect(checkpoint.origin == "example.com/behind-the-sofa")
        #expect(checkpoint.size == 20_852_163)
        #expect(Base64.encode(checkpoint.root) == "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=")
        #expect(checkpoint.extensions.isEmpty)
        #expect(checkpoint.text == note.text)
    }

    @Test("the body is <origin>\\n<size>\\n<base64 root>\\n, with extension lines kept")
    func format() throws {
        let root = SHA256.hash(Array("x".utf8))
        let c = Checkpoint(origin: "mlledger.local/ledger", size: 42, root: root)
        #expect(c.text == "mlledger.local/ledger\n42\n\(Base64.encode(root))\n")
        #expect(try Checkpoint.parse(c.text) == c)
        let withExtension = Checkpoint(origin: "o", size: 0, root: Merkle.emptyRoot, extensions: ["ext one"])
        #expect(try Checkpoint.parse(withExtension.text) == withExtension)
        #expect(try Checkpoint.parse("o\n0\n\(Base64.encode(Merkle.emptyRoot))\n").size == 0)
    }

    @Test("malformed bodies are refused naming the line")
    func malformed() {
        let root = Base64.encode(Merkle.emptyRoot)
        let urlSafeRoot = Base64.encode([UInt8](repeating: 0xfb, count: 32)).replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_")
        let cases: [(String, Int)] = [
            ("o\n1\n\(root)", 0),
            ("o\n1\n", 3),
            ("\n1\n\(root)\n", 1),
            ("o\n01\n\(root)\n", 2),
            ("o\n+1\n\(root)\n", 2),
            ("o\n-1\n\(root)\n", 2),
            ("o\n18446744073709551616\n\(root)\n", 2),
            ("o\n1\n\(Base64.encode([UInt8](repeating: 1, count: 31)))\n", 3),
            ("o\n1\n\(urlSafeRoot)\n", 3),
            ("o\n1\n\(root)\n\n", 4),
        ]
        for (text, line) in cases {
            do {
                _ = try Checkpoint.parse(text)
                Issue.record("accepted \(text.debugDescription)")
            } catch {
                guard case .malformedCheckpoint(let l, _) = error else {
                    Issue.record("unexpected \(error)")
                    continue
                }
                #expect(l == line, "\(text.debugDescription): \(error)")
            }
        }
    }
}
