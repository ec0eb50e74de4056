import LedgerCore

/// One projection: a PostgreSQL schema of its own (`registry`, `lineage`…), defined by `projections/<name>.sql`,
/// kept current by its `apply_batch(entries jsonb)` function inside every append transaction, and rebuilt by
/// replaying the log. The SQL is written schema-free; callers set `search_path` to the schema it runs in, which
/// is how a rebuild installs it into `<name>__build` and swaps it in by renaming.
public struct Projection: Sendable, Hashable {
    public let name: String
    /// The text of `projections/<name>.sql`.
    public let sql: String

    /// Lowercase hex SHA-256 of the SQL: a projection built by other SQL is rebuilt.
    public var digest: String { Hex.encode(SHA256.hash(Array(sql.utf8))) }

    /// The schema a rebuild installs into before swapping it in.
    public var buildSchema: String { name + "__build" }

    /// The schema holding the projection being replaced, for the instant of the swap.
    var retiredSchema: String { name + "__old" }

    /// Every projection, in the order they are applied. Each is self-contained (reads no other's tables), so
    /// the order is only the order of work.
    public static let all: [Projection] = ["registry", "lineage", "residency", "gpu", "access"].map {
        Projection(name: $0, sql: ProjectionSources.sql[$0] ?? "")
    }

    public static func named(_ name: String) -> Projection? { all.first { $0.name == name } }
}

/// Errors of the projection layer, each naming the projection.
public enum ProjectionError: Error, CustomStringConvertible, Sendable {
    case unknown(String)
    case missingSQL(String)

    public var description: String {
        switch self {
        case .unknown(let name):
            "unknown projection \(name) (known: \(Projection.all.map(\.name).joined(separator: ", ")))"
        case .missingSQL(let name): "projection \(name) has no SQL in this build"
        }
    }
}
