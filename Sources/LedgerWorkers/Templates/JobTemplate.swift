import LedgerCore

/// What a job does, which decides the result events it produces.
public enum JobKind: String, Sendable, Hashable, CaseIterable {
    /// Produces a model: `mlops.training.started`, `completed` or `failed`, `mlops.model.registered`.
    case training
    /// A validation gate: `mlops.validation.passed` or `failed` with its checks.
    case validation
    /// A rollout: `mlops.deployment.started`, `traffic_shifted`, `completed` or `rolled_back`.
    case deployment
}

/// A job template from `ops/jobs/*.yaml`: the command to run as an argv list with placeholders, the parameters a
/// request may set, and how the job runs (environment, working directory, timeout, GPUs). The format is described
/// in `ops/jobs/README.md`; `TemplateLoader` reads and validates it.
public struct JobTemplate: Sendable, Hashable {
    /// One element of `command`: an argument, or a group of arguments present only when a parameter is set (and,
    /// for a boolean, true): `{when: data, args: ["--data", "{{params.data}}"]}`.
    public enum CommandItem: Sendable, Hashable {
        case argument(TemplateString)
        case group(when: String, arguments: [TemplateString])
    }

    /// An environment variable the job gets, on top of the worker's minimal base environment.
    public struct EnvironmentVariable: Sendable, Hashable {
        public let name: String
        public let value: TemplateString
    }

    /// The template's name, which `job` in a request names.
    public let name: String
    public let kind: JobKind
    /// One line for operators.
    public let summary: String?
    /// The argv. The first element is the program: a name looked up in the job's `PATH`, or a path, and never
    /// built from a parameter.
    public let command: [CommandItem]
    /// Declared parameters, in template order.
    public let parameters: [ParameterSpec]
    public let environment: [EnvironmentVariable]
    /// Where the process starts, relative to the job's working directory (`.` by default).
    public let workdir: String
    /// How long the job may run before its whole process group is terminated.
    public let timeout: Duration
    public let gpus: GPURequirement
    /// Whether running the job again after a lost worker is harmless. A non-idempotent job whose worker is lost
    /// is marked failed (`worker_lost`) and never run twice.
    public let idempotent: Bool

    public init(
        name: String, kind: JobKind, summary: String?, command: [CommandItem], parameters: [ParameterSpec],
        environment: [EnvironmentVariable], workdir: String, timeout: Duration, gpus: GPURequirement,
        idempotent: Bool
    ) {
        self.name = name
        self.kind = kind
        self.summary = summary
        self.command = command
        self.parameters = parameters
        self.environment = environment
        self.workdir = workdir
        self.timeout = timeout
        self.gpus = gpus
        self.idempotent = idempotent
    }

    /// The declared parameter called `name`.
    public func parameter(named name: String) -> ParameterSpec? {
        parameters.first { $0.name == name }
    }
}

/// The GPUs a template's jobs need: a default count and type, and what a request may ask for instead.
public struct GPURequirement: Sendable, Hashable {
    /// GPUs a job gets when the request does not say (0: a CPU job).
    public let count: Int
    /// The most a request may ask for.
    public let maxCount: Int
    /// The GPU type when the request does not say; nil: any type.
    public let type: String?
    /// The types a request may ask for; empty: any.
    public let allowedTypes: [String]

    public init(count: Int, maxCount: Int? = nil, type: String? = nil, allowedTypes: [String] = []) {
        self.count = count
        self.maxCount = maxCount ?? count
        self.type = type
        self.allowedTypes = allowedTypes
    }

    /// No GPU.
    public static let none = GPURequirement(count: 0)

    /// The need of one job, from the request's `gpus` (`{count, type}`, wire format §4 `mlops.training.requested`)
    /// or the template's defaults when the request has none.
    public func need(requested: JSONValue?) throws(GPURequestError) -> GPUNeed {
        guard let requested, requested != .null else { return GPUNeed(count: count, type: type) }
        guard let object = requested.objectValue else { throw .notAnObject }
        var wanted = count
        if let c = object["count"] {
            guard let n = c.numberValue?.int64Value, n >= 0 else { throw .invalidCount }
            guard n <= maxCount else { throw .tooMany(requested: Int(n), maximum: maxCount) }
            wanted = Int(n)
        }
        var wantedType = type
        if let t = object["type"] {
            guard let s = t.stringValue, !s.isEmpty else { throw .invalidType }
            guard allowedTypes.isEmpty || allowedTypes.contains(s) else { throw .typeNotAllowed(s) }
            wantedType = s
        }
        return GPUNeed(count: wanted, type: wanted == 0 ? nil : wantedType)
    }
}

/// Why a request's `gpus` does not fit its template.
public enum GPURequestError: Error, Sendable, Hashable, CustomStringConvertible {
    case notAnObject
    case invalidCount
    case invalidType
    case tooMany(requested: Int, maximum: Int)
    case typeNotAllowed(String)

    public var description: String {
        switch self {
        case .notAnObject: return "gpus must be an object {count, type}"
        case .invalidCount: return "gpus.count must be a non-negative integer"
        case .invalidType: return "gpus.type must be a non-empty string"
        case .tooMany(let r, let m): return "gpus.count \(r) is above the template's maximum of \(m)"
        case .typeNotAllowed(let t): return "gpus.type \(t) is not one the template allows"
        }
    }
}
