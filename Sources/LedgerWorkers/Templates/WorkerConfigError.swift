/// Why a job template (`ops/jobs/*.yaml`) or the GPU inventory (`ops/cluster.yaml`) is refused: the file, the
/// field (`params.seed.max`, `command[2]`, `nodes[3].location`), its line and column, and a code tests match on.
public struct WorkerConfigError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Stable codes tests and operators match on.
    public enum Code: String, Sendable, Hashable {
        case unreadable
        case yamlSyntax = "yaml_syntax"
        case wrongType = "wrong_type"
        case missingField = "missing_field"
        case unknownField = "unknown_field"
        case invalidValue = "invalid_value"
        case invalidPlaceholder = "invalid_placeholder"
        case undeclaredParameter = "undeclared_parameter"
        /// An optional parameter without a default is used outside a `when` group that guards it.
        case unguardedOptional = "unguarded_optional"
        /// The program (`command[0]`) would come from a parameter.
        case parameterizedProgram = "parameterized_program"
        case invalidDefault = "invalid_default"
        case nameMismatch = "name_mismatch"
        case duplicate
    }

    public let code: Code
    public let file: String
    /// Dotted path of the offending field; empty for the whole document.
    public let field: String
    public let line: Int?
    public let column: Int?
    public let detail: String

    public init(_ code: Code, file: String, field: String, line: Int? = nil, column: Int? = nil, detail: String) {
        self.code = code
        self.file = file
        self.field = field
        self.line = line
        self.column = column
        self.detail = detail
    }

    public var description: String {
        var location = file
        if let line { location += ":\(line)" + (column.map { ":\($0)" } ?? "") }
        return "\(location): \(field.isEmpty ? "" : field + ": ")\(detail) [\(code.rawValue)]"
    }
}
