import ArgumentParser
import Foundation
import LedgerCore
import LedgerStore

struct Query: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Ask the projections: models, runs, deployments, lineage, residency, GPU use, access, events.",
        discussion: """
            Every answer reflects the log up to the last committed append (projections are updated in the same
            transaction). --format json prints one JSON array for scripts; csv is RFC 4180 with a header row.
            The SQL behind each view is documented in projections/README.md.
            """,
        subcommands: [Registry.self, Runs.self, Deployments.self, Lineage.self, Residency.self, GPU.self,
                      Access.self, Events.self]
    )

    /// Reads rows of a projection view as JSON objects, in PostgreSQL's column order.
    static func rows(_ db: LedgerDatabase, _ sql: String, _ params: [PostgresValue] = []) throws -> [JSONObject] {
        let text: String
        do {
            text = try db.connection.query("SELECT coalesce(json_agg(q), '[]'::json)::text FROM (\(sql)) q", params)
                .first?.string(0) ?? "[]"
        } catch {
            // Undefined schema, table or function: the projections were never built here.
            guard ["3F000", "42P01", "42883"].contains(error.sqlState ?? "") else { throw error }
            throw CLIError("the projections are not built in this database: run `mlledger migrate` (\(error.message))")
        }
        guard case .array(let items) = try JSONParser.parse(text) else { return [] }
        return items.compactMap(\.objectValue)
    }

    struct Common: ParsableArguments {
        @OptionGroup var connection: ConnectionOptions

        @Option(name: .long, help: "table, json (one array) or csv.")
        var format: RowFormat = .table
    }

    /// Runs `SELECT * FROM view` with optional equality filters on its columns.
    static func view(_ common: Common, _ view: String, orderBy: String, filters: [(column: String, value: String?)]) throws {
        let db = try common.connection.openDatabase()
        var conditions: [String] = []
        var params: [PostgresValue] = []
        for f in filters {
            guard let v = f.value else { continue }
            params.append(.text(v))
            conditions.append("\(f.column)::text = $\(params.count)")
        }
        let whereClause = conditions.isEmpty ? "" : " WHERE " + conditions.joined(separator: " AND ")
        RowOutput.print(try rows(db, "SELECT * FROM \(view)\(whereClause) ORDER BY \(orderBy)", params),
                        format: common.format)
    }

    /// A projection view with the state of the latest worker job of each row's subject.
    static func withJobs(_ view: String, subject: String) -> String {
        """
        (SELECT v.*, j.id AS job_id, j.state AS job_state, j.attempts AS job_attempts, j.reason AS job_reason
         FROM \(view) v LEFT JOIN LATERAL (
             SELECT id, state, attempts, reason FROM ledger.jobs WHERE subject = \(subject)
             ORDER BY request_idx DESC LIMIT 1) j ON true) q
        """
    }

    struct Registry: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Model versions: stage, aliases, digest, location, the run that produced them, validation.")
        @OptionGroup var common: Common
        @Option(help: "Only this model.") var name: String?
        @Option(help: "Only versions in this stage.") var stage: String?

        func run() throws {
            try Query.view(common, "registry.models_view", orderBy: "name, version",
                           filters: [("name", name), ("stage", stage)])
        }
    }

    struct Runs: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Training runs: status, node, region, params, metrics, timings, inputs, and the worker job.",
            discussion: """
                job_id, job_state (queued, waiting, running, succeeded, failed, rolled_back), job_attempts and
                job_reason come from the job the run's request created (none for a denied request).
                """)
        @OptionGroup var common: Common
        @Option(help: "Only runs of this model.") var model: String?
        @Option(help: "Only runs in this status (requested, started, completed, failed).") var status: String?

        func run() throws {
            try Query.view(common, Query.withJobs("registry.runs_view", subject: "'run/' || v.run_id"), orderBy: "last_idx",
                           filters: [("model", model), ("status", status)])
        }
    }

    struct Deployments: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Deployments: model, environment, region, strategy, traffic weight, status, and the worker job.",
            discussion: """
                job_id, job_state (queued, running, succeeded, failed, rolled_back), job_attempts and job_reason come
                from the latest job a request for the deployment created (none for a denied request).
                """)
        @OptionGroup var common: Common
        @Option(help: "Only this environment.") var environment: String?
        @Option(help: "Only this status.") var status: String?

        func run() throws {
            try Query.view(common, Query.withJobs("registry.deployments_view", subject: "'deployment/' || v.deployment_id"),
                           orderBy: "last_idx",
                           filters: [("environment", environment), ("status", status)])
        }
    }

    struct Residency: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Where every data set, run, model version and deployment is, and the regimes it carries.")
        @OptionGroup var common: Common
        @Option(help: "Only this kind (dataset, featureset, run, model, deployment).") var kind: String?
        @Option(help: "Only this ref, e.g. model/fraud-detector@7.") var ref: String?

        func run() throws {
            try Query.view(common, "residency.residency_view", orderBy: "kind, ref", filters: [("kind", kind), ("ref", ref)])
        }
    }

    struct GPU: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "gpu", abstract: "GPU use now per node and tenant, or GPU-hours per tenant and run (--hours).")
        @OptionGroup var common: Common
        @Flag(help: "GPU-hours per tenant and per run instead of current use.") var hours = false

        func run() throws {
            if hours {
                try Query.view(common, "gpu.hours_view", orderBy: "1, 2", filters: [])
            } else {
                try Query.view(common, "gpu.usage_view", orderBy: "1, 2", filters: [])
            }
        }
    }

    struct Access: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Current access grants per principal and resource.")
        @OptionGroup var common: Common
        @Option(help: "Only this principal.") var principal: String?

        func run() throws {
            try Query.view(common, "access.grants_view", orderBy: "principal, resource", filters: [("principal", principal)])
        }
    }
}
