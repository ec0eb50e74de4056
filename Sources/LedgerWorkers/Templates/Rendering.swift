import Foundation
import LedgerCore

/// What the worker knows about one job when it renders the template: the values of the built-in placeholders and
/// the environment the job starts from.
public struct JobContext: Sendable, Hashable {
    /// The job's id (`{{job.id}}`).
    public var jobID: String
    /// The job's working directory (`{{job.workdir}}`), absolute; it must exist.
    public var workdir: String
    /// Where the job writes its results (`{{job.output}}`).
    public var outputDirectory: String
    /// Where the worker staged the job's inputs (`{{job.inputs}}`).
    public var inputsDirectory: String
    /// The shipped job scripts, `ops/jobs/bin` (`{{job.scripts}}`).
    public var scriptsDirectory: String
    /// The local serving directory for deployments (`{{job.serving_root}}`); nil when this worker deploys nothing.
    public var servingRoot: String?
    /// `PATH` for the job, also used to find the program (`command[0]`) when it is a bare name.
    public var searchPath: String
    /// The environment every job starts from before the template's `env`. Deliberately small: the worker's own
    /// environment (database URLs, key paths) never reaches a job.
    public var baseEnvironment: [String: String]

    public init(
        jobID: String, workdir: String, outputDirectory: String? = nil, inputsDirectory: String? = nil,
        scriptsDirectory: String, servingRoot: String? = nil,
        searchPath: String = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin",
        baseEnvironment: [String: String]? = nil
    ) {
        self.jobID = jobID
        self.workdir = workdir
        self.outputDirectory = outputDirectory ?? workdir + "/out"
        self.inputsDirectory = inputsDirectory ?? workdir + "/inputs"
        self.scriptsDirectory = scriptsDirectory
        self.servingRoot = servingRoot
        self.searchPath = searchPath
        self.baseEnvironment =
            baseEnvironment ?? [
                "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "TZ": "UTC", "HOME": workdir, "TMPDIR": workdir,
            ]
    }

    func value(of builtin: Builtin) -> String? {
        switch builtin {
        case .id: return jobID
        case .workdir: return workdir
        case .output: return outputDirectory
        case .inputs: return inputsDirectory
        case .scripts: return scriptsDirectory
        case .servingRoot: return servingRoot
        }
    }
}

/// A job ready to run: the program, its argv and environment, where it starts and how long it may take. Every
/// value in it passed the template's checks.
public struct JobInvocation: Sendable, Hashable {
    public let templateName: String
    /// Absolute path of the program.
    public let executable: String
    /// The argv, `arguments[0]` being the program as the template names it.
    public let arguments: [String]
    public let environment: [String: String]
    public let workingDirectory: String
    public let timeout: Duration
    /// The parameters the job runs with, defaults included.
    public let parameters: CheckedParameters

    /// The process to start, with stdout and stderr going to `logPath`.
    public func processSpec(logPath: String, terminationGrace: Duration = .seconds(5)) -> ProcessSpec {
        ProcessSpec(
            executable: executable, arguments: arguments, environment: .exactly(environment),
            workingDirectory: workingDirectory, outputPath: logPath, timeout: timeout,
            terminationGrace: terminationGrace
        )
    }
}

/// Why checked parameters could not be turned into a command.
public struct RenderError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Stable codes tests and callers match on.
    public enum Code: String, Sendable, Hashable {
        /// A built-in the template uses has no value in this worker (`{{job.serving_root}}` when it deploys nothing).
        case builtinUnavailable = "builtin_unavailable"
        case executableNotFound = "executable_not_found"
        case workdirMissing = "workdir_missing"
        /// The argv or environment is larger than the system accepts.
        case tooLarge = "too_large"
        /// The parameters were checked against another template.
        case wrongTemplate = "wrong_template"
    }

    public let code: Code
    public let detail: String

    public var description: String { "\(code.rawValue): \(detail)" }
}

