import Foundation
import LedgerWorkers

/// Runs a command to completion with the workers' process runner: the child inherits no descriptor but stdin
/// (/dev/null) and stdout/stderr (a temporary file), because `pg_ctl start` leaves a server running, and a server
/// that inherited one of our descriptors would keep our wait from ever ending.
enum ChildProcess {
    struct Failure: Error, CustomStringConvertible {
        let command: String
        let status: String
        let output: String
        var description: String { "\(command) failed (\(status)): \(output.suffix(2000))" }
    }

    static func run(_ path: String, _ args: [String]) throws -> String {
        let outPath = FileManager.default.temporaryDirectory.appendingPathComponent("mlledger-\(UUID().uuidString).out").path
        defer { unlink(outPath) }
        let outcome: ProcessOutcome
        do {
            // The server pg_ctl starts runs in its own session; nothing else may outlive the command.
            outcome = try ProcessRunner.run(ProcessSpec(executable: path, arguments: [path] + args, outputPath: outPath,
                                                        killsLeftoverProcesses: false))
        } catch {
            throw LedgerServiceError.configuration("cannot run \(path): \(error)")
        }
        let output = (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? ""
        guard outcome.succeeded else {
            throw Failure(command: ([(path as NSString).lastPathComponent] + args).joined(separator: " "),
                          status: outcome.termination.description, output: output)
        }
        return output
    }
}
