import LedgerCore

/// A parameter a template declares: its type and the rules a value must meet before anything runs.
public struct ParameterSpec: Sendable, Hashable {
    /// The JSON type a value must have, and the shape its text must take.
    public enum ValueType: String, Sendable, Hashable, CaseIterable {
        /// A JSON string, checked against `pattern`, `allowed` and `maxLength`.
        case string
        /// A JSON number without a fractional part, within `minimum...maximum`.
        case integer
        /// A finite JSON number, within `minimum...maximum`.
        case number
        /// `true` or `false`.
        case boolean
        /// A versioned reference `name@version` (wire format §4).
        case ref
        /// `sha256:` and 64 lowercase hex digits (wire format §4).
        case digest
        /// A relative path that must stay inside the job's working directory once resolved (symbolic links
        /// included); rendered as an absolute path.
        case path
    }

    public let name: String
    public let type: ValueType
    public let summary: String?
    /// A request must set it.
    public let required: Bool
    /// The value used when the request does not set it; already checked against these rules at load time.
    public let defaultValue: JSONValue?
    /// An ICU regular expression the whole value must match (it is anchored at both ends as `\A(?:…)\z`).
    public let pattern: String?
    /// The only values allowed, when set.
    public let allowed: [String]?
    /// The most UTF-8 bytes a value may have.
    public let maxLength: Int
    public let minimum: Double?
    public let maximum: Double?
    /// For `path`: the file or directory must exist when the job is rendered.
    public let mustExist: Bool
    /// Whether a string value may start with `-` (off by default: such a value could be read as an option by the
    /// program).
    public let allowLeadingDash: Bool

    /// The default `maxLength`.
    public static let defaultMaxLength = 256
    /// No value is ever longer than this, whatever a template says.
    public static let maxLengthLimit = 4096

    public init(
        name: String, type: ValueType, summary: String? = nil, required: Bool = false, defaultValue: JSONValue? = nil,
        pattern: String? = nil, allowed: [String]? = nil, maxLength: Int = ParameterSpec.defaultMaxLength,
        minimum: Double? = nil, maximum: Double? = nil, mustExist: Bool = false, allowLeadingDash: Bool = false
    ) {
        self.name = name
        self.type = type
        self.summary = summary
        self.required = required
        self.defaultValue = defaultValue
        self.pattern = pattern
        self.allowed = allowed
        self.maxLength = maxLength
        self.minimum = minimum
        self.maximum = maximum
        self.mustExist = mustExist
        self.allowLeadingDash = allowLeadingDash
    }
}

/// Why a parameter value is refused. The description names the parameter and the rule, never the value itself (it
/// may be large, or not printable).
public struct ParameterError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Stable codes tests and operators match on.
    public enum Code: String, Sendable, Hashable {
        case unknownParameter = "unknown_parameter"
        case missingParameter = "missing_parameter"
        case reservedParameter = "reserved_parameter"
        case typeMismatch = "type_mismatch"
        case nulByte = "nul_byte"
        case controlCharacter = "control_character"
        case tooLong = "too_long"
        case patternMismatch = "pattern_mismatch"
        case notAllowed = "not_allowed"
        case leadingDash = "leading_dash"
        case outOfRange = "out_of_range"
        case notFinite = "not_finite"
        case emptyPath = "empty_path"
        case absolutePath = "absolute_path"
        case pathTraversal = "path_traversal"
        case pathEscapesWorkdir = "path_escapes_workdir"
        case pathMissing = "path_missing"
    }

    public let code: Code
    public let parameter: String
    public let detail: String

    public init(_ code: Code, _ parameter: String, _ detail: String) {
        self.code = code
        self.parameter = parameter
        self.detail = detail
    }

    public var description: String { "parameter \(parameter): \(code.rawValue): \(detail)" }
}
