import ArgumentParser
import Foundation
import LedgerCore
import LedgerService
import LedgerStore

extension Query {
    struct Lineage: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "What an entity came from (--upstream) or what came from it (--downstream).",
            discussion: """
                REF names a node: dataset/customer-txns@3, featureset/txn-velocity@12, run/<run id>,
                model/fraud-detector@7, deployment/fraud-prod. Each edge carries the log index of the entry that
                recorded it, so every step can be proven with `mlledger audit prove --idx`. --format table prints
                a tree, json {"nodes": [...], "edges": [...]}, dot a Graphviz digraph, csv the edges.
                """)

        enum Format: String, ExpressibleByArgument, CaseIterable { case table, json, csv, dot }

        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "The node to start from, e.g. model/fraud-detector@7.") var ref: String
        @Flag(help: "Follow edges towards sources (default).") var upstream = false
        @Flag(help: "Follow edges towards consumers.") var downstream = false
        @Option(help: "At most this many steps.") var depth: Int = 32
        @Option(help: "table, json, csv or dot.") var format: Format = .table

        func validate() throws {
            guard !(upstream && downstream) else { throw ValidationError("choose one of --upstream and --downstream") }
            guard depth > 0 else { throw ValidationError("--depth must be positive") }
            guard ref.contains("/") else {
                throw ValidationError("REF is kind/name, e.g. model/fraud-detector@7 or deployment/fraud-prod")
            }
        }

        struct Edge {
            var from: String, to: String, relation: String, idx: Int64, depth: Int64
        }

        /// The edges reachable from `ref`, each with the log index that recorded it.
        static func edges(_ db: LedgerDatabase, from ref: String, downstream: Bool, depth: Int) throws -> [Edge] {
            let function = downstream ? "lineage.downstream" : "lineage.upstream"
            return try Query.rows(db, "SELECT from_id, to_id, relation, idx, depth FROM \(function)($1, $2)",
                                  [.text(ref), .int32(Int32(depth))]).map { r in
                Edge(from: r["from_id"]?.stringValue ?? "", to: r["to_id"]?.stringValue ?? "",
                     relation: r["relation"]?.stringValue ?? "", idx: r["idx"]?.numberValue?.int64Value ?? -1,
                     depth: r["depth"]?.numberValue?.int64Value ?? 0)
            }
        }

        func run() throws {
            let db = try connection.openDatabase()
            let edges = try Self.edges(db, from: ref, downstream: downstream, depth: depth)
            if edges.isEmpty, try !Self.nodeExists(db, ref) {
                throw CLIError("no node \(ref) in the lineage projection")
            }
            var nodes = [ref]
            for e in edges { for n in [e.from, e.to] where !nodes.contains(n) { nodes.append(n) } }
            switch format {
            case .json:
                Output.json(.object([
                    "nodes": .array(nodes.map { .object(["id": .string($0), "kind": .string(Self.kind($0))]) }),
                    "edges": .array(edges.map {
                        .object(["from": .string($0.from), "to": .string($0.to), "relation": .string($0.relation),
                                 "idx": .number(JSONNumber($0.idx))])
                    }),
                ]))
            case .csv:
                RowOutput.print(edges.map { ["from": .string($0.from), "to": .string($0.to), "relation": .string($0.relation),
                                             "idx": .number(JSONNumber($0.idx))] },
                                format: .csv, emptyColumns: ["from", "to", "relation", "idx"])
            case .dot:
                Output.print(Self.dot(nodes: nodes, edges: edges))
            case .table:
                for line in Self.tree(root: ref, edges: edges, upstream: !downstream) { Output.print(line) }
            }
        }

        static func kind(_ id: String) -> String { String(id.prefix { $0 != "/" }) }

        static func nodeExists(_ db: LedgerDatabase, _ ref: String) throws -> Bool {
            try Query.rows(db, "SELECT 1 AS found FROM lineage.nodes_view WHERE id = $1", [.text(ref)]).count > 0
        }

        /// The reachable graph as an indented tree from `root`; a node met again is printed once more, marked, and
        /// not expanded again.
        static func tree(root: String, edges: [Edge], upstream: Bool) -> [String] {
            var children: [String: [Edge]] = [:]
            for e in edges { children[upstream ? e.to : e.from, default: []].append(e) }
            var lines = [root]
            var expanded: Set<String> = [root]
            func walk(_ node: String, _ prefix: String) {
                let next = (children[node] ?? []).sorted { ($0.idx, $0.from, $0.to) < ($1.idx, $1.from, $1.to) }
                for (i, e) in next.enumerated() {
                    let last = i == next.count - 1
                    let other = upstream ? e.from : e.to
                    let seen = expanded.contains(other)
                    lines.append("\(prefix)\(last ? "└─" : "├─") \(e.relation) \(other)  [idx \(e.idx)]\(seen ? " (see above)" : "")")
                    if !seen {
                        expanded.insert(other)
                        walk(other, prefix + (last ? "   " : "│  "))
                    }
                }
            }
            walk(root, "")
            return lines
        }

        static func dot(nodes: [String], edges: [Edge]) -> String {
            func quote(_ s: String) -> String {
                "\"" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
            }
            var out = ["digraph lineage {", "  rankdir=LR;", "  node [shape=box, fontname=\"Helvetica\"];"]
            for n in nodes { out.append("  \(quote(n)) [label=\(quote(n))];") }
            for e in edges { out.append("  \(quote(e.from)) -> \(quote(e.to)) [label=\(quote("\(e.relation) #\(e.idx)"))];") }
            out.append("}")
            return out.joined(separator: "\n")
        }
    }

    struct Events: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Events from the log, each with its log index, filtered by type, subject and time.",
            discussion: "The event is the signed CloudEvent as the producer sent it (decoded from the envelope).")

        @OptionGroup var common: Common
        @Option(help: ArgumentHelp("Only types matching this glob, e.g. 'mlops.deployment.*'.", valueName: "glob"))
        var type: String?
        @Option(help: "Only this subject, e.g. deployment/fraud-prod.") var subject: String?
        @Option(help: ArgumentHelp("Only events whose time is at or after this (RFC 3339).", valueName: "time"))
        var since: String?
        @Option(help: ArgumentHelp("Only events whose time is before this (RFC 3339).", valueName: "time"))
        var until: String?
        @Option(help: "At most this many events (the first ones in log order).") var limit: Int = 1000

        func validate() throws {
            for (name, value) in [("--since", since), ("--until", until)] {
                if let value, EventTime.parse(value) == nil { throw ValidationError("\(name) must be an RFC 3339 date-time") }
            }
            guard limit > 0 else { throw ValidationError("--limit must be positive") }
        }

        func run() throws {
            let db = try common.connection.openDatabase()
            let micros = { (s: String?) in s.flatMap(EventTime.parse).map { PostgresValue.timestamp(Date(timeIntervalSince1970: Double($0) / 1e6)) } ?? .null }
            let rows = try db.connection.query("""
                SELECT idx, envelope FROM ledger.entries
                WHERE ($1::text IS NULL OR type LIKE $1 ESCAPE '\\')
                  AND ($2::text IS NULL OR subject = $2)
                  AND ($3::timestamptz IS NULL OR event_time >= $3)
                  AND ($4::timestamptz IS NULL OR event_time < $4)
                ORDER BY idx LIMIT $5
                """, [type.map { .text(Self.likePattern($0)) } ?? .null, subject.map(PostgresValue.text) ?? .null,
                      micros(since), micros(until), .int64(Int64(limit))])
            var events: [(idx: Int64, event: JSONObject)] = []
            for r in rows {
                let idx = r.int64(0) ?? -1
                guard let env = try? DSSEEnvelope.parse(r.bytes(1) ?? []),
                      case .object(let event)? = try? JSONParser.parse(env.payload) else {
                    throw CLIError("entry \(idx) does not decode: run `mlledger audit verify`")
                }
                events.append((idx, event))
            }
            let decisions = try Self.decisions(about: events, db)
            let out: [JSONObject] = events.map { idx, event in
                let d = decisions[idx]
                if common.format == .json {
                    return ["idx": .number(JSONNumber(idx)), "event": .object(event), "decision": d.map(JSONValue.object) ?? .null]
                }
                let rules = d?["rules"]?.arrayValue?.compactMap(\.stringValue).joined(separator: " ") ?? ""
                return ["idx": .number(JSONNumber(idx)), "time": event["time"] ?? .null, "type": event["type"] ?? .null,
                        "subject": event["subject"] ?? .null, "source": event["source"] ?? .null, "id": event["id"] ?? .null,
                        "decision": d?["effect"] ?? .null, "rules": .string(rules)]
            }
            RowOutput.print(out, format: common.format,
                            emptyColumns: ["idx", "time", "type", "subject", "source", "id", "decision", "rules"])
        }

        /// The policy decision about each event that has one (`{effect, rules, violation, decision_idx}`), found
        /// among the decision entries of the same subjects appended after the events.
        static func decisions(about events: [(idx: Int64, event: JSONObject)], _ db: LedgerDatabase) throws
            -> [Int64: JSONObject]
        {
            let subjects = Set(events.compactMap { $0.event["subject"]?.stringValue })
            guard let first = events.first?.idx, !subjects.isEmpty else { return [:] }
            let wanted = Set(events.map(\.idx))
            var out: [Int64: JSONObject] = [:]
            for r in try db.connection.query("""
                SELECT idx, envelope FROM ledger.entries
                WHERE type = $1 AND subject = ANY($2::text[]) AND idx > $3 ORDER BY idx
                """, [.text(EvidenceBundle.policyDecisionType), .textArray(Array(subjects)), .int64(first)]) {
                guard let env = try? DSSEEnvelope.parse(r.bytes(1) ?? []), let event = try? CloudEvent.parse(env.payload),
                      let target = EvidenceBundle.decidedIndex(event), wanted.contains(Int64(target))
                else { continue }
                out[Int64(target)] = [
                    "effect": event.data["effect"] ?? .null, "violation": event.data["violation"] ?? .null,
                    "rules": .array((event.data["rules"]?.arrayValue ?? []).compactMap { $0["id"] }),
                    "decision_idx": .number(JSONNumber(r.int64(0) ?? -1)),
                ]
            }
            return out
        }

        /// A glob (`*`, `?`) as a LIKE pattern with `\` as the escape character.
        static func likePattern(_ glob: String) -> String {
            var out = ""
            for c in glob {
                switch c {
                case "*": out += "%"
                case "?": out += "_"
                case "%", "_", "\\": out += "\\" + String(c)
                default: out.append(c)
                }
            }
            return out
        }
    }
}