/// Everything that can stop a job from being prepared: a refused parameter or a render failure.
public enum PrepareError: Error, Sendable, Hashable, CustomStringConvertible {
    case parameter(ParameterError)
    case render(RenderError)

    public var description: String {
        switch self {
        case .parameter(let e): return e.description
        case .render(let e): return e.description
        }
    }
}

extension JobTemplate {
    /// The most bytes of argv plus environment a job may have (well below Linux's `ARG_MAX`).
    public static let maxCommandBytes = 256 * 1024

    /// Checks `requested` and renders the command in one step: what the worker calls before running anything.
    public func prepare(
        _ requested: JSONObject, reserved: JSONObject = JSONObject(), context: JobContext
    ) throws(PrepareError) -> JobInvocation {
        let checked: CheckedParameters
        do { checked = try checkParameters(requested, reserved: reserved) } catch { throw .parameter(error) }
        return try render(checked, context: context)
    }

    /// Renders the command for checked parameters: placeholders replaced by values, each argv element built from
    /// its own template element (a value never splits into two arguments or merges into another), path parameters
    /// resolved inside the working directory, the program found on `PATH`.
    public func render(_ parameters: CheckedParameters, context: JobContext) throws(PrepareError) -> JobInvocation {
        guard parameters.templateName == name else {
            throw .render(
                RenderError(code: .wrongTemplate, detail: "checked for \(parameters.templateName), not \(name)"))
        }
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: context.workdir, isDirectory: &isDir), isDir.boolValue else {
            throw .render(
                RenderError(code: .workdirMissing, detail: "working directory \(context.workdir) does not exist"))
        }
        // Path parameters become absolute paths inside the working directory.
        var texts: [String: String] = [:]
        for spec in self.parameters {
            guard let value = parameters[spec.name] else { continue }
            if spec.type == .path {
                do {
                    texts[spec.name] = try WorkdirPath.resolve(
                        value.text, in: context.workdir, parameter: spec.name, mustExist: spec.mustExist)
                } catch {
                    throw .parameter(error)
                }
            } else {
                texts[spec.name] = value.text
            }
        }
        func substitute(_ p: Placeholder) throws(PrepareError) -> String {
            switch p {
            case .parameter(let n):
                // Load-time validation guarantees a referenced parameter is declared and, outside a `when`
                // group, always has a value.
                guard let t = texts[n] else {
                    throw .render(RenderError(code: .builtinUnavailable, detail: "parameter \(n) has no value"))
                }
                return t
            case .builtin(let b):
                guard let v = context.value(of: b) else {
                    throw .render(RenderError(code: .builtinUnavailable, detail: "{{\(b.rawValue)}} is not configured"))
                }
                return v
            }
        }
        var argv: [String] = []
        for item in command {
            switch item {
            case .argument(let t):
                argv.append(try t.render(substitute))
            case .group(let when, let arguments):
                guard let value = parameters[when], value.value != .bool(false) else { continue }
                for t in arguments { argv.append(try t.render(substitute)) }
            }
        }
        var environment = context.baseEnvironment
        environment["PATH"] = context.searchPath
        for variable in self.environment { environment[variable.name] = try variable.value.render(substitute) }

        let size =
            argv.reduce(0) { $0 + $1.utf8.count + 1 }
            + environment.reduce(0) { $0 + $1.key.utf8.count + $1.value.utf8.count + 2 }
        guard size <= Self.maxCommandBytes else {
            throw .render(RenderError(code: .tooLarge, detail: "argv and environment take \(size) bytes"))
        }
        guard let program = argv.first,
            let executable = ProcessRunner.resolveExecutable(
                program, searchPath: context.searchPath, relativeTo: context.workdir)
        else {
            throw .render(RenderError(code: .executableNotFound, detail: "\(argv.first ?? "") not found on PATH"))
        }
        let workingDirectory = workdir == "." ? context.workdir : context.workdir + "/" + workdir
        return JobInvocation(
            templateName: name, executable: executable, arguments: argv, environment: environment,
            workingDirectory: workingDirectory, timeout: timeout, parameters: parameters
        )
    }
}
