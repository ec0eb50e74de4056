import Foundation
import LedgerCore
import Testing

@testable import LedgerWorkers

/// Where the project's data lives, found from this file (through any symbolic link to the test sources).
enum Repo {
    static let root: String = {
        let file =
            realpath(#filePath, nil).map { p in
                defer { free(p) }
                return String(cString: p)
            } ?? #filePath
        return URL(fileURLWithPath: file).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().path
    }()
    static var jobs: String { root + "/ops/jobs" }
    static var scripts: String { jobs + "/bin" }
    static var cluster: String { root + "/ops/cluster.yaml" }

    static func template(_ name: String) throws -> JobTemplate {
        try TemplateLoader.load(path: "\(jobs)/\(name).yaml")
    }
}

/// A directory under the system's temporary directory, removed by `remove()`.
struct TemporaryDirectory {
    let path: String

    init(_ label: String = "workers") throws {
        path =
            FileManager.default.temporaryDirectory.appendingPathComponent("mlledger-\(label)-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    func remove() { try? FileManager.default.removeItem(atPath: path) }

    func write(_ name: String, _ text: String) throws {
        try Data(text.utf8).write(to: URL(fileURLWithPath: path + "/" + name))
    }
}

/// Parses a JSON object literal written in a test.
func object(_ json: String) -> JSONObject {
    guard let o = (try? JSONParser.parse(json))?.objectValue else { fatalError("bad test JSON: \(json)") }
    return o
}

func readText(_ path: String) -> String {
    (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
}

func sha256Hex(ofFile path: String) -> String {
    "sha256:" + Hex.encode(SHA256.hash(Array(FileManager.default.contents(atPath: path) ?? Data())))
}

/// Runs a prepared job in its workspace and returns the outcome.
func runJob(_ invocation: JobInvocation, in workspace: JobWorkspace) throws -> ProcessOutcome {
    try ProcessRunner.run(invocation.processSpec(logPath: workspace.logPath, terminationGrace: .seconds(2)))
}

/// Whether a process is gone (or a zombie nobody has reaped yet: it runs no code either way).
func processIsGone(_ pid: Int32) -> Bool {
    guard kill(pid, 0) == 0 else { return errno == ESRCH }
    let stat = readText("/proc/\(pid)/stat")
    guard let close = stat.lastIndex(of: ")") else { return true }
    return stat[stat.index(close, offsetBy: 2)] == "Z"
}

/// Waits up to `seconds` for `condition`.
func eventually(_ seconds: Double = 5, _ condition: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if condition() { return true }
        usleep(20_000)
    }
    return condition()
}

/// `eventually` for async tests: sleeps without holding a thread of the concurrency pool.
func eventuallyAsync(_ seconds: Double = 10, _ condition: () -> Bool) async -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if condition() { return true }
        try? await Task.sleep(for: .milliseconds(20))
    }
    return condition()
}
