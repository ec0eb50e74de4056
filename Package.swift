// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "mlledger",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "mlledger", targets: ["mlledger"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
    ],
    targets: [
        // System libraries: Debian's libpq-dev, librdkafka-dev and libsodium-dev.
        .systemLibrary(name: "CLibPQ", pkgConfig: "libpq", providers: [.apt(["libpq-dev"])]),
        .systemLibrary(name: "CRdKafka", pkgConfig: "rdkafka", providers: [.apt(["librdkafka-dev"])]),
        .systemLibrary(name: "CSodium", pkgConfig: "libsodium", providers: [.apt(["libsodium-dev"])]),

        .target(name: "LedgerCore"),
        .target(
            name: "LedgerCrypto",
            dependencies: ["CSodium", "LedgerCore", .product(name: "Crypto", package: "swift-crypto")]
        ),
        .target(name: "LedgerStore", dependencies: ["CLibPQ", "LedgerCore"]),
        .target(name: "LedgerKafka", dependencies: ["CRdKafka"]),
        .target(name: "LedgerProjections", dependencies: ["LedgerCore", "LedgerStore"]),
        .target(name: "LedgerPolicy", dependencies: ["LedgerCore", .product(name: "Yams", package: "Yams")]),
        .target(
            name: "LedgerWorkers",
            dependencies: ["LedgerCore", "LedgerStore", .product(name: "Yams", package: "Yams")]),
        .target(
            name: "LedgerService",
            dependencies: [
                "LedgerCore", "LedgerCrypto", "LedgerStore", "LedgerKafka", "LedgerProjections", "LedgerPolicy",
                "LedgerWorkers",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ]
        ),
        .executableTarget(
            name: "mlledger",
            dependencies: [
                "LedgerService", "LedgerProjections", "LedgerPolicy",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Hummingbird", package: "hummingbird"),
            ]
        ),

        // Helpers shared by the tests: a fresh database per test, a seeded random generator, the known-answer files.
        .target(name: "LedgerTestSupport", dependencies: ["LedgerStore"], path: "Tests/LedgerTestSupport"),

        .testTarget(name: "LedgerCoreTests", dependencies: ["LedgerCore", "LedgerTestSupport"]),
        .testTarget(name: "LedgerCryptoTests", dependencies: ["LedgerCrypto", "LedgerCore", "LedgerTestSupport"]),
        .testTarget(name: "LedgerStoreTests", dependencies: ["LedgerStore", "LedgerCore", "LedgerTestSupport"]),
        .testTarget(name: "LedgerKafkaTests", dependencies: ["LedgerKafka"]),
        .testTarget(name: "LedgerPolicyTests", dependencies: ["LedgerPolicy", "LedgerCore"]),
        .testTarget(
            name: "LedgerWorkersTests",
            dependencies: ["LedgerWorkers", "LedgerCore", "LedgerTestSupport", .product(name: "Yams", package: "Yams")]
        ),
        .testTarget(
            name: "LedgerProjectionsTests",
            dependencies: ["LedgerProjections", "LedgerStore", "LedgerCore", "LedgerCrypto", "LedgerTestSupport"]
        ),
        .testTarget(
            name: "LedgerServiceTests",
            dependencies: [
                "LedgerService", "LedgerKafka", "LedgerStore", "LedgerCrypto", "LedgerCore", "LedgerTestSupport",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
