import Foundation
import LedgerCore
import LedgerPolicy
import LedgerStore
import LedgerWorkers

/// Decides every appended event that places data, compute, a model or a deployment somewhere, inside the append
/// transaction and before any worker can act on it, and appends the decision as a signed `ledger.policy.decision`
/// entry naming the event (`data.entry_idx`), the effect, the rules that fired with their citations, and the
/// policy revision.
///
/// What an event carries (its inputs' regimes and categories, inherited through lineage) comes from the residency
/// projection, which the projection applier has already brought up to this very entry.
public final class PolicyDecider: AppendObserver {
    public static let decisionType = EvidenceBundle.policyDecisionType

    public let policies: PolicySet
    public let identity: LedgerIdentity

    public init(policies: PolicySet, identity: LedgerIdentity) {
        self.policies = policies
        self.identity = identity
    }

    public func entriesAppended(_ entries: [AppendedEntry], in transaction: AppendTransaction) throws {
        var pending: [(entry: AppendedEntry, event: CloudEvent)] = []
        for e in entries where PolicyVocabulary.isDecided(e.type) {
            // The event as parsed at ingest; an entry without it (none on this path) is parsed here.
            guard let event = e.event ?? (try? CloudEvent.parse(e.payload)) else { continue }
            pending.append((e, event))
        }
        guard !pending.isEmpty else { return }
        let refs = Set(pending.flatMap { PolicyEvent($0.event).carriedRefs })
        let known = try Self.sources(Array(refs), on: transaction.connection)
        // Evaluating and signing are independent per event: they run on all cores, in the log's order.
        let (policies, identity) = (self.policies, self.identity)
        let decided = ParallelMap.map(pending, chunk: 64) { entry, event -> (NewEntry, Effect) in
            let input = PolicyEvent(event)
            let sources = input.carriedRefs.flatMap { known[$0] ?? [] }
            let decision = policies.evaluate(input, sources: sources, explain: false)
            return (identity.entry(type: Self.decisionType, subject: event.subject,
                                   data: Self.record(decision, entry: entry, event: event),
                                   at: LedgerIdentity.nowMicros()), decision.effect)
        }
        let indexes = transaction.append(decided.map(\.0))
        // An allowed request becomes a job in this same transaction; a denied one never does.
        let jobs = zip(pending, zip(decided, indexes)).compactMap { request, outcome -> JobRequest? in
            let ((_, effect), decisionIdx) = outcome
            guard effect != .deny, let kind = JobRequest.kind(ofRequestType: request.event.type) else { return nil }
            return JobRequest(requestIdx: request.entry.idx, decisionIdx: decisionIdx, kind: kind,
                              subject: request.event.subject, source: request.event.source, data: request.event.data)
        }
        try JobQueue.enqueue(jobs, on: transaction.connection)
    }

    /// Requests are refused when denied (nothing executes them); the other decided types record facts, and a
    /// denied fact is recorded as a violation.
    public static func isRequest(_ type: String) -> Bool {
        ["mlops.training.requested", "mlops.gpu.allocated", "mlops.deployment.requested"].contains(type)
    }

    public static let activatedType = "ledger.policy.activated"

    /// Appends `ledger.policy.activated` (revision, files, rule count) unless the last one in the log names this
    /// revision, so the log alone says which rules applied at every index. Returns the index appended, if any.
    @discardableResult
    public func activate(in db: LedgerDatabase) throws -> UInt64? {
        try db.withAppendTransaction { tx -> UInt64? in
            let last = try tx.connection.query("""
                SELECT envelope FROM ledger.entries WHERE type = $1 ORDER BY idx DESC LIMIT 1
                """, [.text(Self.activatedType)]).first?.bytes(0)
            if let last, let env = try? DSSEEnvelope.parse(last), let event = try? CloudEvent.parse(env.payload),
               event.data["policy_revision"]?.stringValue == policies.revision {
                return nil
            }
            let entry = identity.entry(type: Self.activatedType, subject: "policy/" + policies.revision, data: [
                "policy_revision": .string(policies.revision), "files": .array(policies.files.map { .string($0) }),
                "rules": .number(JSONNumber(policies.rules.count)),
            ])
            return tx.append([entry]).first
        }
    }


    /// The decision entry's `data`: which entry (index and leaf hash), the effect, the placement, the rules that
    /// fired (id, citation, effect, mode, message, the lineage that explains an inherited regime, and the matched
    /// conditions with field, operator, expected and actual value), and the policy revision. The explanation of
    /// the rules that did not fire is left to `mlledger policy explain`: it follows from the same inputs.
    static func record(_ d: PolicyDecision, entry: AppendedEntry, event: CloudEvent) -> JSONObject {
        var o: JSONObject = [
            "entry_idx": .number(JSONNumber(Int64(entry.idx))),
            "entry_leaf_hash": .string(Hex.encode(entry.leafHash)),
            "event_id": .string(event.id),
            "event_source": .string(event.source),
            "event_type": .string(event.type),
            "effect": .string(d.effect.rawValue),
            "policy_revision": .string(d.revision),
            "violation": .bool(d.effect == .deny && !isRequest(event.type)),
            "rules": .array(d.matched.map(\.jsonValue)),
        ]
        o["target"] = d.target?.jsonValue ?? .null
        return o
    }

    /// The residency projection's answer for each ref: its own facts and every origin it inherits from.
    public static func sources(_ refs: [String], on c: PostgresConnection) throws -> [String: [DataSource]] {
        guard !refs.isEmpty else { return [:] }
        let rows = try c.query("""
            SELECT ref, path[array_length(path, 1)], location, classification, regimes, categories, path
            FROM residency.sources($1::text[])
            """, [.textArray(refs)])
        var out: [String: [DataSource]] = [:]
        for r in rows {
            // One row for the ref's own facts (a one-element path) and one per origin it inherits from.
            guard let requested = r.string(0), let origin = r.string(1) else { continue }
            let path = r.stringArray(6) ?? []
            out[requested, default: []].append(DataSource(
                ref: origin, location: r.string(2), classification: r.string(3), regimes: r.stringArray(4) ?? [],
                categories: r.stringArray(5) ?? [], lineage: path.count > 1 ? path : []))
        }
        try markValidated(&out, on: c)
        return out
    }

    /// Sets `validated` on each model version's own facts: whether the registry has a passed gate for it.
    static func markValidated(_ sources: inout [String: [DataSource]], on c: PostgresConnection) throws {
        let models = Set(sources.values.joined().filter { $0.kind == "model" && $0.lineage.isEmpty }.map(\.bareRef))
        guard !models.isEmpty else { return }
        let pairs = models.compactMap { ref in
            ref.lastIndex(of: "@").map { (String(ref[..<$0]), String(ref[ref.index(after: $0)...])) }
        }
        // One index probe per version (LIMIT keeps the planner from a hash join over the whole table).
        let passed = Set(try c.query("""
            SELECT x.n || '@' || x.v FROM unnest($1::text[], $2::text[]) AS x(n, v)
            CROSS JOIN LATERAL (
                SELECT 1 FROM registry.validations g WHERE g.name = x.n AND g.version = x.v AND g.passed LIMIT 1) g
            """, [.textArray(pairs.map(\.0)), .textArray(pairs.map(\.1))]).compactMap { $0.string(0) })
        for key in sources.keys {
            for i in sources[key]!.indices where sources[key]![i].kind == "model" && sources[key]![i].lineage.isEmpty {
                sources[key]![i].validated = passed.contains(sources[key]![i].bareRef)
            }
        }
    }
}
