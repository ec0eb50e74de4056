import Foundation
import LedgerCore
import LedgerStore

/// Where a job is in its life (`ledger.jobs.state`).
public enum JobState: String, Sendable, Hashable, CaseIterable {
    /// Created by an allowed request, not yet claimed.
    case queued
    /// Claimed once, but no node in an allowed location had the GPUs free: back in the queue until some are.
    case waiting
    /// Held by a worker under a lease.
    case running
    case succeeded
    case failed
    /// A deployment whose health check failed and whose traffic went back to the previous model.
    case rolledBack = "rolled_back"

    public var isFinal: Bool { [.succeeded, .failed, .rolledBack].contains(self) }
}

/// A request the policies allowed, to be run by a worker.
public struct JobRequest: Sendable, Hashable {
    public var requestIdx: UInt64
    public var decisionIdx: UInt64
    public var kind: JobKind
    public var subject: String
    public var source: String
    public var data: JSONObject

    public init(requestIdx: UInt64, decisionIdx: UInt64, kind: JobKind, subject: String, source: String,
                data: JSONObject) {
        self.requestIdx = requestIdx
        self.decisionIdx = decisionIdx
        self.kind = kind
        self.subject = subject
        self.source = source
        self.data = data
    }

    /// The job a request type asks for: training and deployment requests run; every other type records a fact.
    public static func kind(ofRequestType type: String) -> JobKind? {
        switch type {
        case "mlops.training.requested": return .training
        case "mlops.deployment.requested": return .deployment
        default: return nil
        }
    }

    public var jobID: String { "job-\(requestIdx)" }
}

/// A row of `ledger.jobs`.
public struct Job: Sendable, Hashable {
    public var id: String
    public var requestIdx: UInt64
    public var kind: JobKind
    public var subject: String
    public var template: String?
    public var source: String
    public var data: JSONObject
    public var state: JobState
    public var idempotent: Bool?
    public var attempts: Int
    public var worker: String?
    public var node: String?
    /// GPUs held on `node` by the latest attempt.
    public var gpus: Int
    public var reason: String?
    public var logDigest: String?

    /// `run_id` of a training job, `deployment_id` of a deployment.
    public var subjectID: String { String(subject.split(separator: "/", maxSplits: 1).last ?? "") }
}

/// What a claim got: a job to run now, or a job whose worker was lost while it ran and which may not run again.
public enum JobClaim: Sendable, Hashable {
    case run(Job)
    /// A non-idempotent job whose lease expired while it ran: the claim marked it failed (`worker_lost`); the
    /// claimer records that in the log.
    case lost(Job)
}

/// The job table: created in the append transaction, claimed with `FOR UPDATE SKIP LOCKED`, held by a lease.
public enum JobQueue {
    public static let workerLost = "worker_lost"

    /// Creates a job for each request (again for none: the request's index is unique). Runs inside the append
    /// transaction that records the decisions.
    public static func enqueue(_ requests: [JobRequest], on c: PostgresConnection) throws(PostgresError) {
        guard !requests.isEmpty else { return }
        let data = JSONValue.array(requests.map { .object($0.data) }).jsonString()
        try c.query("""
            INSERT INTO ledger.jobs (id, request_idx, decision_idx, kind, subject, template, source, request)
            SELECT 'job-' || r, r, d, k, s, t, src, req
            FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[])
                     WITH ORDINALITY AS x(r, d, k, s, t, src, n)
            JOIN LATERAL (SELECT $7::jsonb -> (x.n::int - 1) AS req) j ON true
            ON CONFLICT (request_idx) DO NOTHING
            """, [
                .int64Array(requests.map { Int64($0.requestIdx) }), .int64Array(requests.map { Int64($0.decisionIdx) }),
                .textArray(requests.map(\.kind.rawValue)), .textArray(requests.map(\.subject)),
                .textArray(requests.map { $0.data["job"]?.stringValue ?? "" }), .textArray(requests.map(\.source)),
                .jsonb(data),
            ])
    }

    /// Claims the oldest open job no other worker holds: a queued or waiting one, or a running one whose lease
    /// expired. A lost job that is not known to be idempotent is marked failed with `worker_lost` instead of run
    /// again, and returned as `.lost` so the claimer records it.
    public static func claim(worker: String, lease: Duration, on c: PostgresConnection) throws -> JobClaim? {
        let rows = try c.query("""
            WITH candidate AS (
                SELECT id, state AS previous FROM ledger.jobs
                WHERE (state IN ('queued', 'waiting') AND (not_before IS NULL OR not_before <= now()))
                   OR (state = 'running' AND lease_until < now())
                ORDER BY request_idx
                LIMIT 1
                FOR UPDATE SKIP LOCKED
            )
            UPDATE ledger.jobs j SET
                state = CASE WHEN c.previous = 'running' AND j.idempotent IS NOT TRUE THEN 'failed' ELSE 'running' END,
                reason = CASE WHEN c.previous = 'running' AND j.idempotent IS NOT TRUE THEN $3 ELSE j.reason END,
                finished_at = CASE WHEN c.previous = 'running' AND j.idempotent IS NOT TRUE THEN now() END,
                worker = $1, lease_until = now() + $2 * interval '1 millisecond', updated_at = now()
            FROM candidate c WHERE j.id = c.id
            RETURNING \(columns(of: "j"))
            """, [.text(worker), .int64(lease.milliseconds), .text(workerLost)])
        guard let row = rows.first else { return nil }
        let job = try Self.job(row)
        return job.state == .failed ? .lost(job) : .run(job)
    }

