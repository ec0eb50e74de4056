import LedgerProjections
import LedgerStore

/// What a database needs before anything appends to it: the current schema, every projection built from this
/// build's SQL, and the work each append transaction does after its entries: the projections, then the policy
/// decisions (which read the residency projection as of the entry decided) with the jobs of allowed requests, and
/// the jobs that answer drift.
public enum LedgerSetup {
    /// Migrates, builds missing or outdated projections from the log (`progress(name, done, total)`), and
    /// attaches the projection applier and, when given, the policy decider to `db`. Call it once per
    /// `LedgerDatabase`; cheap when everything is current.
    public static func prepare(_ db: LedgerDatabase, decider: PolicyDecider? = nil,
                               progress: ((String, Int64, Int64) -> Void)? = nil) throws {
        try db.migrate()
        try ProjectionMaintenance(db: db).installMissing(progress: progress)
        db.addObserver(ProjectionApplier())
        if let decider {
            db.addObserver(decider)
            db.addObserver(DriftResponder())
        }
    }
}
