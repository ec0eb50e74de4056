import LedgerCore

/// The residency report: what a data protection officer hands to a regulator as the record of transfers to third
/// countries (GDPR Art. 30(1)(e)) or the transfer register of the UAE PDPL (Arts. 22-23).
///
/// Three sections, all drawn from the signed log and its projections as of one log size:
/// - assets: every data set, feature set, run, model version and deployment the residency projection knows, with
///   its locations, classification, regimes and special categories, inherited ones with the lineage that explains
///   them;
/// - transfers: every decided placement that moves regulated data across a border, with the basis and evidence the
///   event declared and the decision recorded for it;
/// - findings: every rule that flagged or denied a placement.
///
/// Every transfer and finding names the log index of the event and of its `ledger.policy.decision` entry, so a row
/// can be proven with `mlledger audit prove --idx`.
public struct ResidencyReport: Sendable, Equatable {
    /// When the report was generated, RFC 3339 UTC.
    public var generatedAt: String
    public var log: LogState
    /// The regime the report is restricted to (`--regime`); nil for all.
    public var regime: String?
    /// The policy revisions of the decisions read, in log order of first use.
    public var policyRevisions: [String]
    public var assets: [Asset]
    public var transfers: [Transfer]
    public var findings: [Finding]

    /// The section of the report a single table holds (CSV is one table).
    public enum Section: String, Sendable, CaseIterable {
        case assets, transfers, findings
    }

    /// The log the report was read from: its origin (genesis entry) and its size and root when read.
    public struct LogState: Sendable, Equatable {
        public var origin: String?
        public var size: UInt64
        /// The RFC 6962 root, lowercase hex.
        public var root: String
    }

    /// A location code with what the location catalog says of it.
    public struct Place: Sendable, Equatable {
        public var code: String
        /// ISO 3166-1 alpha-2; nil when the code is not in the catalog.
        public var country: String?
        /// `DIFC`, `ADGM`…, for a location inside a zone with its own law.
        public var zone: String?
    }

    /// A regime or category reached through lineage: from which origin, along which path of ids.
    public struct Inheritance: Sendable, Equatable {
        public var origin: String
        /// From the asset to the origin, both ends included.
        public var path: [String]
        public var regimes: [String]
        public var categories: [String]
        public var location: String?
    }

    /// One entity of the residency projection.
    public struct Asset: Sendable, Equatable {
        /// `dataset/<name>@<v>`, `featureset/<name>@<v>`, `run/<id>`, `model/<name>@<v>` or `deployment/<id>`.
        public var id: String
        public var kind: String
        /// The latest declared location.
        public var location: Place?
        /// Every location ever declared.
        public var locations: [Place]
        public var classification: String?
        /// Own and inherited.
        public var regimes: [String]
        public var ownRegimes: [String]
        /// Own and inherited.
        public var categories: [String]
        public var inherited: [Inheritance]
        /// Inputs named in lineage but never registered: their regimes are unknown.
        public var unregisteredOrigins: [String]
        /// The first entry that declared the asset, and the last that changed what the report shows of it.
        public var knownIdx: UInt64
        public var lastIdx: UInt64
    }

    /// The `data.transfer` members a decided event declared; nil members were absent.
    public struct TransferGround: Sendable, Equatable {
        public var basis: String?
        public var evidence: String?
        public var tia: String?
        public var consent: String?
        public var approval: String?
        public var exception: String?

        public static let none = TransferGround()
    }

    /// Regulated data moved across a border by a decided placement.
    public struct Transfer: Sendable, Equatable {
        /// The event's time, RFC 3339 UTC.
        public var time: String
        public var eventIdx: UInt64
        public var decisionIdx: UInt64
        public var eventID: String
        public var eventType: String
        public var subject: String
        /// The regulated data moved (the origin of its regimes), e.g. `dataset/customer-txns@3`.
        public var data: String
        /// How the event reaches that data (empty when the event names it).
        public var lineage: [String]
        /// Where the data is; nil when the ledger records no other place for it (it is declared at the
        /// destination, or its location is unknown).
        public var from: Place?
        public var to: Place
        /// The regimes governing the data.
        public var regimes: [String]
        /// The regimes whose territory the destination is outside of (`RegimeTerritory`).
        public var leaves: [String]
        public var ground: TransferGround
        /// The effect recorded by the decision: allow, flag or deny.
        public var effect: String
        /// The rules that fired for the decision.
        public var rules: [String]
        public var policyRevision: String
    }

    /// What a flag or denial means for the event it decided.
    public enum Disposition: String, Sendable {
        /// A denied fact: the placement happened against the rule.
        case violation
        /// A denied request: nothing executed it.
        case refused
        /// A flag: the placement proceeded and is recorded for review.
        case flagged
    }

    /// A rule that flagged or denied a decided placement.
    public struct Finding: Sendable, Equatable {
        public var time: String
        public var eventIdx: UInt64
        public var decisionIdx: UInt64
        public var eventID: String
        public var eventType: String
        public var subject: String
        public var rule: String
        /// The rule's regime (`any` for the baseline rules).
        public var regime: String
        /// The regimes the finding concerns: the rule's own, or for a baseline rule those of the data it fired for.
        public var regimes: [String]
        public var law: String
        public var article: String
        /// The effect applied: deny, or flag (a flag, or a denial in audit mode).
        public var effect: String
        /// The rule's declared effect and mode (`deny` in `audit` mode is applied as a flag).
        public var declaredEffect: String
        public var mode: String
        public var disposition: Disposition
        public var message: String
        /// The data the rule fired for, and how the event reaches it.
        public var data: String?
        public var lineage: [String]
        public var target: String?
        public var policyRevision: String
    }

    /// The report restricted to what concerns one regime.
    public func restricted(to regime: String) -> ResidencyReport {
        var r = self
        r.regime = regime
        r.assets = assets.filter { $0.regimes.contains(regime) }
        r.transfers = transfers.filter { $0.regimes.contains(regime) }
        r.findings = findings.filter { $0.regimes.contains(regime) }
        return r
    }
}

extension ResidencyReport.Place {
    /// `aws:me-central-1 (AE)`, `onprem:difc-dc1 (AE, DIFC)`, `x:y (not in the catalog)`.
    public var display: String {
        guard let country else { return "\(code) (not in the catalog)" }
        return zone.map { "\(code) (\(country), \($0))" } ?? "\(code) (\(country))"
    }
}

extension ResidencyReport.Inheritance {
    /// `ae-health, health from dataset/patient-visits@4 via deployment/d → model/m@1 → run/r → dataset/patient-visits@4`.
    public var display: String {
        "\((regimes + categories).joined(separator: ", ")) from \(origin) via \(path.joined(separator: " → "))"
    }
}

extension ResidencyReport.TransferGround {
    /// The members present, as `tia: TIA-7; exception: telemedicine`, without basis and evidence.
    public var details: String {
        [("tia", tia), ("consent", consent), ("approval", approval), ("exception", exception)]
            .compactMap { name, value in value.map { "\(name): \($0)" } }.joined(separator: "; ")
    }
}
