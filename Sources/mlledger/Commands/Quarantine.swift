import ArgumentParser
import Foundation
import LedgerCore
import LedgerService
import LedgerStore

struct Quarantine: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Inspect records that were not appended, with their reason codes.",
        discussion: "Every quarantined record is also produced to the dead-letter topic (<topic>.dlq) with its reason in the mlledger-reason header.",
        subcommands: [List.self, Show.self]
    )

    static func row(_ r: PostgresRow, withRaw: Bool) -> JSONValue {
        var o: JSONObject = [
            "id": .number(JSONNumber(r.int64("id") ?? 0)),
            "reason": .string(r.string("reason") ?? ""),
            "detail": r.string("detail").map(JSONValue.string) ?? .null,
            "received_at": .string(r.date("received_at").map { EventTime.format(micros: Int64($0.timeIntervalSince1970 * 1_000_000)) } ?? ""),
            "event_id": r.string("event_id").map(JSONValue.string) ?? .null,
            "source": r.string("source").map(JSONValue.string) ?? .null,
            "type": r.string("type").map(JSONValue.string) ?? .null,
            "kafka_topic": r.string("kafka_topic").map(JSONValue.string) ?? .null,
            "kafka_partition": r.int64("kafka_partition").map { .number(JSONNumber($0)) } ?? .null,
            "kafka_offset": r.int64("kafka_offset").map { .number(JSONNumber($0)) } ?? .null,
            "size": .number(JSONNumber(r.int64("size") ?? 0)),
        ]
        if withRaw {
            let raw = r.bytes("raw") ?? []
            o["raw_base64"] = .string(Base64.encode(raw))
            if let text = String(validating: raw, as: UTF8.self) { o["raw_text"] = .string(text) }
            o["kafka_headers"] = r.string("kafka_headers").flatMap { try? JSONParser.parse($0) } ?? .null
        }
        return .object(o)
    }

    static let columns = """
        id, reason, detail, received_at, event_id, source, type, kafka_topic, kafka_partition, kafka_offset,
        length(raw)::bigint AS size
        """

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List quarantined records, newest first.")

        @OptionGroup var connection: ConnectionOptions

        @Option(name: .long, help: ArgumentHelp("Only this reason: a code (signature_invalid) or a family (schema_violation).",
                                                valueName: "code"))
        var reason: String?

        @Option(name: .long, help: ArgumentHelp("Only records received at or after this time (RFC 3339).", valueName: "time"))
        var since: String?

        @Option(name: .long, help: "At most this many records.")
        var limit: Int = 100

        @Flag(help: "Print a JSON array.")
        var json = false

        func validate() throws {
            if let since, EventTime.parse(since) == nil { throw ValidationError("--since must be an RFC 3339 date-time") }
            guard limit > 0 else { throw ValidationError("--limit must be positive") }
        }

        func run() throws {
            let db = try connection.openMigratedDatabase()
            let sinceDate = since.flatMap(EventTime.parse).map { Date(timeIntervalSince1970: Double($0) / 1_000_000) }
            let rows = try db.connection.query("""
                SELECT \(Quarantine.columns) FROM ledger.quarantine
                WHERE ($1::text IS NULL OR reason = $1 OR split_part(reason, ':', 1) = $1)
                  AND ($2::timestamptz IS NULL OR received_at >= $2)
                ORDER BY id DESC LIMIT $3
                """, [.text(reason), .timestamp(sinceDate), .int64(Int64(limit))])
            if json {
                Output.json(.array(rows.map { Quarantine.row($0, withRaw: false) }))
                return
            }
            guard !rows.isEmpty else {
                Output.note("nothing quarantined\(reason.map { " with reason \($0)" } ?? "")")
                return
            }
            Output.table(["ID", "RECEIVED", "REASON", "SOURCE", "KAFKA", "DETAIL"], rows.map { r in
                [String(r.int64("id") ?? 0),
                 r.date("received_at").map { String(EventTime.format(micros: Int64($0.timeIntervalSince1970 * 1_000_000)).prefix(19)) } ?? "",
                 r.string("reason") ?? "", r.string("source") ?? "-",
                 r.string("kafka_topic").map { "\($0)[\(r.int64("kafka_partition") ?? 0)]@\(r.int64("kafka_offset") ?? 0)" } ?? "-",
                 String((r.string("detail") ?? "").prefix(60))]
            })
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one quarantined record, with its raw bytes.")

        @OptionGroup var connection: ConnectionOptions

        @Argument(help: "The record's id (from `quarantine list`).")
        var id: Int64

        @Flag(help: "Print JSON.")
        var json = false

        func run() throws {
            let db = try connection.openMigratedDatabase()
            let rows = try db.connection.query(
                "SELECT \(Quarantine.columns), raw, kafka_headers::text AS kafka_headers FROM ledger.quarantine WHERE id = $1",
                [.int64(id)])
            guard let r = rows.first else { throw CLIError("no quarantined record with id \(id)") }
            let value = Quarantine.row(r, withRaw: true)
            if json {
                Output.json(value)
                return
            }
            for m in value.objectValue!.members where m.key != "raw_base64" {
                let text: String
                switch m.value {
                case .string(let s): text = s
                case .null: text = "-"
                default: text = m.value.jsonString()
                }
                Output.print("\(m.key.padding(toLength: 16, withPad: " ", startingAt: 0)) \(text)")
            }
            if value["raw_text"] == nil { Output.print("raw_base64       \(value["raw_base64"]?.stringValue ?? "")") }
        }
    }
}
