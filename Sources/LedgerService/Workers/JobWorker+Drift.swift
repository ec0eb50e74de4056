import Foundation
import LedgerCore
import LedgerStore
import LedgerWorkers

extension JobWorker {
    /// The action a deployment declared for drift (`DriftResponder`).
    func respondToDrift(_ job: Job, action: String) throws -> Ending? {
        let d = job.data
        let deployment = d["deployment_id"]?.stringValue ?? job.subjectID
        let drift = "drift on \(d["model"]?.stringValue ?? "?"): \(d["metric"]?.stringValue ?? "metric") "
            + "\(d["value"].map(Self.text) ?? "?") beyond \(d["threshold"].map(Self.text) ?? "?")"
        switch action {
        case "rollback": return try rollBack(job, deployment: deployment, drift: drift)
        case "retrain": return try retrain(job, drift: drift)
        default: return try fail(job, "invalid_request: unknown drift action \(action)")
        }
    }

    /// Puts the deployment's previous model version back, blue-green, and records it as a rollback.
    private func rollBack(_ job: Job, deployment: String, drift: String) throws -> Ending? {
        let current = job.data["deployed_model"]?.stringValue ?? ""
        guard let previous = try db.connection.query("""
            SELECT request->>'model' FROM ledger.jobs
            WHERE subject = $1 AND kind = 'deployment' AND state = 'succeeded' AND request->>'model' <> $2
              AND NOT request ? 'action'
            ORDER BY request_idx DESC LIMIT 1
            """, [.text("deployment/" + deployment), .text(current)]).first?.string(0),
            let template = configuration.templates[job.template ?? ""]
        else {
            return try fail(job, "drift_rollback_impossible: \(drift); no earlier model version of \(deployment) "
                + "completed a rollout")
        }
        var redeploy = job
        redeploy.data = [
            "deployment_id": .string(deployment), "model": .string(previous), "strategy": "blue-green",
            "job": .string(template.name),
        ]
        let reason = "\(drift): traffic returned to \(previous)"
        return try deploy(redeploy, template, driftReason: reason)
    }

    /// Requests a new run like the one that produced the drifting model; the policies decide it like any other.
    private func retrain(_ job: Job, drift: String) throws -> Ending? {
        let model = job.data["model"]?.stringValue ?? ""
        guard let at = model.lastIndex(of: "@"),
              let text = try db.connection.query("""
                SELECT j.request::text FROM registry.model_versions m
                JOIN ledger.jobs j ON j.subject = 'run/' || m.run_id AND j.kind = 'training'
                WHERE m.name = $1 AND m.version = $2 ORDER BY j.request_idx DESC LIMIT 1
                """, [.text(String(model[..<at])), .text(String(model[model.index(after: at)...]))]).first?.string(0),
              var request = try JSONParser.parse(text).objectValue
        else {
            return try fail(job, "drift_retrain_impossible: \(drift); the ledger has no training request for \(model)")
        }
        let run = "retrain-\(job.requestIdx)"
        request["run_id"] = .string(run)
        request["version"] = nil
        request["cause"] = ["drift_event_id": job.data["drift_event_id"] ?? .null, "reason": .string(drift)]
        try emit(ResultEvent(type: "mlops.training.requested", data: request), subject: "run/" + run,
                 region: request["region"]?.stringValue)
        return Ending(state: .succeeded, result: ["requested_run": .string(run), "reason": .string(drift)])
    }

    static func text(_ v: JSONValue) -> String { v.stringValue ?? v.numberValue?.text ?? v.jsonString() }
}
