/// A transparency-log checkpoint: the body of a C2SP `tlog-checkpoint` note (wire format §7),
///
///     <origin>\n<decimal tree size>\n<base64 root hash>\n[extension lines\n]
///
/// The root is the RFC 6962 / RFC 9162 §2.1.1 Merkle Tree Hash of the first `size` entries. The ledger writes no
/// extension lines; `parse` keeps any it finds (C2SP tlog-checkpoint §Note text, item 4).
public struct Checkpoint: Sendable, Equatable {
    /// The log's identity, its `LedgerIdentity.origin`; also the name of the key that signs the note.
    public var origin: String
    /// Number of entries the checkpoint covers.
    public var size: UInt64
    /// MTH of those entries, 32 bytes.
    public var root: [UInt8]
    /// Opaque, non-empty extension lines, without their newlines.
    public var extensions: [String]

    public init(origin: String, size: UInt64, root: [UInt8], extensions: [String] = []) {
        self.origin = origin
        self.size = size
        self.root = root
        self.extensions = extensions
    }

    /// The note text: every line ends in a newline, including the last.
    public var text: String {
        var lines = [origin, String(size), Base64.encode(root)]
        lines.append(contentsOf: extensions)
        return lines.map { $0 + "\n" }.joined()
    }

    /// Parses a checkpoint body (the text of a signed note, signatures already split off).
    /// Strict: the size has no sign and no leading zeros, the root is canonical standard base64 of 32 bytes.
    public static func parse(_ text: String) throws(NoteError) -> Checkpoint {
        guard text.hasSuffix("\n") else { throw .malformedCheckpoint(line: 0, reason: "the text must end with a newline") }
        let lines = text.dropLast().split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard lines.count >= 3 else {
            throw .malformedCheckpoint(line: lines.count + 1, reason: "a checkpoint has at least 3 lines: origin, size, root")
        }
        let origin = lines[0]
        guard !origin.isEmpty else { throw .malformedCheckpoint(line: 1, reason: "the origin is empty") }
        let sizeText = lines[1]
        guard !sizeText.isEmpty, sizeText.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
              sizeText == "0" || !sizeText.hasPrefix("0"), let size = UInt64(sizeText)
        else { throw .malformedCheckpoint(line: 2, reason: "the tree size \"\(sizeText)\" is not a decimal number "
            + "without leading zeros") }
        guard let root = Base64.decode(lines[2]), Base64.encode(root) == lines[2] else {
            throw .malformedCheckpoint(line: 3, reason: "the root hash is not standard base64")
        }
        guard root.count == SHA256.digestSize else {
            throw .malformedCheckpoint(line: 3, reason: "the root hash is \(root.count) bytes, expected \(SHA256.digestSize)")
        }
        let extensions = Array(lines.dropFirst(3))
        if let empty = extensions.firstIndex(of: "") {
            throw .malformedCheckpoint(line: empty + 4, reason: "extension lines must not be empty")
        }
        return Checkpoint(origin: origin, size: size, root: root, extensions: extensions)
    }
}
