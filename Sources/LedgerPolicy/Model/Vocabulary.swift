/// The closed vocabularies the policies speak: wire format §4 (classification, regimes, categories, transfer bases)
/// and the event types the residency policies decide. Loading refuses a policy that names anything else, so a typo
/// in a rule file is an error rather than a rule that can never fire.
public enum PolicyVocabulary {
    /// The event types that place data, compute, a model or a deployment somewhere, and so are decided.
    /// Every other catalog type (completions, failures, validations, promotions, access, erasure) carries no
    /// placement of its own and is not decided: its decision is `allow` with no rule evaluated.
    public static let decidedEventTypes: [String] = [
        "mlops.dataset.registered",
        "mlops.dataset.ingested",
        "mlops.featureset.published",
        "mlops.training.requested",
        "mlops.training.started",
        "mlops.gpu.allocated",
        "mlops.model.registered",
        "mlops.deployment.requested",
    ]

    public static func isDecided(_ type: String) -> Bool { decidedEventTypes.contains(type) }

    /// Wire format §4 `regimes`.
    public static let regimes: [String] = ["ae-pdpl", "ae-health", "ae-cbuae", "ae-difc", "ae-adgm", "eu-gdpr"]

    /// Wire format §4 `classification`, least to most restricted.
    public static let classifications: [String] = ["public", "internal", "confidential", "personal", "sensitive"]

    /// Classifications that make data personal for the location catalog's fail-closed rule.
    public static let personalClassifications: Set<String> = ["personal", "sensitive"]

    /// Wire format §4 special categories of personal data.
    public static let categories: [String] = [
        "health", "biometric", "genetic", "financial", "criminal", "religious", "political", "ethnic", "children",
    ]

    /// Wire format §4 transfer bases.
    public static let transferBases: [String] = [
        "adequacy", "scc", "bcr", "consent", "contract", "ad-hoc-clauses", "code-of-conduct", "certification",
        "public-interest", "legal-claims", "vital-interests", "pdpl-art22-adequacy", "pdpl-art23-contract",
        "pdpl-art23-consent", "cbuae-approval",
    ]

    /// Cloud providers of wire format §6 location codes.
    public static let providers: [String] = ["aws", "azure", "gcp", "oci", "alibaba", "onprem"]

    /// ISO 3166-1 alpha-2 codes, so that `UK` (not a code: the United Kingdom is `GB`) or `EL` (Greece is `GR`)
    /// are caught when the catalog or a set is loaded.
    public static let countryCodes: Set<String> = Set("""
        AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ
        CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO
        FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE
        JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO
        MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW
        PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM
        TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW
        """.split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init))
}
