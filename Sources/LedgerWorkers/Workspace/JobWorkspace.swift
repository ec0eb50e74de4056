import Foundation
import LedgerCore

/// The directories of one job under the worker's jobs root:
///
/// ```
/// <root>/<job id>/job.log      stdout + stderr (outside the working directory)
/// <root>/<job id>/work/        {{job.workdir}}: where path parameters resolve
/// <root>/<job id>/work/inputs/ {{job.inputs}}: files the worker staged (a model to validate or deploy)
/// <root>/<job id>/work/out/    {{job.output}}: the result files the worker reads back
/// ```
public struct JobWorkspace: Sendable, Hashable {
    public let jobID: String
    public let directory: String
    public var workdir: String { directory + "/work" }
    public var inputs: String { workdir + "/inputs" }
    public var output: String { workdir + "/out" }
    public var logPath: String { directory + "/job.log" }

    /// Why a workspace cannot be set up.
    public struct Failure: Error, Sendable, Hashable, CustomStringConvertible {
        /// Stable codes callers match on.
        public enum Code: String, Sendable, Hashable {
            case invalidJobID = "invalid_job_id"
            case io
            case digestMismatch = "digest_mismatch"
            case invalidName = "invalid_name"
        }

        public let code: Code
        public let detail: String
        public var description: String { "\(code.rawValue): \(detail)" }
    }

    /// Creates (or reuses, for a job that runs again) the directories of job `jobID` under `root`. Job ids are one
    /// path component: letters, digits, `.`, `_`, `-`, `:` (a run id or UUID), not starting with `.`.
    public static func create(root: String, jobID: String) throws(Failure) -> JobWorkspace {
        guard ParameterSpec.matches(jobID, "[A-Za-z0-9][A-Za-z0-9._:-]{0,127}") else {
            throw Failure(code: .invalidJobID, detail: "a job id is one path component of letters, digits, . _ : -")
        }
        let w = JobWorkspace(jobID: jobID, directory: root + "/" + jobID)
        for dir in [w.directory, w.workdir, w.inputs, w.output] {
            do {
                try FileManager.default.createDirectory(
                    atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o750])
            } catch {
                throw Failure(code: .io, detail: "cannot create \(dir): \(error.localizedDescription)")
            }
        }
        return w
    }

    /// The context for rendering a template in this workspace.
    public func context(scriptsDirectory: String, servingRoot: String? = nil) -> JobContext {
        JobContext(
            jobID: jobID, workdir: workdir, outputDirectory: output, inputsDirectory: inputs,
            scriptsDirectory: scriptsDirectory, servingRoot: servingRoot
        )
    }

    /// Copies `source` into `inputs/<name>` and checks it has `expectedDigest` (`sha256:<hex>`), so a job only
    /// ever sees the exact artifact the ledger recorded. Returns the path relative to the working directory
    /// (`inputs/model.json`), ready to be a path parameter.
    @discardableResult
    public func stageInput(from source: String, as name: String, expectedDigest: String) throws(Failure) -> String {
        guard !name.isEmpty, !name.contains("/"), name != ".", name != "..", !name.utf8.contains(0) else {
            throw Failure(code: .invalidName, detail: "an input is named by a plain file name")
        }
        let target = inputs + "/" + name
        let temporary = inputs + "/.\(name).staging"
        do {
            if FileManager.default.fileExists(atPath: temporary) {
                try FileManager.default.removeItem(atPath: temporary)
            }
            try FileManager.default.copyItem(atPath: source, toPath: temporary)
        } catch {
            throw Failure(code: .io, detail: "cannot copy the input \(name): \(error.localizedDescription)")
        }
        guard let (digest, _) = ProcessRunner.digest(ofFileAt: temporary), digest == expectedDigest else {
            try? FileManager.default.removeItem(atPath: temporary)
            throw Failure(code: .digestMismatch, detail: "\(name) does not have the digest \(expectedDigest)")
        }
        guard rename(temporary, target) == 0 else {
            throw Failure(code: .io, detail: "cannot move \(name) into place: \(String(cString: strerror(errno)))")
        }
        return "inputs/" + name
    }
}
