import Foundation
import ArgumentParser
import LedgerCore

/// How `query` commands print rows.
enum RowFormat: String, ExpressibleByArgument, CaseIterable {
    case table, json, csv
}

/// Rows (JSON objects with the same keys, as PostgreSQL's `json_agg` returns them) as a table, one JSON array, or
/// CSV (RFC 4180). Nested values are written as compact JSON in table and CSV cells.
enum RowOutput {
    static func print(_ rows: [JSONObject], format: RowFormat, emptyColumns: [String] = []) {
        switch format {
        case .json:
            Output.json(.array(rows.map(JSONValue.object)))
        case .csv:
            let columns = rows.first.map { $0.members.map(\.key) } ?? emptyColumns
            Output.print(columns.map(csvField).joined(separator: ","))
            for r in rows { Output.print(columns.map { csvField(cell(r[$0])) }.joined(separator: ",")) }
        case .table:
            guard let first = rows.first else {
                Output.note("(no rows)")
                return
            }
            let columns = first.members.map(\.key)
            Output.table(columns, rows.map { r in columns.map { cell(r[$0]).replacingNewlines() } })
        }
    }

    /// The text of one value in a cell: strings as they are, null as empty, the rest as compact JSON.
    static func cell(_ value: JSONValue?) -> String {
        switch value {
        case nil, .null?: ""
        case .string(let s)?: s
        case .number(let n)?: n.text
        case .bool(let b)?: b ? "true" : "false"
        case let v?: v.jsonString()
        }
    }

    static func csvField(_ s: String) -> String {
        guard s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return s }
        return "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}

private extension String {
    func replacingNewlines() -> String { replacingOccurrences(of: "\n", with: " ") }
}
