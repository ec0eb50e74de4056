import Foundation

/// The known-answer vectors from outside the project (RFC 8032 and RFC 6962 vectors, the JSON Schema Test Suite):
/// the directory `MLLEDGER_TESTDATA` names, else `shared/testdata` beside the package's directory.
public enum KnownAnswers {
    public static var directory: URL {
        if let d = ProcessInfo.processInfo.environment["MLLEDGER_TESTDATA"], !d.isEmpty {
            return URL(fileURLWithPath: d)
        }
        // This file is <package>/Tests/LedgerTestSupport/KnownAnswers.swift.
        return URL(fileURLWithPath: #filePath).resolvingSymlinksInPath().deletingLastPathComponent()
            .appendingPathComponent("../../../shared/testdata").standardizedFileURL
    }

    /// The URL of `name` in the directory; an error that says where it looked and how to point elsewhere when the
    /// file is not there.
    public static func url(_ name: String) throws -> URL {
        let url = directory.appendingPathComponent(name)
        guard FileManager.default.fileExists(atPath: url.path) else { throw Missing(path: url.path) }
        return url
    }

    public struct Missing: Error, CustomStringConvertible {
        public let path: String
        public var description: String {
            "known-answer vectors not found at \(path): they are read from shared/testdata beside the package's "
                + "directory; set MLLEDGER_TESTDATA to the directory that holds them"
        }
    }
}
