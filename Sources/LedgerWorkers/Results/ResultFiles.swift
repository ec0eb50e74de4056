import Foundation
import LedgerCore

/// Why a job's result files cannot be turned into result events. A job whose results do not read is a failed job
/// (`mlops.training.failed` / `mlops.deployment.failed` with this as the reason), never a partly recorded one.
public struct ResultError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Stable codes tests and callers match on; also usable as the machine-readable part of a failure reason.
    public enum Code: String, Sendable, Hashable {
        case missing
        /// Not a regular file, or a symbolic link (a job may not point the worker at files outside its output).
        case notRegularFile = "not_regular_file"
        case tooLarge = "too_large"
        case invalidJSON = "invalid_json"
        case invalidField = "invalid_field"
        /// The digest a job claims for a file differs from the file's.
        case digestMismatch = "digest_mismatch"
        /// A verdict that does not follow from the checks, or a report that strays from the plan.
        case inconsistent
    }

    public let code: Code
    /// The result file (its name inside the output directory).
    public let file: String
    public let detail: String

    public init(_ code: Code, file: String, _ detail: String) {
        self.code = code
        self.file = file
        self.detail = detail
    }

    public var description: String { "\(file): \(code.rawValue): \(detail)" }
}

/// An event the worker emits from a job's results: its catalog type and its `data`.
public struct ResultEvent: Sendable, Hashable {
    public let type: String
    public let data: JSONObject

    public init(type: String, data: JSONObject) {
        self.type = type
        self.data = data
    }
}

/// Reads files from a job's output directory without following links out of it: the directory is opened with
/// `O_NOFOLLOW | O_DIRECTORY`, each file by name inside it with `openat(…, O_NOFOLLOW)`, and only regular files are
/// read. A job cannot make the worker sign the content of `/etc/shadow` by leaving a symbolic link behind.
struct OutputDirectory {
    let path: String
    /// Largest JSON result file read (a result event is at most 64 KiB on the wire).
    static let maxJSONBytes = 256 * 1024

    init(_ path: String) { self.path = path }

    private func withFile<T>(_ name: String, _ body: (Int32) throws(ResultError) -> T) throws(ResultError) -> T {
        guard !name.isEmpty, !name.contains("/"), name != ".", name != "..", !name.utf8.contains(0) else {
            throw ResultError(.invalidField, file: name, "a result file is named by a plain file name")
        }
        let dir = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard dir >= 0 else {
            throw ResultError(errno == ENOENT ? .missing : .notRegularFile, file: name, "output directory unavailable")
        }
        defer { close(dir) }
        let fd = openat(dir, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else {
            let why = String(cString: strerror(errno))
            throw ResultError(errno == ENOENT ? .missing : .notRegularFile, file: name, "cannot open: \(why)")
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else {
            throw ResultError(.notRegularFile, file: name, "not a regular file")
        }
        return try body(fd)
    }

    func exists(_ name: String) -> Bool {
        var info = stat()
        return lstat(path + "/" + name, &info) == 0
    }

    /// The digest and size of a file.
    func digest(_ name: String) throws(ResultError) -> (digest: String, bytes: Int64) {
        try withFile(name) { (fd) throws(ResultError) in
            guard let d = ProcessRunner.digest(ofDescriptor: fd) else {
                throw ResultError(.missing, file: name, "read failed")
            }
            return d
        }
    }

    /// A JSON file's top-level object.
    func jsonObject(_ name: String) throws(ResultError) -> JSONObject {
        try Self.object(try bytes(name), file: name)
    }

    static func object(_ bytes: [UInt8], file name: String) throws(ResultError) -> JSONObject {
        let value: JSONValue
        do { value = try JSONParser.parse(bytes) } catch {
            throw ResultError(.invalidJSON, file: name, error.description)
        }
        guard let object = value.objectValue else { throw ResultError(.invalidJSON, file: name, "not a JSON object") }
        return object
    }

    /// A file's bytes, at most `maxJSONBytes`.
    func bytes(_ name: String) throws(ResultError) -> [UInt8] {
        try withFile(name) { (fd) throws(ResultError) -> [UInt8] in
            var out: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: 16384)
            while true {
                let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                if n < 0 {
                    if errno == EINTR { continue }
                    throw ResultError(.missing, file: name, "read failed")
                }
                if n == 0 { break }
                out += chunk[0..<n]
                guard out.count <= Self.maxJSONBytes else {
                    throw ResultError(.tooLarge, file: name, "more than \(Self.maxJSONBytes) bytes")
                }
            }
            return out
        }
    }

    /// An absolute `file://` URI for a file in the directory (path bytes outside the unreserved set and `/`
    /// percent-encoded, so the URI has no whitespace).
    func fileURI(_ name: String) -> String {
        var out = "file://"
        for b in (path + "/" + name).utf8 {
            let c = Character(Unicode.Scalar(b))
            if b < 0x80, c.isLetter || c.isNumber || "-._~/".contains(c) {
                out.append(c)
            } else {
                out += String(format: "%%%02X", b)
            }
        }
        return out
    }
}

/// Typed access to result JSON, with errors naming the file and the field.
struct ResultFields {
    let object: JSONObject
    let file: String
    let prefix: String

    init(_ object: JSONObject, file: String, prefix: String = "") {
        self.object = object
        self.file = file
        self.prefix = prefix
    }

    func fail(_ key: String, _ why: String) -> ResultError {
        ResultError(.invalidField, file: file, "\(prefix)\(key): \(why)")
    }

    func string(_ key: String, pattern: String? = nil) throws(ResultError) -> String {
        guard let s = object[key]?.stringValue, !s.isEmpty else { throw fail(key, "expected a non-empty string") }
        guard s.utf8.count <= 1024, !s.unicodeScalars.contains(where: ParameterSpec.isControl) else {
            throw fail(key, "too long or has control characters")
        }
        if let pattern, !ParameterSpec.matches(s, pattern) { throw fail(key, "does not match \(pattern)") }
        return s
    }

    func optionalString(_ key: String) throws(ResultError) -> String? {
        guard let v = object[key], v != .null else { return nil }
        return try string(key)
    }

    func number(_ key: String) throws(ResultError) -> JSONNumber {
        guard let n = object[key]?.numberValue, n.doubleValue.isFinite else {
            throw fail(key, "expected a finite number")
        }
        return n
    }

    func int(_ key: String) throws(ResultError) -> Int {
        guard let n = object[key]?.numberValue, n.isInteger, let i = n.int64Value else {
            throw fail(key, "expected an integer")
        }
        return Int(i)
    }

    func bool(_ key: String) throws(ResultError) -> Bool {
        guard let b = object[key]?.boolValue else { throw fail(key, "expected true or false") }
        return b
    }

    func array(_ key: String) throws(ResultError) -> [JSONValue] {
        guard let a = object[key]?.arrayValue else { throw fail(key, "expected a list") }
        return a
    }

    func objects(_ key: String) throws(ResultError) -> [ResultFields] {
        var out: [ResultFields] = []
        for (i, v) in try array(key).enumerated() {
            guard let o = v.objectValue else { throw fail("\(key)[\(i)]", "expected an object") }
            out.append(ResultFields(o, file: file, prefix: "\(prefix)\(key)[\(i)]."))
        }
        return out
    }
}
