import ArgumentParser
import Foundation
import LedgerCore
import LedgerCrypto
import LedgerKafka
import LedgerService

struct Emit: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Sign an MLOps event and send it to Kafka; waits for the broker's acknowledgement.",
        discussion: """
            Builds a CloudEvent, signs it as a DSSE envelope with --key, produces it keyed by its subject and waits
            for the delivery report. Prints the event id (with --json: id, topic, partition, offset). Exits non-zero
            with the broker's error when delivery fails. This is what a CI job calls.

            Example:
              mlledger emit --type mlops.dataset.registered --subject dataset/customer-txns \\
                --source ci://github.com/acme/fraud-model --key ci.key \\
                --data '{"name":"customer-txns","version":"3",...}'
            """)

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var kafka: KafkaOptions

    @Option(name: .long, help: "Event type from the catalog, e.g. mlops.training.requested.")
    var type: String

    @Option(name: .long, help: "The entity the event is about, e.g. run/7f3c or model/fraud-detector.")
    var subject: String

    @Option(name: .long, help: "URI-reference naming the producer, e.g. ci://github.com/acme/fraud-model.")
    var source: String

    @Option(name: .long, help: ArgumentHelp("The event's data: a JSON object, or @FILE to read it from a file.",
                                            valueName: "json|@file"))
    var data: String

    @Option(name: .long, help: ArgumentHelp("The producer's private key (PKCS#8 PEM).", valueName: "file"))
    var key: String

    @Option(name: .long, help: "Event id (default: a new UUIDv7). Unique per source.")
    var id: String?

    @Option(name: .long, help: ArgumentHelp("Event time, RFC 3339 (default: now).", valueName: "time"))
    var time: String?

    @Option(name: .long, help: ArgumentHelp("Location code where the action ran, e.g. azure:uaenorth.", valueName: "code"))
    var region: String?

    @Option(name: .long, help: "The human or workload that caused the action.")
    var actor: String?

    @Option(name: .long, help: "Team or business unit (default: default).")
    var tenant: String?

    @Option(name: .long, help: "Workflow id shared by related events.")
    var correlationID: String?

    @Option(name: .long, help: "Id of the event that caused this one.")
    var causationID: String?

    @Option(name: .long, help: ArgumentHelp("Seconds to wait for the delivery report.", valueName: "seconds"))
    var timeout: Int = 30

    @Flag(help: "Print id, topic, partition and offset as JSON.")
    var json = false

    func validate() throws {
        if let time, EventTime.parse(time) == nil { throw ValidationError("--time must be an RFC 3339 date-time with offset") }
        guard EventCatalog.isCatalogType(type) else {
            throw ValidationError("\(type) is not a catalog event type; known types:\n  "
                + EventCatalog.producerTypes.joined(separator: "\n  "))
        }
        if let prefix = EventCatalog.subjectPrefixes[type], !subject.hasPrefix(prefix) {
            throw ValidationError("the subject of \(type) must start with \(prefix)")
        }
        guard timeout > 0 else { throw ValidationError("--timeout must be positive") }
    }

    func run() throws {
        let signingKey = try KeyFiles.readPrivateKey(at: key)
        let dataObject = try readData()
        var extensions: [(String, String)] = []
        for (name, value) in [("tenant", tenant), ("actor", actor), ("region", region),
                              ("correlationid", correlationID), ("causationid", causationID)] {
            if let value { extensions.append((name, value)) }
        }
        let eventID = id ?? EventIDs.uuidV7()
        let attributes = CloudEvent.make(
            id: eventID, source: source, type: type, subject: subject,
            time: time ?? EventTime.format(micros: LedgerIdentity.nowMicros()), data: dataObject, extensions: extensions)
        let (_, envelope) = EnvelopeSigner(key: signingKey).envelope(for: attributes)
        let topic = kafka.resolvedTopic(connection)
        let producer = try KafkaProducer(bootstrapServers: try kafka.resolvedBrokers(connection))
        defer { producer.close() }
        let headers = [
            KafkaHeader(name: "content-type", value: Array("application/dsse+json".utf8)),
            KafkaHeader(name: "ce_id", value: Array(eventID.utf8)),
            KafkaHeader(name: "ce_type", value: Array(type.utf8)),
            KafkaHeader(name: "ce_source", value: Array(source.utf8)),
            KafkaHeader(name: "ce_specversion", value: Array("1.0".utf8)),
        ]
        let report: KafkaDeliveryReport
        do {
            report = try producer.send(topic: topic, key: Array(subject.utf8), value: envelope, headers: headers,
                                       timeout: .seconds(timeout))
        } catch {
            throw CLIError("delivery failed: \(error)")
        }
        if json {
            Output.json(["id": .string(eventID), "topic": .string(report.topic),
                         "partition": .number(JSONNumber(Int(report.partition))),
                         "offset": .number(JSONNumber(report.offset))])
        } else {
            Output.print(eventID)
        }
    }

    private func readData() throws -> JSONObject {
        var bytes: [UInt8]
        if data.hasPrefix("@") {
            let path = String(data.dropFirst())
            guard let d = FileManager.default.contents(atPath: path) else { throw CLIError("cannot read \(path)") }
            bytes = [UInt8](d)
        } else {
            bytes = Array(data.utf8)
        }
        let value: JSONValue
        do { value = try JSONParser.parse(bytes) } catch { throw CLIError("--data is not valid JSON: \(error)") }
        guard case .object(let o) = value else { throw CLIError("--data must be a JSON object") }
        return o
    }
}
