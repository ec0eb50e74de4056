import LedgerCore
import LedgerStore
import LedgerWorkers

/// Turns a `mlops.drift.detected` about a deployment into the job its request declared with `on_drift`, in the
/// transaction that appends the drift event:
///
/// - `rollback`: a deployment job that puts the deployment's previous model version back (blue-green), reported as
///   `mlops.deployment.rolled_back` with the drift as the reason;
/// - `retrain`: a job whose worker requests a new training run like the one that produced the drifting model
///   (`mlops.training.requested`, itself decided by the policies before anything runs).
///
/// A deployment that declared nothing (or `none`) only records the drift.
public final class DriftResponder: AppendObserver {
    public static let driftType = "mlops.drift.detected"
    public static let actions = ["rollback", "retrain"]

    public init() {}

    public func entriesAppended(_ entries: [AppendedEntry], in transaction: AppendTransaction) throws {
        var jobs: [JobRequest] = []
        for e in entries where e.type == Self.driftType {
            guard let event = e.event ?? (try? CloudEvent.parse(e.payload)),
                  let deployment = event.data["deployment_id"]?.stringValue,
                  let request = try Self.latestRequest(deployment, on: transaction.connection),
                  let action = request["on_drift"]?.stringValue, Self.actions.contains(action)
            else { continue }
            var data: JSONObject = [
                "action": .string(action), "deployment_id": .string(deployment),
                "drift_event_id": .string(event.id), "job": request["job"] ?? .null,
            ]
            for key in ["model", "metric", "value", "threshold"] { data[key] = event.data[key] ?? .null }
            data["deployed_model"] = request["model"] ?? .null
            jobs.append(JobRequest(requestIdx: e.idx, decisionIdx: e.idx,
                                   kind: action == "rollback" ? .deployment : .training,
                                   subject: "deployment/" + deployment, source: event.source, data: data))
        }
        try JobQueue.enqueue(jobs, on: transaction.connection)
    }

    /// The data of the latest request that deployed `deployment` (drift responses excluded).
    static func latestRequest(_ deployment: String, on c: PostgresConnection) throws -> JSONObject? {
        guard let text = try c.query("""
            SELECT request::text FROM ledger.jobs
            WHERE subject = $1 AND kind = 'deployment' AND NOT request ? 'action'
            ORDER BY request_idx DESC LIMIT 1
            """, [.text("deployment/" + deployment)]).first?.string(0) else { return nil }
        return try JSONParser.parse(text).objectValue
    }
}