    /// Records that the job starts running now (its template's idempotency and the node chosen).
    public static func start(_ id: String, worker: String, idempotent: Bool, node: String?, gpus: Int,
                             gpuType: String?, on c: PostgresConnection) throws {
        try c.query("""
            UPDATE ledger.jobs SET attempts = attempts + 1, idempotent = $3, node = $4, gpus = $5, gpu_type = $6,
                waiting_for = NULL, started_at = coalesce(started_at, now()), updated_at = now()
            WHERE id = $1 AND worker = $2 AND state = 'running'
            """, [.text(id), .text(worker), .bool(idempotent), .text(node), .int64(Int64(gpus)), .text(gpuType)])
    }

    /// Forgets the node and GPUs of an attempt whose worker was lost, once their release is recorded, so placement
    /// no longer counts them.
    public static func forgetPlacement(_ id: String, worker: String, on c: PostgresConnection) throws {
        try c.query("UPDATE ledger.jobs SET node = NULL, gpus = 0, gpu_type = NULL, updated_at = now() WHERE id = $1 AND worker = $2",
                    [.text(id), .text(worker)])
    }

    /// Extends the lease; false when the job is no longer this worker's.
    @discardableResult
    public static func renew(_ id: String, worker: String, lease: Duration, on c: PostgresConnection) throws -> Bool {
        try c.query("""
            UPDATE ledger.jobs SET lease_until = now() + $3 * interval '1 millisecond', updated_at = now()
            WHERE id = $1 AND worker = $2 AND state = 'running' RETURNING id
            """, [.text(id), .text(worker), .int64(lease.milliseconds)]).count == 1
    }

    /// Puts the job back in the queue, to be tried again after `retry` (capacity may have freed up by then).
    public static func wait(_ id: String, worker: String, because reason: String, retry: Duration = .seconds(2),
                            on c: PostgresConnection) throws {
        try c.query("""
            UPDATE ledger.jobs SET state = 'waiting', waiting_for = $3, worker = NULL, lease_until = NULL,
                not_before = now() + $4 * interval '1 millisecond', updated_at = now()
            WHERE id = $1 AND worker = $2 AND state = 'running'
            """, [.text(id), .text(worker), .text(reason), .int64(retry.milliseconds)])
    }

    /// Ends the job.
    public static func finish(_ id: String, worker: String, state: JobState, reason: String?, logDigest: String?,
                              result: JSONObject?, on c: PostgresConnection) throws {
        precondition(state.isFinal, "finish takes a final state")
        try c.query("""
            UPDATE ledger.jobs SET state = $3, reason = $4, log_digest = $5, result = $6::jsonb, lease_until = NULL,
                finished_at = now(), updated_at = now()
            WHERE id = $1 AND worker = $2 AND state = 'running'
            """, [.text(id), .text(worker), .text(state.rawValue), .text(reason), .text(logDigest),
                  .jsonb(result.map { JSONValue.object($0).jsonString() })])
    }

    /// GPUs held on each node by running jobs (placement reads this under `placementLock`).
    public static func allocations(on c: PostgresConnection) throws -> [GPUAllocation] {
        try c.query("""
            SELECT id, subject, node, coalesce(gpu_type, ''), gpus
            FROM ledger.jobs WHERE state = 'running' AND node IS NOT NULL AND gpus > 0
            """).compactMap { r in
            guard let id = r.string(0), let node = r.string(2), let count = r.int64(4), count > 0 else { return nil }
            return GPUAllocation(allocationID: id, runID: r.string(1) ?? "", nodeID: node, gpuType: r.string(3) ?? "",
                                 count: Int(count))
        }
    }

    /// Serialises placement across workers for the rest of the transaction.
    public static func placementLock(on c: PostgresConnection) throws {
        try c.query("SELECT pg_advisory_xact_lock(hashtext('mlledger.jobs.placement'))")
    }

    /// Every job, newest first, optionally of one subject.
    public static func list(subject: String? = nil, limit: Int = 1000, on c: PostgresConnection) throws -> [Job] {
        try c.query("""
            SELECT \(columns(of: "ledger.jobs")) FROM ledger.jobs WHERE $1::text IS NULL OR subject = $1
            ORDER BY request_idx DESC LIMIT $2
            """, [.text(subject), .int64(Int64(limit))]).map(job)
    }

    static func columns(of table: String) -> String {
        ["id", "request_idx", "kind", "subject", "template", "source", "request::text", "state", "idempotent",
         "attempts", "worker", "node", "reason", "log_digest", "gpus"].map { "\(table).\($0)" }.joined(separator: ", ")
    }

    static func job(_ r: PostgresRow) throws -> Job {
        guard let id = r.string(0), let idx = r.int64(1), let kind = r.string(2).flatMap(JobKind.init(rawValue:)),
              let state = r.string(7).flatMap(JobState.init(rawValue:))
        else { throw PostgresError(message: "ledger.jobs: an unreadable row") }
        let data = (try? JSONParser.parse(r.string(6) ?? "{}"))?.objectValue ?? JSONObject()
        return Job(id: id, requestIdx: UInt64(idx), kind: kind, subject: r.string(3) ?? "", template: r.string(4),
                   source: r.string(5) ?? "", data: data, state: state, idempotent: r.bool(8),
                   attempts: Int(r.int64(9) ?? 0), worker: r.string(10), node: r.string(11),
                   gpus: Int(r.int64(14) ?? 0), reason: r.string(12), logDigest: r.string(13))
    }
}

extension Duration {
    var milliseconds: Int64 { components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000 }
}
