import LedgerStore

/// Applies appended entries to every projection inside the append transaction, so that a reader never sees an
/// entry without its effect (DESIGN: derived state commits with the log).
public final class ProjectionApplier: AppendObserver {
    public let projections: [Projection]

    public init(projections: [Projection] = Projection.all) {
        self.projections = projections
    }

    /// One statement for all projections, so PostgreSQL decodes the batch once: the live schemas' functions are
    /// bound to their schema (see `ProjectionMaintenance.rebuild`). Each `apply_batch` turns JIT compilation off
    /// for the statements it runs, so the batch needs no setting of its own.
    public func entriesAppended(_ entries: [AppendedEntry], in transaction: AppendTransaction) throws {
        guard !entries.isEmpty else { return }
        let c = transaction.connection
        let calls = projections.map { "\($0.name).apply_batch($1)" }.joined(separator: ", ")
        try c.query("SELECT \(calls)", [.jsonb(ProjectionBatch.json(entries))])
    }

    /// Runs `apply_batch` of each schema in `schemas` over `entries`, within the caller's transaction.
    static func apply(_ entries: [AppendedEntry], to schemas: [String], on c: PostgresConnection) throws {
        guard !entries.isEmpty else { return }
        let batch = PostgresValue.jsonb(ProjectionBatch.json(entries))
        for schema in schemas {
            try c.execute("SET LOCAL search_path TO \(schema), pg_catalog")
            try c.query("SELECT \(schema).apply_batch($1)", [batch])
        }
        try c.execute("SET LOCAL search_path TO DEFAULT")
    }
}
