import ArgumentParser

@main
struct MLLedger: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mlledger",
        abstract: "A signed, verifiable audit ledger for MLOps events.",
        discussion: """
            Producers sign MLOps events (DSSE envelopes over CloudEvents) and send them to Kafka; `mlledger serve`
            verifies them and appends them to an RFC 6962 Merkle log in PostgreSQL; auditors verify the log.
            Start with `mlledger dev --demo` for a private PostgreSQL and an embedded Kafka cluster.
            """,
        version: "0.1.0",
        subcommands: [Dev.self, Serve.self, Emit.self, Keys.self, Audit.self, Query.self, Projections.self, Policy.self,
                      Export.self, Report.self,
                      Quarantine.self, Migrate.self, BenchIngest.self, BenchFill.self, BenchQuery.self, Soak.self]
    )
}
